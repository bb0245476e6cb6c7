"""Schedulers against torch's twins: the same lr after every step, for scripted runs."""

import math

import numpy as np
import pytest

from minigrad import optim
from minigrad.optim import lr_scheduler
from tests.optim.trajectory import is_plain, make_parameters

GROUP_LRS = (0.1, 0.03)


def minigrad_optimizer(lrs=GROUP_LRS):
    params = make_parameters([np.ones(2) for _ in lrs])
    return optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)],
                     lr=1.0, momentum=0.9)


def torch_optimizer(torch, lrs=GROUP_LRS):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=1.0, momentum=0.9)


def group_lrs(optimizer):
    return [group["lr"] for group in optimizer.param_groups]


def lr_history(scheduler, epochs, metrics=None):
    """The lrs after construction and after each epoch's step (stepping torch's optimizer too,
    so that torch does not warn about the call order)."""
    history = [group_lrs(scheduler.optimizer)]
    for epoch in range(epochs):
        scheduler.optimizer.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[epoch])
        assert scheduler.get_last_lr() == group_lrs(scheduler.optimizer)
        history.append(group_lrs(scheduler.optimizer))
    return history


SCHEDULES = {
    "StepLR": ("StepLR", dict(step_size=3, gamma=0.5), 20),
    "StepLR_step_1": ("StepLR", dict(step_size=1), 8),
    "MultiStepLR": ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3), 14),
    "MultiStepLR_unsorted_with_0": ("MultiStepLR", dict(milestones=[6, 0, 3]), 10),
    "ExponentialLR": ("ExponentialLR", dict(gamma=0.9), 30),
    "CosineAnnealingLR": ("CosineAnnealingLR", dict(T_max=10), 45),
    "CosineAnnealingLR_eta_min": ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001), 40),
    "CosineAnnealingLR_T_max_1": ("CosineAnnealingLR", dict(T_max=1, eta_min=0.01), 6),
    "LinearLR_warmup": ("LinearLR", dict(start_factor=0.1, total_iters=4), 10),
    "LinearLR_decay": ("LinearLR", dict(start_factor=1.0, end_factor=0.2, total_iters=6), 10),
}


