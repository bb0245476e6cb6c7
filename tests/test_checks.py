"""The argument checks: one spelling for "an int >= n" and for "one of these"."""

import numpy as np
import pytest

from minigrad.checks import check_choice, check_int
from minigrad.data import DataLoader


def test_check_int_returns_a_python_int_for_any_integer():
    assert check_int(3, "epochs", minimum=1) == 3
    value = check_int(np.int64(4), "batch_size", minimum=1)
    assert value == 4 and type(value) is int
    assert check_int(-7, "offset") == -7  # no bound


@pytest.mark.parametrize("value", [0, -1, 2.0, 1.5, "3", True, None])
def test_check_int_names_the_argument_the_bound_and_the_value(value):
    with pytest.raises(ValueError, match=rf"^epochs must be an int >= 1, got {value!r}$"):
        check_int(value, "epochs", minimum=1)


def test_check_choice_lists_the_choices():
    assert check_choice("max", "mode", ("min", "max")) == "max"
    with pytest.raises(ValueError, match=r"^mode must be 'min' or 'max', got 'up'$"):
        check_choice("up", "mode", ("min", "max"))
    with pytest.raises(ValueError, match=r"^device must be 'auto', 'cpu' or 'cuda', got 'tpu'$"):
        check_choice("tpu", "device", ("auto", "cpu", "cuda"))


def test_the_data_loader_checks_its_batch_size_with_them():
    x, y = np.zeros((4, 1, 2, 2), np.float32), np.zeros(4, np.int64)
    assert DataLoader(x, y, np.int64(2)).batch_size == 2
    for bad in (0, True, 2.5):
        with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
            DataLoader(x, y, bad)
