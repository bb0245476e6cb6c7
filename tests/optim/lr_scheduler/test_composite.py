"""SequentialLR and ChainedScheduler against torch, with every kind of child."""

import pytest

from minigrad.optim import lr_scheduler
from tests.optim.lr_scheduler.harness import (
    assert_matches_torch,
    assert_resumes_like_torch,
    group_lrs,
    lr_history,
    minigrad_optimizer,
)

SEQUENTIAL = {
    "warmup_then_cosine": (lambda S, o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=4), S.CosineAnnealingLR(o, T_max=10)],
        milestones=[4]), 20),
    "three_closed_forms": (lambda S, o: S.SequentialLR(
        o, [S.ConstantLR(o, 0.5, total_iters=2), S.ExponentialLR(o, 0.8),
            S.MultiStepLR(o, [0, 2, 3])], milestones=[3, 7]), 14),
    "step_and_polynomial": (lambda S, o: S.SequentialLR(
        o, [S.StepLR(o, 2, gamma=0.5), S.PolynomialLR(o, total_iters=4, power=2.0)],
        milestones=[5]), 12),
    "function_children": (lambda S, o: S.SequentialLR(
        o, [S.MultiplicativeLR(o, lambda e: 0.9), S.LambdaLR(o, lambda e: 1 / (e + 1)),
            S.MultiplicativeLR(o, lambda e: 0.5 if e == 0 else 0.95)], milestones=[3, 6]), 12),
    "warmup_then_warm_restarts": (lambda S, o: S.SequentialLR(
        o, [S.LinearLR(o, 0.25, total_iters=3), S.CosineAnnealingWarmRestarts(o, 3, T_mult=2)],
        milestones=[3]), 16),
    "constant_then_cyclic": (lambda S, o: S.SequentialLR(
        o, [S.ConstantLR(o, 0.2, total_iters=2), S.CyclicLR(o, 0.01, 0.1, step_size_up=2)],
        milestones=[3]), 12),
    "constant_then_one_cycle": (lambda S, o: S.SequentialLR(
        o, [S.ConstantLR(o, 0.2, total_iters=5), S.OneCycleLR(o, max_lr=0.2, total_steps=12)],
        milestones=[4]), 15),
    "single_child": (lambda S, o: S.SequentialLR(o, [S.ExponentialLR(o, 0.7)], milestones=[]),
                     6),
}
CHAINED = {
    "constant_and_exponential": (lambda S, o: S.ChainedScheduler(
        [S.ConstantLR(o, factor=0.1, total_iters=2), S.ExponentialLR(o, gamma=0.9)]), 10),
    "step_and_cosine_with_optimizer": (lambda S, o: S.ChainedScheduler(
        [S.StepLR(o, 3, gamma=0.5), S.CosineAnnealingLR(o, T_max=6)], optimizer=o), 15),
    "linear_and_multiplicative": (lambda S, o: S.ChainedScheduler(
        [S.LinearLR(o, 0.5, total_iters=4), S.MultiplicativeLR(o, lambda e: 0.97),
         S.PolynomialLR(o, total_iters=9)]), 12),
    "with_a_sequential_child": (lambda S, o: S.ChainedScheduler(
        [S.SequentialLR(o, [S.ConstantLR(o, 0.5, 2), S.ExponentialLR(o, 0.9)], [3]),
         S.StepLR(o, 4, gamma=0.5)]), 12),
}
CASES = {**SEQUENTIAL, **CHAINED}
MOMENTUM_CASES = ["constant_then_cyclic", "constant_then_one_cycle"]


@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_composite_lr_matches_torch_at_every_epoch(make, steps):
    assert_matches_torch(make, steps)


@pytest.mark.parametrize("name", MOMENTUM_CASES)
def test_composite_cycles_beta1_of_adam_as_torch_does(name):
    assert_matches_torch(*CASES[name], kind="adam")