@pytest.mark.parametrize("name, kwargs, epochs", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_scheduler_lr_matches_torch_at_every_epoch(name, kwargs, epochs):
    torch = pytest.importorskip("torch")
    ours = lr_history(getattr(lr_scheduler, name)(minigrad_optimizer(), **kwargs), epochs)
    reference = getattr(torch.optim.lr_scheduler, name)(torch_optimizer(torch), **kwargs)
    theirs = lr_history(reference, epochs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_lambda_lr_matches_torch_with_one_function_per_group():
    torch = pytest.importorskip("torch")
    lambdas = [lambda epoch: 0.95**epoch, lambda epoch: 1.0 / (1 + epoch // 3)]
    ours = lr_history(lr_scheduler.LambdaLR(minigrad_optimizer(), lambdas), 12)
    theirs = lr_history(torch.optim.lr_scheduler.LambdaLR(torch_optimizer(torch), lambdas), 12)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


def test_step_lr_decays_at_each_multiple_of_step_size():
    history = lr_history(lr_scheduler.StepLR(minigrad_optimizer([1.0]), step_size=3), 6)
    np.testing.assert_allclose([h[0] for h in history], [1, 1, 1, 0.1, 0.1, 0.1, 0.01])


def test_cosine_annealing_follows_the_closed_form_through_several_periods():
    scheduler = lr_scheduler.CosineAnnealingLR(minigrad_optimizer(), T_max=8, eta_min=0.002)
    for epoch, lrs in enumerate(lr_history(scheduler, 40)):
        expected = [0.002 + (base - 0.002) * (1 + math.cos(math.pi * epoch / 8)) / 2
                    for base in GROUP_LRS]
        np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=1e-15)


def test_constructor_records_initial_lr_and_keeps_an_existing_one():
    optimizer = minigrad_optimizer()
    lr_scheduler.LinearLR(optimizer, start_factor=0.5)
    assert [g["initial_lr"] for g in optimizer.param_groups] == list(GROUP_LRS)
    assert group_lrs(optimizer) == [lr * 0.5 for lr in GROUP_LRS]
    second = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)  # as torch: initial_lr kept
    assert second.base_lrs == list(GROUP_LRS) and second.last_epoch == 0


@pytest.mark.parametrize("name", [k for k in SCHEDULES if "_" not in k] + ["LambdaLR"])
def test_scheduler_resumes_from_its_state_dict_exactly(name):
    def make(optimizer):
        if name == "LambdaLR":
            return lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.9**epoch)
        _, kwargs, _ = SCHEDULES[name]
        return getattr(lr_scheduler, name)(optimizer, **kwargs)

    uninterrupted = lr_history(make(minigrad_optimizer()), 25)
    first = make(minigrad_optimizer())
    head = lr_history(first, 11)
    saved_optimizer, saved_scheduler = first.optimizer.state_dict(), first.state_dict()
    assert is_plain(saved_scheduler)
    second = make(minigrad_optimizer())
    second.optimizer.load_state_dict(saved_optimizer)
    second.load_state_dict(saved_scheduler)
    assert second.last_epoch == 11 and second.get_last_lr() == head[-1]
    assert head + lr_history(second, 14)[1:] == uninterrupted


def test_scheduler_load_state_dict_names_bad_keys_and_lengths():
    scheduler = lr_scheduler.StepLR(minigrad_optimizer(), step_size=2)
    saved = scheduler.state_dict()
    with pytest.raises(ValueError, match=r"missing keys \['gamma'\], unexpected keys \['T_max'\]"):
        scheduler.load_state_dict({**{k: v for k, v in saved.items() if k != "gamma"}, "T_max": 3})
    with pytest.raises(ValueError, match="base_lrs has 1 entries, the optimizer has 2"):
        scheduler.load_state_dict({**saved, "base_lrs": [0.1]})
    with pytest.raises(ValueError, match="step_size must be an integer >= 1, got 0"):
        scheduler.load_state_dict({**saved, "step_size": 0, "last_epoch": 7})
    assert scheduler.state_dict() == saved


def test_scheduler_load_state_dict_accepts_numpy_scalars_and_arrays():
    scheduler = lr_scheduler.MultiStepLR(minigrad_optimizer(), milestones=[3, 1], gamma=0.5)
    saved = {k: np.asarray(v) for k, v in scheduler.state_dict().items()}
    fresh = lr_scheduler.MultiStepLR(minigrad_optimizer(), milestones=[8], gamma=0.1)
    fresh.load_state_dict(saved)
    assert fresh.state_dict() == scheduler.state_dict()
    assert type(fresh.last_epoch) is int and type(fresh.milestones[0]) is int


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda o: lr_scheduler.StepLR(o, step_size=0), "step_size must be an integer >= 1"),
        (lambda o: lr_scheduler.StepLR(o, step_size=2.5), "step_size must be an integer"),
        (lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=-0.1), "gamma must be >= 0"),
        (lambda o: lr_scheduler.MultiStepLR(o, [3, -1]), r"milestones\[0\] must be an integer"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "T_max must be an integer >= 1"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, 5, eta_min=-1), "eta_min must be >= 0"),
        (lambda o: lr_scheduler.LinearLR(o, start_factor=0), "start_factor must be > 0"),
        (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), "end_factor must be >= 0.0 and <="),
        (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), "1 lr_lambdas for 2 parameter"),
        (lambda o: lr_scheduler.LambdaLR(o, 0.5), "lr_lambda 0 must be callable"),
    ],
)
def test_scheduler_rejects_nonsense_arguments(make, message):
    optimizer = minigrad_optimizer()
    with pytest.raises(ValueError, match=message):
        make(optimizer)
    assert group_lrs(optimizer) == list(GROUP_LRS)


@pytest.mark.parametrize("cls", [lr_scheduler.ExponentialLR, lr_scheduler.ReduceLROnPlateau])
def test_scheduler_needs_a_minigrad_optimizer(cls):
    with pytest.raises(TypeError, match="expects a minigrad.optim.Optimizer, got list"):
        cls([], 0.5)


# -- ReduceLROnPlateau -------------------------------------------------------------------
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
    "kwargs, message",
    [
        (dict(factor=1.0), r"factor must be >= 0.0 and < 1.0, got 1.0"),
        (dict(factor=1.5), r"factor must be >= 0.0 and < 1.0, got 1.5"),
        (dict(factor=0.0), r"factor must be > 0 and < 1.0, got 0.0"),
        (dict(factor=-0.1), r"factor must be >= 0.0 and < 1.0, got -0.1"),
        (dict(mode="minimum"), r"mode must be 'min' or 'max', got 'minimum'"),
        (dict(threshold_mode="relative"), r"threshold_mode must be 'rel' or 'abs', got 'relative'"),
        (dict(patience=-1), r"patience must be an integer >= 0, got -1"),
        (dict(patience=2.5), r"patience must be an integer >= 0, got 2.5"),
        (dict(cooldown=-2), r"cooldown must be an integer >= 0, got -2"),
        (dict(threshold=-1e-4), r"threshold must be >= 0.0, got -0.0001"),
        (dict(min_lr=[0.1]), r"min_lr has 1 entries, the optimizer has 2 parameter groups"),
        (dict(min_lr=[0.1, 0.2, 0.3]), r"min_lr has 3 entries, the optimizer has 2"),
        (dict(min_lr=-0.5), r"min_lr\[0\] must be >= 0.0, got -0.5"),
        (dict(eps=-1.0), r"eps must be >= 0.0, got -1.0"),
    ],
)
def test_plateau_rejects_nonsense_arguments_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=f"^ReduceLROnPlateau: {message}"):
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
