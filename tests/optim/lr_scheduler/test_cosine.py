"""CosineAnnealingLR and CosineAnnealingWarmRestarts against torch."""

import math

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
    "CosineAnnealingLR": (lambda S, o: S.CosineAnnealingLR(o, T_max=10), 45),
    "CosineAnnealingLR_eta_min": (lambda S, o: S.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
                                  40),
    "CosineAnnealingLR_T_max_1": (lambda S, o: S.CosineAnnealingLR(o, T_max=1, eta_min=0.01), 6),
    "WarmRestarts": (lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=4), 17),
    "WarmRestarts_T_mult": (lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2,
                                                                        eta_min=0.005), 31),
    "WarmRestarts_T_0_1": (lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=1, T_mult=3), 14),
}


@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_cosine_schedule_matches_torch_at_every_epoch(make, steps):
    assert_matches_torch(make, steps)


@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_cosine_schedule_resumed_from_a_checkpoint_mid_run_matches_torch(make, steps, tmp_path):
    assert_resumes_like_torch(make, steps, steps // 2 + 1, tmp_path)


def test_cosine_annealing_follows_the_closed_form_through_several_periods():
    scheduler = lr_scheduler.CosineAnnealingLR(minigrad_optimizer(), T_max=8, eta_min=0.002)
    for epoch, lrs in enumerate(lr_history(scheduler, 40)):
        expected = [0.002 + (base - 0.002) * (1 + math.cos(math.pi * epoch / 8)) / 2
                    for base in GROUP_LRS]
        np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=1e-15)


def test_warm_restarts_restart_at_initial_lr_after_each_growing_period():
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(minigrad_optimizer([1.0]), T_0=2,
                                                         T_mult=2)
    lrs = [h[0] for h in lr_history(scheduler, 14)]
    restarts = [epoch for epoch, lr in enumerate(lrs) if lr == 1.0]
    assert restarts == [0, 2, 6, 14]
    assert (scheduler.T_i, scheduler.T_cur) == (16, 0)


def fractional_run(module, optimizer, T_0, T_mult, epochs, batches):
    """torch's documented per-batch use: ``step(epoch + batch / batches)`` after each batch."""
    scheduler = module.CosineAnnealingWarmRestarts(optimizer, T_0=T_0, T_mult=T_mult,
                                                   eta_min=0.001)
    history = []
    for epoch in range(epochs):
        for batch in range(batches):
            optimizer.step()
            scheduler.step(epoch + batch / batches)
            history.append((*group_lrs(optimizer), scheduler.T_cur, scheduler.T_i,
                            scheduler.last_epoch))
    return history


@pytest.mark.parametrize("T_0, T_mult", [(3, 1), (2, 2), (1, 3)])
def test_warm_restarts_stepped_with_fractional_epochs_match_torch(T_0, T_mult):
    torch = pytest.importorskip("torch")
    ours = fractional_run(lr_scheduler, minigrad_optimizer(), T_0, T_mult, 12, 7)
    theirs = fractional_run(torch.optim.lr_scheduler, torch_optimizer(torch), T_0, T_mult, 12, 7)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_warm_restarts_mix_plain_steps_and_jumps_as_torch_does():
    torch = pytest.importorskip("torch")
    histories = []
    for module, optimizer in ((lr_scheduler, minigrad_optimizer()),
                              (torch.optim.lr_scheduler, torch_optimizer(torch))):
        scheduler = module.CosineAnnealingWarmRestarts(optimizer, T_0=3, T_mult=2)
        history = []
        for epoch in (None, None, 7.25, None, 2, None, 40.5, None, None):
            optimizer.step()
            scheduler.step(epoch)
            history.append((*group_lrs(optimizer), scheduler.T_cur, scheduler.T_i))
        histories.append(history)
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("epoch, error", [(-1, ValueError), (-0.5, ValueError),
                                          (float("nan"), ValueError), ("3", TypeError)])
def test_warm_restarts_reject_a_bad_epoch_and_change_nothing(epoch, error):
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(minigrad_optimizer(), T_0=3)
    scheduler.step()
    before = scheduler.state_dict()
    with pytest.raises(error, match="epoch must be a number >= 0, got"):
        scheduler.step(epoch)
    assert scheduler.state_dict() == before


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), ValueError,
         "T_max must be an int >= 1"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, 5, eta_min=-1), ValueError,
         "eta_min must be a number >= 0"),
        (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0), ValueError,
         "T_0 must be an int"),
        (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2.5), TypeError,
         "T_0 must be an int"),
        (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 2, T_mult=0), ValueError,
         "T_mult must be an int >= 1, got 0"),
        (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 2, eta_min="0"), TypeError,
         "eta_min must be a number"),
    ],
)
def test_cosine_schedule_rejects_nonsense_arguments(make, error, message):
    optimizer = minigrad_optimizer()
    with pytest.raises(error, match=message):
        make(optimizer)
    assert group_lrs(optimizer) == list(GROUP_LRS)
