"""The argument checks: one module, one exception rule, one spelling for every owner."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from minigrad.checks import check_bool, check_choice, check_int, check_number
from minigrad.data import DataLoader


def test_check_int_returns_a_python_int_for_any_integer():
    assert check_int(3, "Trainer: epochs", minimum=1) == 3
    value = check_int(np.int64(4), "DataLoader: batch_size", minimum=1)
    assert value == 4 and type(value) is int
    assert check_int(-7, "Flatten: start_dim") == -7  # no bound
    assert check_int(np.uint8(5), "n", 0, 5) == 5  # both bounds are inclusive


@pytest.mark.parametrize("value, shown", [(2.0, "2.0"), (1.5, "1.5"), ("3", "'3'"),
                                          (True, "True"), (np.bool_(True), "True"),
                                          (None, "None"), (np.float32(2), "2.0")])
def test_check_int_refuses_a_non_integer_with_a_type_error(value, shown):
    with pytest.raises(TypeError, match=rf"^Linear: in_features must be an int >= 1, got {shown}$"):
        check_int(value, "Linear: in_features", minimum=1)


@pytest.mark.parametrize("value, shown", [(0, "0"), (-1, "-1"), (np.int64(-3), "-3")])
def test_check_int_refuses_an_integer_below_its_minimum_with_a_value_error(value, shown):
    with pytest.raises(ValueError, match=rf"^Linear: in_features must be an int >= 1, "
                                         rf"got {shown}$"):
        check_int(value, "Linear: in_features", minimum=1)


def test_check_int_names_both_bounds():
    with pytest.raises(ValueError, match=r"^Embedding: padding_idx must be an int >= -4 and "
                                         r"<= 3, got 4$"):
        check_int(4, "Embedding: padding_idx", minimum=-4, maximum=3)
    with pytest.raises(ValueError, match=r"^k must be an int <= 3, got 9$"):
        check_int(9, "k", maximum=3)


def test_check_number_returns_a_python_float_for_any_real_number():
    for value in (1, 0.5, np.float32(0.25), np.int64(2), np.float64(-3.0)):
        number = check_number(value, "SGD: lr")
        assert number == float(value) and type(number) is float
    assert check_number(math.inf, "SGD: lr", minimum=0) == math.inf  # inf passes by default


@pytest.mark.parametrize("value, shown", [("0.1", "'0.1'"), (True, "True"), (None, "None"),
                                          (1j, "1j"), ([0.1], r"\[0.1\]")])
def test_check_number_refuses_a_non_number_with_a_type_error(value, shown):
    with pytest.raises(TypeError, match=rf"^SGD: lr must be a number >= 0, got {shown}$"):
        check_number(value, "SGD: lr", minimum=0)


def test_check_number_refuses_nan_even_without_bounds():
    for value in (math.nan, np.float32("nan")):
        with pytest.raises(ValueError, match=r"^LeakyReLU: negative_slope must be a number, "
                                             r"got nan$"):
            check_number(value, "LeakyReLU: negative_slope")


def test_check_number_refuses_infinity_only_when_asked_to():
    with pytest.raises(ValueError, match=r"^Monitor: min_delta must be a finite number >= 0, "
                                         r"got inf$"):
        check_number(math.inf, "Monitor: min_delta", minimum=0, finite=True)
    with pytest.raises(ValueError, match=r"must be a finite number, got -inf$"):
        check_number(-math.inf, "x", finite=True)


def test_check_number_bounds_are_inclusive_unless_given_as_above_or_below():
    assert check_number(0, "Dropout: p", minimum=0, maximum=1) == 0.0
    assert check_number(1, "Dropout: p", minimum=0, maximum=1) == 1.0
    assert check_number(0.999, "Adam: betas[0]", minimum=0, below=1) == 0.999
    with pytest.raises(ValueError, match=r"^Adam: betas\[0\] must be a number >= 0 and < 1, "
                                         r"got 1.0$"):
        check_number(1.0, "Adam: betas[0]", minimum=0, below=1)
    with pytest.raises(ValueError, match=r"^ReduceLROnPlateau: factor must be a number > 0 and "
                                         r"< 1, got 0$"):
        check_number(0, "ReduceLROnPlateau: factor", above=0, below=1)
    with pytest.raises(ValueError, match=r"^Dropout: p must be a number >= 0 and <= 1, "
                                         r"got 1.5$"):
        check_number(np.float64(1.5), "Dropout: p", minimum=0, maximum=1)


def test_check_bool_takes_python_and_numpy_bools_only():
    assert check_bool(True, "Linear: bias") is True
    assert check_bool(np.bool_(False), "Linear: bias") is False
    for value, shown in (("False", "'False'"), (0, "0"), (1, "1"), (None, "None")):
        with pytest.raises(TypeError, match=rf"^Linear: bias must be True or False, got {shown}$"):
            check_bool(value, "Linear: bias")


def test_check_choice_returns_the_choice_and_lists_them_all():
    assert check_choice("max", "EarlyStopping: mode", ("min", "max")) == "max"
    chosen = check_choice(np.str_("cpu"), "device", ("auto", "cpu", "cuda"))
    assert chosen == "cpu" and type(chosen) is str
    assert check_choice("sum", "reduction", iter(["mean", "sum"])) == "sum"  # any iterable
    with pytest.raises(ValueError, match=r"^EarlyStopping: mode must be 'min' or 'max', "
                                         r"got 'up'$"):
        check_choice("up", "EarlyStopping: mode", ("min", "max"))
    with pytest.raises(ValueError, match=r"^device must be 'auto', 'cpu' or 'cuda', got 'tpu'$"):
        check_choice("tpu", "device", ("auto", "cpu", "cuda"))
    with pytest.raises(ValueError, match=r"^profile must be 'smoke', got 'full'$"):
        check_choice("full", "profile", ("smoke",))


def test_check_choice_refuses_a_value_of_another_type_with_a_type_error():
    for value, shown in ((3, "3"), (None, "None"), (("min",), r"\('min',\)")):
        with pytest.raises(TypeError, match=rf"^EarlyStopping: mode must be 'min' or 'max', "
                                            rf"got {shown}$"):
            check_choice(value, "EarlyStopping: mode", ("min", "max"))


def test_a_long_value_is_cut_in_the_message():
    with pytest.raises(TypeError) as caught:
        check_number(np.arange(1000.0), "SGD: lr")
    message = str(caught.value)
    assert message.startswith("SGD: lr must be a number, got array([") and message.endswith("...")
    assert len(message) < 120


def test_the_data_loader_checks_its_batch_size_with_them():
    x, y = np.zeros((4, 1, 2, 2), np.float32), np.zeros(4, np.int64)
    assert DataLoader(x, y, np.int64(2)).batch_size == 2
    with pytest.raises(ValueError, match="^DataLoader: batch_size must be an int >= 1, got 0$"):
        DataLoader(x, y, 0)
    for bad in (True, 2.5):
        with pytest.raises(TypeError, match="^DataLoader: batch_size must be an int >= 1"):
            DataLoader(x, y, bad)



def _refusals():
    """One bad argument per package: every refusal reads "<owner>: <name> must be ..."."""
    from minigrad import nn, optim, threads
    from minigrad.data import transforms
    from minigrad.optim import lr_scheduler
    from minigrad.train import EarlyStopping

    def sgd(**settings):
        return optim.SGD([nn.Parameter(np.zeros(2))], **settings)

    return [
        (lambda: nn.Linear(0, 2), "Linear: in_features must be an int >= 1, got 0"),
        (lambda: nn.Dropout(1.5), "Dropout: p must be a number >= 0 and <= 1, got 1.5"),
        (lambda: sgd(lr=-0.1), r"SGD \(group 0\): lr must be a number >= 0, got -0.1"),
        (lambda: lr_scheduler.StepLR(sgd(lr=0.1), 0), "StepLR: step_size must be an int >= 1"),
        (lambda: EarlyStopping(patience=-1), "EarlyStopping: patience must be an int >= 0"),
        (lambda: transforms.Cutout(n_holes=-1, length=2), "Cutout: n_holes must be an int >= 0"),
        (lambda: threads.set_num_threads(0), "set_num_threads: n must be an int >= 1, got 0"),
    ]


@pytest.mark.parametrize("make, message", _refusals())
def test_every_package_refuses_with_the_one_spelling(make, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        make()


def test_no_other_module_defines_its_own_argument_checks():
    src = Path(__file__).parents[1] / "src"  # minigrad and minigrad_bench
    defines = re.compile(r"^\s*def (check_int|check_number|check_bool|check_choice)\b", re.M)
    found = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.py")
                   if defines.search(p.read_text(encoding="utf-8")))
    assert found == ["minigrad/checks.py"]
