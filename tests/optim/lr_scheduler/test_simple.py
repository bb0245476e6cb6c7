"""Step, multi-step, exponential, constant, linear and polynomial schedules against torch."""

import numpy as np
import pytest

from minigrad.optim import lr_scheduler
from tests.optim.lr_scheduler.harness import (
    GROUP_LRS,
    assert_matches_torch,
    assert_resumes_like_torch,
    group_lrs,
    lr_history,
    minigrad_optimizer,
    torch_optimizer,
)

CASES = {
    "StepLR": (lambda S, o: S.StepLR(o, step_size=3, gamma=0.5), 20),
    "StepLR_step_1": (lambda S, o: S.StepLR(o, step_size=1), 8),
    "MultiStepLR": (lambda S, o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3), 14),
    "MultiStepLR_unsorted_with_0": (lambda S, o: S.MultiStepLR(o, milestones=[6, 0, 3]), 10),
    "MultiStepLR_tuple": (lambda S, o: S.MultiStepLR(o, milestones=(4, 1)), 6),
    "ExponentialLR": (lambda S, o: S.ExponentialLR(o, gamma=0.9), 30),
    "ConstantLR": (lambda S, o: S.ConstantLR(o, factor=0.5, total_iters=3), 8),
    "ConstantLR_defaults": (lambda S, o: S.ConstantLR(o), 8),
    "ConstantLR_factor_1": (lambda S, o: S.ConstantLR(o, factor=1.0, total_iters=1), 4),
    "LinearLR_warmup": (lambda S, o: S.LinearLR(o, start_factor=0.1, total_iters=4), 10),
    "LinearLR_decay": (lambda S, o: S.LinearLR(o, start_factor=1.0, end_factor=0.2,
                                               total_iters=6), 10),
    "PolynomialLR": (lambda S, o: S.PolynomialLR(o, total_iters=6, power=2.0), 10),
    "PolynomialLR_defaults": (lambda S, o: S.PolynomialLR(o), 8),
    "PolynomialLR_sqrt": (lambda S, o: S.PolynomialLR(o, total_iters=9, power=0.5), 12),
}


@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_schedule_lr_matches_torch_at_every_epoch(make, steps):
    assert_matches_torch(make, steps)


@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_schedule_resumed_from_a_checkpoint_mid_run_matches_torch(make, steps, tmp_path):
    assert_resumes_like_torch(make, steps, steps // 2, tmp_path)


def test_step_lr_decays_at_each_multiple_of_step_size():
    history = lr_history(lr_scheduler.StepLR(minigrad_optimizer([1.0]), step_size=3), 6)
    np.testing.assert_allclose([h[0] for h in history], [1, 1, 1, 0.1, 0.1, 0.1, 0.01])


def test_constant_lr_scales_until_total_iters_then_restores():
    history = lr_history(lr_scheduler.ConstantLR(minigrad_optimizer([1.0]), 0.5, 2), 4)
    assert [h[0] for h in history] == [0.5, 0.5, 1.0, 1.0, 1.0]


def test_polynomial_lr_reaches_zero_at_total_iters_and_stays():
    history = lr_history(lr_scheduler.PolynomialLR(minigrad_optimizer([1.0]), 4), 6)
    np.testing.assert_allclose([h[0] for h in history], [1, 0.75, 0.5, 0.25, 0, 0, 0],
                               atol=1e-15)


def test_schedules_compose_with_an_outside_lr_change_as_torch_does():
    torch = pytest.importorskip("torch")
    histories = []
    for module, optimizer in ((lr_scheduler, minigrad_optimizer()),
                              (torch.optim.lr_scheduler, torch_optimizer(torch))):
        scheduler = module.PolynomialLR(optimizer, total_iters=8, power=1.5)
        head = lr_history(scheduler, 3)
        for group in optimizer.param_groups:
            group["lr"] *= 0.5  # a user (or another scheduler) halves the lr mid-run
        histories.append(head + lr_history(scheduler, 6))
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-12)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError,
         "step_size must be an int >= 1"),
        (lambda o: lr_scheduler.StepLR(o, step_size=2.5), TypeError, "step_size must be an int"),
        (lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=-0.1), ValueError,
         "gamma must be a number >= 0"),
        (lambda o: lr_scheduler.MultiStepLR(o, [3, -1]), ValueError,
         r"milestones\[1\] must be an int >= 0, got -1"),
        (lambda o: lr_scheduler.MultiStepLR(o, [3, "5"]), TypeError,
         r"milestones\[1\] must be an int >= 0, got '5'"),
        (lambda o: lr_scheduler.MultiStepLR(o, 5), ValueError,
         r"MultiStepLR: milestones must be a sequence of epoch indices \(integers >= 0\), got 5"),
        (lambda o: lr_scheduler.MultiStepLR(o, "35"), ValueError, "milestones must be a sequence"),
        (lambda o: lr_scheduler.ExponentialLR(o, gamma=None), TypeError,
         "gamma must be a number >= 0, got None"),
        (lambda o: lr_scheduler.ConstantLR(o, factor=1.5), ValueError,
         "factor must be a number > 0 and <= 1"),
        (lambda o: lr_scheduler.ConstantLR(o, factor=0), ValueError,
         "factor must be a number > 0 and <= 1, got 0"),
        (lambda o: lr_scheduler.ConstantLR(o, total_iters=0), ValueError,
         "total_iters must be an int"),
        (lambda o: lr_scheduler.LinearLR(o, start_factor=0), ValueError,
         "start_factor must be a number > 0"),
        (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), ValueError,
         "end_factor must be a number >= 0 and <="),
        (lambda o: lr_scheduler.PolynomialLR(o, total_iters=0), ValueError,
         "total_iters must be an int"),
        (lambda o: lr_scheduler.PolynomialLR(o, power=-1), ValueError,
         "power must be a number >= 0, got -1"),
    ],
)
def test_schedule_rejects_nonsense_arguments_and_leaves_the_optimizer_alone(make, error, message):
    optimizer = minigrad_optimizer()
    with pytest.raises(error, match=message):
        make(optimizer)
    assert group_lrs(optimizer) == list(GROUP_LRS)
    assert all("initial_lr" not in group for group in optimizer.param_groups)
