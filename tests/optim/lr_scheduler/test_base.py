"""What every scheduler shares: initial_lr, the call-order warning, state dict checks."""

import copy
import inspect
import warnings

import numpy as np
import pytest

from minigrad.optim import lr_scheduler
from tests.optim.lr_scheduler.harness import (
    GROUP_LRS,
    group_lrs,
    minigrad_optimizer,
    torch_optimizer,
)

# Every scheduler whose step() torch checks against the optimizer's (all but these two).
WARNING_CASES = {
    "StepLR": lambda S, o: S.StepLR(o, 2),
    "LambdaLR": lambda S, o: S.LambdaLR(o, lambda e: 1.0),
    "OneCycleLR": lambda S, o: S.OneCycleLR(o, 0.1, total_steps=10),
    "SequentialLR": lambda S, o: S.SequentialLR(o, [S.ConstantLR(o), S.StepLR(o, 2)], [2]),
    "ChainedScheduler": lambda S, o: S.ChainedScheduler([S.ConstantLR(o), S.StepLR(o, 2)]),
    "CosineAnnealingWarmRestarts": lambda S, o: S.CosineAnnealingWarmRestarts(o, 2),
    "ReduceLROnPlateau": lambda S, o: S.ReduceLROnPlateau(o),
}


def warnings_of(module, optimizer, make, calls):
    """The warning texts while calling "o" (optimizer.step) and "s" (scheduler.step)."""
    scheduler = make(module, optimizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for call in calls:
            if call == "o":
                optimizer.step()
            elif "Plateau" in type(scheduler).__name__:
                scheduler.step(1.0)
            else:
                scheduler.step()
    return [str(w.message) for w in caught if w.category is UserWarning]


@pytest.mark.parametrize("calls", ["so", "sso", "os", "oss"])
@pytest.mark.parametrize("make", WARNING_CASES.values(), ids=WARNING_CASES.keys())
def test_scheduler_warns_about_the_call_order_exactly_when_torch_does(make, calls):
    torch = pytest.importorskip("torch")
    ours = warnings_of(lr_scheduler, minigrad_optimizer(), make, calls)
    theirs = warnings_of(torch.optim.lr_scheduler, torch_optimizer(torch), make, calls)
    assert ours == theirs


def test_step_order_warning_has_torchs_text():
    optimizer = minigrad_optimizer()
    scheduler = lr_scheduler.StepLR(optimizer, 2)
    with pytest.warns(UserWarning, match=r"^Detected call of `lr_scheduler.step\(\)` before "
                                         r"`optimizer.step\(\)`. In PyTorch 1.1.0 and later"):
        scheduler.step()


def test_replacing_optimizer_step_after_the_scheduler_warns_as_torch_does():
    optimizer = minigrad_optimizer()
    scheduler = lr_scheduler.ExponentialLR(optimizer, 0.9)
    optimizer.step = lambda: None
    with pytest.warns(UserWarning, match=r"^Seems like `optimizer.step\(\)` has been overridden"):
        scheduler.step()


def test_optimizer_step_still_steps_once_tracked_and_is_tracked_once():
    optimizer = minigrad_optimizer()
    lr_scheduler.StepLR(optimizer, 2)
    tracked = optimizer.step
    lr_scheduler.ExponentialLR(optimizer, 0.5)
    assert optimizer.step is tracked and tracked.__name__ == "step"
    param = optimizer.param_groups[0]["params"][0]
    param.grad[:] = 1.0
    optimizer.step()
    np.testing.assert_allclose(param.data, 1.0 - 0.1)
    assert optimizer._step_called


def test_a_deep_copy_of_a_watched_optimizer_steps_its_own_parameters():
    optimizer = minigrad_optimizer()
    lr_scheduler.StepLR(optimizer, 2)
    twin = copy.deepcopy(optimizer)
    for group in twin.param_groups:
        group["params"][0].grad[:] = 1.0
    twin.step()
    assert all((g["params"][0].data == 1.0).all() for g in optimizer.param_groups)
    assert all((g["params"][0].data < 1.0).all() for g in twin.param_groups)
    assert twin._step_called and not getattr(optimizer, "_step_called", False)


def test_constructor_records_initial_lr_and_keeps_an_existing_one():
    optimizer = minigrad_optimizer()
    lr_scheduler.LinearLR(optimizer, start_factor=0.5)
    assert [g["initial_lr"] for g in optimizer.param_groups] == list(GROUP_LRS)
    assert group_lrs(optimizer) == [lr * 0.5 for lr in GROUP_LRS]
    second = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)  # as torch: initial_lr kept
    assert second.base_lrs == list(GROUP_LRS) and second.last_epoch == 0