@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_composite_resumed_from_a_checkpoint_mid_run_matches_torch(make, steps, tmp_path):
    assert_resumes_like_torch(make, steps, steps // 2, tmp_path)


def test_sequential_state_dict_holds_each_childs_state():
    make, _ = SEQUENTIAL["warmup_then_cosine"]
    scheduler = make(lr_scheduler, minigrad_optimizer())
    lr_history(scheduler, 6)
    state = scheduler.state_dict()
    assert sorted(state) == ["_last_lr", "_milestones", "_schedulers", "last_epoch"]
    assert state["last_epoch"] == 6 and state["_milestones"] == [4]
    assert [child["last_epoch"] for child in state["_schedulers"]] == [3, 2]


def test_sequential_load_is_all_or_nothing_across_children():
    make, _ = SEQUENTIAL["warmup_then_cosine"]
    scheduler = make(lr_scheduler, minigrad_optimizer())
    lr_history(scheduler, 2)
    before = scheduler.state_dict()
    bad = make(lr_scheduler, minigrad_optimizer())
    lr_history(bad, 7)
    bad_state = bad.state_dict()
    bad_state["_schedulers"][1]["T_max"] = 0  # the second child's state is invalid
    with pytest.raises(ValueError, match="T_max must be an int >= 1, got 0"):
        scheduler.load_state_dict(bad_state)
    assert scheduler.state_dict() == before
    with pytest.raises(ValueError, match="_schedulers must hold 2 state dicts"):
        scheduler.load_state_dict({**bad.state_dict(), "_schedulers": [before["_schedulers"][0]]})
    with pytest.raises(ValueError, match=r"missing keys \['_milestones'\]"):
        scheduler.load_state_dict({k: v for k, v in before.items() if k != "_milestones"})
    assert scheduler.state_dict() == before


def test_sequential_construction_that_fails_changes_nothing():
    class FailsOnSecondCall:
        calls = 0

        def __call__(self, epoch):
            self.calls += 1
            if self.calls > 2:  # once per group in the child's own constructor
                raise RuntimeError("broken schedule")
            return 0.5

    optimizer = minigrad_optimizer()
    first = lr_scheduler.LambdaLR(optimizer, FailsOnSecondCall())
    second = lr_scheduler.ExponentialLR(optimizer, 0.9)
    groups = [dict(group) for group in optimizer.param_groups]
    children = [dict(vars(first)), dict(vars(second))]
    with pytest.raises(RuntimeError, match="broken schedule"):
        lr_scheduler.SequentialLR(optimizer, [first, second], milestones=[2])
    assert optimizer.param_groups == groups
    assert [dict(vars(first)), dict(vars(second))] == children


def test_chained_step_that_fails_in_a_later_child_undoes_the_earlier_ones():
    optimizer = minigrad_optimizer()
    first = lr_scheduler.ExponentialLR(optimizer, 0.5)
    second = lr_scheduler.LambdaLR(optimizer, lambda epoch: -1.0 if epoch == 2 else 1.0)
    chained = lr_scheduler.ChainedScheduler([first, second])
    lr_history(chained, 1)
    before = (group_lrs(optimizer), first.last_epoch, second.last_epoch)
    optimizer.step()
    with pytest.raises(ValueError, match="LambdaLR: the lr of parameter group 0 at epoch 2"):
        chained.step()
    assert (group_lrs(optimizer), first.last_epoch, second.last_epoch) == before


def children(optimizer):
    return [lr_scheduler.ConstantLR(optimizer), lr_scheduler.ExponentialLR(optimizer, 0.9)]


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda o: lr_scheduler.SequentialLR(o, [], []), ValueError, "at least one scheduler"),
        (lambda o: lr_scheduler.SequentialLR(o, children(o)[0], []), TypeError,
         "schedulers must be a list of schedulers, got ConstantLR"),
        (lambda o: lr_scheduler.SequentialLR(o, children(o), [2, 4]), ValueError,
         "2 schedulers need 1 milestones, got 2"),
        (lambda o: lr_scheduler.SequentialLR(o, children(o), 3), ValueError,
         "milestones must be a list of epochs, got 3"),
        (lambda o: lr_scheduler.SequentialLR(o, [*children(o), lr_scheduler.StepLR(o, 2)],
                                             [4, 4]), ValueError,
         r"milestones\[1\] must be an int >= 5, got 4"),
        (lambda o: lr_scheduler.SequentialLR(o, children(o), [0]), ValueError,
         r"milestones\[0\] must be an int >= 1, got 0"),
        (lambda o: lr_scheduler.SequentialLR(
            o, [lr_scheduler.ReduceLROnPlateau(o), lr_scheduler.StepLR(o, 2)], [3]), ValueError,
         r"does not support ReduceLROnPlateau \(schedulers\[0\]\)"),
        (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ChainedScheduler(children(o))],
                                             []), ValueError,
         r"schedulers\[0\] is a ChainedScheduler; nest plain schedulers only"),
        (lambda o: lr_scheduler.SequentialLR(
            o, [lr_scheduler.StepLR(minigrad_optimizer(), 2)], []), ValueError,
         r"schedulers\[0\] \(StepLR\) steps another optimizer"),
        (lambda o: lr_scheduler.SequentialLR(o, [lambda: None], []), TypeError,
         r"schedulers\[0\] must be a minigrad scheduler, got function"),
        (lambda o: lr_scheduler.ChainedScheduler([]), ValueError, "at least one scheduler"),
        (lambda o: lr_scheduler.ChainedScheduler(children(o), optimizer=minigrad_optimizer()),
         ValueError, r"schedulers\[0\] \(ConstantLR\) steps another optimizer"),
        (lambda o: lr_scheduler.ChainedScheduler(children(o), optimizer=[]), TypeError,
         "expects a minigrad.optim.Optimizer, got list"),
    ],
)
def test_composite_rejects_nonsense_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make(minigrad_optimizer())
