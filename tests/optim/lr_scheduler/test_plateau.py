"""ReduceLROnPlateau against torch's: the same lr after every epoch for scripted metrics."""

import numpy as np
import pytest

from minigrad.optim import lr_scheduler
from tests.optim.lr_scheduler.harness import (
    GROUP_LRS,
    group_lrs,
    lr_history,
    minigrad_optimizer,
    torch_optimizer,
)
from tests.optim.trajectory import is_plain

PLATEAU_RUNS = {
    "plateau_and_ties": (dict(patience=2), [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8]),
    "ties_with_zero_rel_threshold": (dict(patience=1, threshold=0.0),
                                     [2.0, 2.0, 1.5, 1.5, 1.5, 1.4, 1.4, 1.4]),
    "ties_with_zero_abs_threshold_max": (dict(mode="max", patience=1, threshold=0.0,
                                              threshold_mode="abs"), [2.0, 2.0, 2.5, 2.5, 2.5]),
    "improvement_below_rel_threshold": (
        dict(patience=1, threshold=0.01), [1.0, 0.995, 0.991, 0.985, 0.98, 0.9, 0.899, 0.85]),
    "abs_threshold": (dict(patience=1, threshold=0.05, threshold_mode="abs"),
                      [1.0, 0.96, 0.94, 0.9, 0.86, 0.84, 0.5, 0.5, 0.5]),
    "max_mode": (dict(mode="max", patience=1), [0.1, 0.5, 0.5, 0.4, 0.6, 0.6, 0.6, 0.7, 0.2]),
    "max_mode_abs": (dict(mode="max", threshold_mode="abs", threshold=0.1, patience=0),
                     [0.1, 0.15, 0.3, 0.35, 0.5, 0.45, 0.7]),
    "zero_patience": (dict(patience=0, factor=0.5), [3.0, 3.0, 2.0, 2.5, 2.5, 1.0, 1.0]),
    "cooldown": (dict(patience=1, cooldown=2, factor=0.5), [1.0] * 14),
    "cooldown_with_improvement": (dict(patience=0, cooldown=1, factor=0.5),
                                  [5.0, 6.0, 4.0, 7.0, 7.0, 3.0, 8.0, 8.0, 8.0]),
    "min_lr_scalar": (dict(patience=0, factor=0.5, min_lr=0.01), [1.0] * 10),
    "min_lr_per_group": (dict(patience=0, factor=0.2, min_lr=[0.05, 0.0001]), [1.0] * 10),
    "eps_skips_tiny_reductions": (dict(patience=0, factor=0.5, eps=0.01), [1.0] * 6),
    "nan_is_never_better": (dict(patience=1), [1.0, float("nan"), float("nan"), 0.5, 0.4]),
    "negative_metrics": (dict(patience=1), [-1.0, -1.05, -1.1, -1.1, -1.1, -0.5, -1.2]),
}


@pytest.mark.parametrize("kwargs, metrics", PLATEAU_RUNS.values(), ids=PLATEAU_RUNS.keys())
def test_reduce_lr_on_plateau_matches_torch_at_every_epoch(kwargs, metrics):
    torch = pytest.importorskip("torch")
    ours = lr_scheduler.ReduceLROnPlateau(minigrad_optimizer(), **kwargs)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_optimizer(torch), **kwargs)
    assert lr_history(ours, len(metrics), metrics) == lr_history(reference, len(metrics), metrics)
    assert (ours.best, ours.num_bad_epochs, ours.cooldown_counter) == pytest.approx(
        (reference.best, reference.num_bad_epochs, reference.cooldown_counter), nan_ok=True)


