"""OneCycleLR against torch: lr and momentum (SGD) or beta1 (Adam) after every batch."""

import math

import pytest

from minigrad.optim import lr_scheduler
from tests.optim.lr_scheduler.harness import (
    GROUP_LRS,
    assert_matches_torch,
    assert_resumes_like_torch,
    group_lrs,
    group_values,
    lr_history,
    minigrad_optimizer,
    torch_optimizer,
)

# Steps up to total_steps - 1: the last lr a run trains with (see the test on total_steps).
CASES = {
    "cos": (lambda S, o: S.OneCycleLR(o, max_lr=0.1, total_steps=30), 29),
    "linear": (lambda S, o: S.OneCycleLR(o, max_lr=0.1, total_steps=30,
                                         anneal_strategy="linear"), 29),
    "epochs_and_steps_per_epoch": (lambda S, o: S.OneCycleLR(o, max_lr=[0.1, 0.3], epochs=4,
                                                             steps_per_epoch=6), 23),
    "three_phase": (lambda S, o: S.OneCycleLR(o, max_lr=0.2, total_steps=40, three_phase=True),
                    39),
    "three_phase_linear": (lambda S, o: S.OneCycleLR(o, max_lr=0.2, total_steps=25,
                                                     three_phase=True, pct_start=0.4,
                                                     anneal_strategy="linear"), 24),
    "pct_start_0": (lambda S, o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=0.0), 9),
    "factors_and_momenta": (lambda S, o: S.OneCycleLR(
        o, max_lr=0.1, total_steps=20, pct_start=0.25, div_factor=10.0, final_div_factor=100.0,
        base_momentum=[0.8, 0.7], max_momentum=[0.9, 0.99]), 19),
    "no_momentum_cycling": (lambda S, o: S.OneCycleLR(o, max_lr=0.1, total_steps=12,
                                                      cycle_momentum=False), 11),
}
KINDS = ["sgd", "adam"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_one_cycle_lr_and_momentum_match_torch_at_every_step(make, steps, kind):
    assert_matches_torch(make, steps, kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_one_cycle_resumed_from_a_checkpoint_mid_run_matches_torch(make, steps, kind, tmp_path):
    assert_resumes_like_torch(make, steps, steps // 3, tmp_path, kind)


def test_one_cycle_writes_the_same_group_entries_as_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = minigrad_optimizer(), torch_optimizer(torch)
    lr_scheduler.OneCycleLR(ours, max_lr=[0.5, 0.2], total_steps=10, div_factor=5.0)
    torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=[0.5, 0.2], total_steps=10,
                                        div_factor=5.0)
    for mine, reference in zip(ours.param_groups, theirs.param_groups, strict=True):
        for key in ("lr", "initial_lr", "max_lr", "min_lr", "momentum", "max_momentum",
                    "base_momentum"):
            assert mine[key] == reference[key], key


def test_one_cycle_rises_to_max_lr_then_ends_at_min_lr():
    scheduler = lr_scheduler.OneCycleLR(minigrad_optimizer([1.0]), max_lr=1.0, total_steps=10,
                                        pct_start=0.5, div_factor=4.0, final_div_factor=5.0)
    lrs = [h[0] for h in lr_history(scheduler, 9)]
    assert lrs[0] == 0.25 and max(lrs) == lrs[4] == 1.0
    assert math.isclose(lrs[-1], 0.25 / 5.0, rel_tol=1e-12)


@pytest.mark.parametrize("anneal_strategy", ["cos", "linear"])
def test_after_the_last_update_one_cycle_holds_min_lr_and_then_refuses_to_step(anneal_strategy):
    optimizer = minigrad_optimizer(kind="adam")
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=8,
                                        anneal_strategy=anneal_strategy)
    lr_history(scheduler, 8)  # torch extrapolates here (a negative lr for "linear")
    assert group_values(optimizer) == [pytest.approx((0.1 / 25 / 1e4, 0.95), rel=1e-12)] * 2
    before = [dict(group) for group in optimizer.param_groups]
    with pytest.raises(ValueError, match="tried to step 9 times, but total_steps is 8"):
        scheduler.step()
    assert optimizer.param_groups == before and scheduler.last_epoch == 8


def test_one_cycle_with_a_phase_of_zero_steps_is_a_clear_error():
    torch = pytest.importorskip("torch")
    with pytest.raises(ZeroDivisionError):  # torch divides by the zero-length phase
        torch.optim.lr_scheduler.OneCycleLR(torch_optimizer(torch), 0.1, total_steps=10,
                                            pct_start=0.1)
    optimizer = minigrad_optimizer()
    with pytest.raises(ValueError, match=r"step 0 falls in a phase of zero length "
                                         r"\(total_steps=10, pct_start=0.1\)"):
        lr_scheduler.OneCycleLR(optimizer, 0.1, total_steps=10, pct_start=0.1)
    assert group_lrs(optimizer) == list(GROUP_LRS)
    assert all("max_lr" not in group for group in optimizer.param_groups)


def test_one_cycle_load_refuses_a_position_past_the_cycle():
    scheduler = lr_scheduler.OneCycleLR(minigrad_optimizer(), 0.1, total_steps=10)
    saved = scheduler.state_dict()
    with pytest.raises(ValueError, match="last_epoch 11 is past total_steps 10"):
        scheduler.load_state_dict({**saved, "last_epoch": 11})
    assert scheduler.state_dict() == saved


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(), ValueError, r"give total_steps, or both epochs and steps_per_epoch"),
        (dict(epochs=3), ValueError, r"give total_steps, or both epochs and steps_per_epoch"),
        (dict(total_steps=0), ValueError, "total_steps must be an int >= 1, got 0"),
        (dict(total_steps=10.0), TypeError, "total_steps must be an int >= 1, got 10.0"),
        (dict(epochs=0, steps_per_epoch=5), ValueError, "epochs must be an int >= 1, got 0"),
        (dict(epochs=2, steps_per_epoch=-5), ValueError, "steps_per_epoch must be an int >= 1"),
        (dict(total_steps=10, pct_start=1.5), ValueError,
         "pct_start must be a number >= 0 and <= 1, got 1.5"),
        (dict(total_steps=10, anneal_strategy="cosine"), ValueError,
         "anneal_strategy must be 'cos' or 'linear', got 'cosine'"),
        (dict(total_steps=10, max_lr=[0.1]), ValueError,
         "max_lr has 1 entries, the optimizer has 2"),
        (dict(total_steps=10, div_factor=0), ValueError, "div_factor must be a number > 0, got 0"),
        (dict(total_steps=10, final_div_factor=-1.0), ValueError,
         "final_div_factor must be a number > 0"),
        (dict(total_steps=10, three_phase=1), TypeError,
         "three_phase must be True or False, got 1"),
        (dict(total_steps=10, base_momentum=-0.1), ValueError,
         r"base_momentum\[0\] must be a number >= 0"),
    ],
)
def test_one_cycle_rejects_nonsense_arguments_and_leaves_the_optimizer_alone(kwargs, error,
                                                                             message):
    optimizer = minigrad_optimizer()
    before = [dict(group) for group in optimizer.param_groups]
    with pytest.raises(error, match=message):
        lr_scheduler.OneCycleLR(optimizer, **{"max_lr": 0.1, **kwargs})
    assert optimizer.param_groups == before