@pytest.mark.parametrize("cls", [lr_scheduler.ExponentialLR, lr_scheduler.ReduceLROnPlateau])
def test_scheduler_needs_a_minigrad_optimizer(cls):
    with pytest.raises(TypeError, match="expects a minigrad.optim.Optimizer, got list"):
        cls([], 0.5)


def test_scheduler_load_state_dict_names_bad_keys_and_lengths():
    scheduler = lr_scheduler.StepLR(minigrad_optimizer(), step_size=2)
    saved = scheduler.state_dict()
    with pytest.raises(ValueError, match=r"missing keys \['gamma'\], unexpected keys \['T_max'\]"):
        scheduler.load_state_dict({**{k: v for k, v in saved.items() if k != "gamma"}, "T_max": 3})
    with pytest.raises(ValueError, match="base_lrs has 1 entries, the optimizer has 2"):
        scheduler.load_state_dict({**saved, "base_lrs": [0.1]})
    with pytest.raises(ValueError, match="step_size must be an int >= 1, got 0"):
        scheduler.load_state_dict({**saved, "step_size": 0, "last_epoch": 7})
    assert scheduler.state_dict() == saved


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.StepLR(o, 2),
    lambda o: lr_scheduler.LambdaLR(o, lambda e: 1.0),
    lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1),
    lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)], []),
    lambda o: lr_scheduler.ReduceLROnPlateau(o),
], ids=["StepLR", "LambdaLR", "CyclicLR", "SequentialLR", "ReduceLROnPlateau"])
@pytest.mark.parametrize("state", [None, [("last_epoch", 3)], "state"])
def test_scheduler_load_state_dict_refuses_what_is_not_a_dict(make, state):
    scheduler = make(minigrad_optimizer())
    before = scheduler.state_dict()
    with pytest.raises(ValueError, match=rf"load_state_dict: expected a dict \(from state_dict"
                                         rf"\(\)\), got {type(state).__name__}"):
        scheduler.load_state_dict(state)
    assert scheduler.state_dict() == before


def test_scheduler_load_state_dict_accepts_numpy_scalars_and_arrays():
    scheduler = lr_scheduler.MultiStepLR(minigrad_optimizer(), milestones=[3, 1], gamma=0.5)
    saved = {k: np.asarray(v) for k, v in scheduler.state_dict().items()}
    fresh = lr_scheduler.MultiStepLR(minigrad_optimizer(), milestones=[8], gamma=0.1)
    fresh.load_state_dict(saved)
    assert fresh.state_dict() == scheduler.state_dict()
    assert type(fresh.last_epoch) is int and type(fresh.milestones[0]) is int


def test_every_scheduler_is_exported_under_torchs_name():
    torch = pytest.importorskip("torch")
    assert set(lr_scheduler.__all__) == set(torch.optim.lr_scheduler.__all__)


@pytest.mark.parametrize("name", lr_scheduler.__all__)
def test_every_scheduler_has_torchs_arguments_and_defaults_but_last_epoch(name):
    torch = pytest.importorskip("torch")
    ours = inspect.signature(getattr(lr_scheduler, name)).parameters
    theirs = inspect.signature(getattr(torch.optim.lr_scheduler, name)).parameters
    assert [(k, p.default) for k, p in ours.items()] == [
        (k, p.default) for k, p in theirs.items() if k != "last_epoch"]