def test_plateau_patience_two_drops_the_lr_at_the_third_non_improving_epoch():
    scheduler = lr_scheduler.ReduceLROnPlateau(minigrad_optimizer([1.0]), patience=2)
    history = lr_history(scheduler, 7, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # epoch 1 sets best; epochs 2, 3, 4 do not improve (ties); the drop comes at epoch 4's
    # step, and the count restarts: epochs 5, 6, 7 drop it again at epoch 7.
    assert [h[0] for h in history] == pytest.approx([1, 1, 1, 1, 0.1, 0.1, 0.1, 0.01])
    assert scheduler.patience == 2 and scheduler.mode == "min" and scheduler.best == 1.0
    assert scheduler.num_bad_epochs == 0


@pytest.mark.parametrize("mode, threshold_mode", [("min", "rel"), ("min", "abs"),
                                                    ("max", "rel"), ("max", "abs")])
def test_plateau_never_counts_an_equal_metric_as_an_improvement(mode, threshold_mode):
    scheduler = lr_scheduler.ReduceLROnPlateau(minigrad_optimizer(), mode=mode, threshold=0.0,
                                               threshold_mode=threshold_mode, patience=3)
    for _ in range(3):
        scheduler.step(0.5)
    assert scheduler.best == 0.5 and scheduler.num_bad_epochs == 2


def test_plateau_counts_improvements_smaller_than_the_threshold_as_bad():
    scheduler = lr_scheduler.ReduceLROnPlateau(minigrad_optimizer(), patience=5, threshold=0.1)
    for metric in (1.0, 0.95, 0.91):  # less than 10 % better than best = 1.0
        scheduler.step(metric)
    assert scheduler.best == 1.0 and scheduler.num_bad_epochs == 2
    scheduler.step(0.89)
    assert scheduler.best == 0.89 and scheduler.num_bad_epochs == 0


def test_plateau_never_goes_below_min_lr():
    scheduler = lr_scheduler.ReduceLROnPlateau(minigrad_optimizer(), patience=0, min_lr=0.02)
    lr_history(scheduler, 8, [1.0] * 8)
    assert group_lrs(scheduler.optimizer) == [0.02, 0.02]


def test_plateau_does_not_touch_initial_lr_and_reports_the_current_lr():
    optimizer = minigrad_optimizer()
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer)
    assert scheduler.get_last_lr() == list(GROUP_LRS) and scheduler.last_epoch == 0
    assert all("initial_lr" not in group for group in optimizer.param_groups)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(factor=1.0), ValueError, r"factor must be a number > 0 and < 1, got 1.0"),
        (dict(factor=1.5), ValueError, r"factor must be a number > 0 and < 1, got 1.5"),
        (dict(factor=0.0), ValueError, r"factor must be a number > 0 and < 1, got 0.0"),
        (dict(factor=-0.1), ValueError, r"factor must be a number > 0 and < 1, got -0.1"),
        (dict(mode="minimum"), ValueError, r"mode must be 'min' or 'max', got 'minimum'"),
        (dict(threshold_mode="relative"), ValueError,
         r"threshold_mode must be 'rel' or 'abs', got 'relative'"),
        (dict(patience=-1), ValueError, r"patience must be an int >= 0, got -1"),
        (dict(patience=2.5), TypeError, r"patience must be an int >= 0, got 2.5"),
        (dict(cooldown=-2), ValueError, r"cooldown must be an int >= 0, got -2"),
        (dict(threshold=-1e-4), ValueError, r"threshold must be a number >= 0, got -0.0001"),
        (dict(min_lr=[0.1]), ValueError,
         r"min_lr has 1 entries, the optimizer has 2 parameter groups"),
        (dict(min_lr=[0.1, 0.2, 0.3]), ValueError, r"min_lr has 3 entries, the optimizer has 2"),
        (dict(min_lr=-0.5), ValueError, r"min_lr\[0\] must be a number >= 0, got -0.5"),
        (dict(eps=-1.0), ValueError, r"eps must be a number >= 0, got -1.0"),
    ],
)
def test_plateau_rejects_nonsense_arguments_with_a_clear_message(kwargs, error, message):
    with pytest.raises(error, match=f"^ReduceLROnPlateau: {message}"):
        lr_scheduler.ReduceLROnPlateau(minigrad_optimizer(), **kwargs)


def test_plateau_resumes_from_its_state_dict_exactly():
    metrics = [1.0, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]

    def make(optimizer):
        return lr_scheduler.ReduceLROnPlateau(optimizer, patience=1, cooldown=1, min_lr=[0, 0.01])

    uninterrupted = lr_history(make(minigrad_optimizer()), len(metrics), metrics)
    first = make(minigrad_optimizer())
    head = lr_history(first, 6, metrics)
    saved = first.state_dict()
    assert is_plain(saved)
    second = make(minigrad_optimizer())
    second.optimizer.load_state_dict(first.optimizer.state_dict())
    second.load_state_dict(saved)
    assert (second.best, second.num_bad_epochs, second.cooldown_counter) == (
        first.best, first.num_bad_epochs, first.cooldown_counter)
    assert head + lr_history(second, len(metrics) - 6, metrics[6:])[1:] == uninterrupted


def test_plateau_load_state_dict_rejects_an_unknown_mode_and_changes_nothing():
    scheduler = lr_scheduler.ReduceLROnPlateau(minigrad_optimizer(), mode="max")
    saved = scheduler.state_dict()
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'up'"):
        scheduler.load_state_dict({**saved, "mode": "up", "best": 3.0})
    assert scheduler.state_dict() == saved


@pytest.mark.parametrize("metric", [None, "0.5", [0.1, 0.2], np.ones(3)], ids=repr)
def test_plateau_step_refuses_a_metric_that_is_not_a_number_and_changes_nothing(metric):
    scheduler = lr_scheduler.ReduceLROnPlateau(minigrad_optimizer(), patience=0)
    scheduler.step(1.0)
    before = scheduler.state_dict()
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau.step: metrics must be a number "
                                         r"\(the monitored value, e.g. the validation loss\)"):
        scheduler.step(metric)
    assert scheduler.state_dict() == before


def test_plateau_step_accepts_numpy_scalars_and_one_element_arrays():
    scheduler = lr_scheduler.ReduceLROnPlateau(minigrad_optimizer(), patience=0)
    scheduler.step(np.float32(2.0))
    scheduler.step(np.array(1.0))
    assert scheduler.best == 1.0 and type(scheduler.best) is float
