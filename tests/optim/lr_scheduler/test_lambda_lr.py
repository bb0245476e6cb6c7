"""LambdaLR and MultiplicativeLR against torch, and how their functions are saved."""

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


class Decay:
    """A callable object with state: torch saves its ``__dict__``, and so do we."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, epoch):
        return self.rate**epoch


CASES = {
    "LambdaLR_per_group": (lambda S, o: S.LambdaLR(
        o, [lambda epoch: 0.95**epoch, lambda epoch: 1.0 / (1 + epoch // 3)]), 12),
    "LambdaLR_object": (lambda S, o: S.LambdaLR(o, Decay(0.8)), 10),
    "MultiplicativeLR": (lambda S, o: S.MultiplicativeLR(o, lambda epoch: 0.9), 12),
    "MultiplicativeLR_per_group": (lambda S, o: S.MultiplicativeLR(
        o, (lambda epoch: 1.0 if epoch % 2 else 0.5, lambda epoch: 0.99)), 10),
}


@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_function_schedule_matches_torch_at_every_epoch(make, steps):
    assert_matches_torch(make, steps)


@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_function_schedule_resumed_from_a_checkpoint_mid_run_matches_torch(make, steps,
                                                                           tmp_path):
    assert_resumes_like_torch(make, steps, steps // 2, tmp_path)


def test_multiplicative_lr_keeps_the_lr_at_epoch_0_and_multiplies_after():
    scheduler = lr_scheduler.MultiplicativeLR(minigrad_optimizer([1.0]), lambda epoch: 0.5)
    assert [h[0] for h in lr_history(scheduler, 3)] == [1.0, 0.5, 0.25, 0.125]


def test_functions_are_not_saved_and_callable_objects_are_as_in_torch():
    torch = pytest.importorskip("torch")
    lambdas = [lambda epoch: 1.0, Decay(0.7)]
    ours = lr_scheduler.LambdaLR(minigrad_optimizer(), lambdas).state_dict()
    theirs = torch.optim.lr_scheduler.LambdaLR(torch_optimizer(torch), lambdas).state_dict()
    assert ours["lr_lambdas"] == theirs["lr_lambdas"] == [None, {"rate": 0.7}]


def test_loading_restores_a_callable_objects_state():
    saved = lr_scheduler.MultiplicativeLR(minigrad_optimizer(), Decay(0.7))
    lr_history(saved, 3)
    decay = Decay(0.1)
    resumed = lr_scheduler.MultiplicativeLR(minigrad_optimizer(), decay)
    resumed.load_state_dict(saved.state_dict())
    assert decay.rate == 0.7 and resumed.last_epoch == 3


def test_a_state_dict_without_lr_lambdas_from_an_older_minigrad_still_loads():
    scheduler = lr_scheduler.LambdaLR(minigrad_optimizer(), lambda epoch: 0.5**epoch)
    lr_history(scheduler, 2)
    old_format = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    fresh = lr_scheduler.LambdaLR(minigrad_optimizer(), lambda epoch: 0.5**epoch)
    fresh.load_state_dict(old_format)
    assert fresh.last_epoch == 2


def test_load_rejects_lr_lambdas_of_the_wrong_length_and_changes_nothing():
    scheduler = lr_scheduler.LambdaLR(minigrad_optimizer(), Decay(0.5))
    before = scheduler.state_dict()
    with pytest.raises(ValueError, match=r"lr_lambdas must be a list of 2 entries"):
        scheduler.load_state_dict({**before, "last_epoch": 4, "lr_lambdas": [None]})
    assert scheduler.state_dict() == before


@pytest.mark.parametrize("cls", [lr_scheduler.LambdaLR, lr_scheduler.MultiplicativeLR])
def test_an_lr_lambda_giving_a_negative_lr_is_refused_and_nothing_changes(cls):
    optimizer = minigrad_optimizer()
    scheduler = cls(optimizer, lambda epoch: 1.0 if epoch < 2 else -0.5)
    lr_history(scheduler, 1)
    before = group_lrs(optimizer)
    optimizer.step()
    with pytest.raises(ValueError, match=rf"{cls.__name__}: the lr of parameter group 0 at "
                                         r"epoch 2 would be -0.0\d+; a learning rate must be "
                                         r"a number >= 0"):
        scheduler.step()
    assert group_lrs(optimizer) == before and scheduler.last_epoch == 1


@pytest.mark.parametrize("value", [float("nan"), None, "0.5"])
def test_an_lr_lambda_giving_a_non_number_is_refused_at_construction(value):
    optimizer = minigrad_optimizer()
    with pytest.raises((ValueError, TypeError)):
        lr_scheduler.LambdaLR(optimizer, lambda epoch: value)
    assert group_lrs(optimizer) == list(GROUP_LRS)
    assert all("initial_lr" not in group for group in optimizer.param_groups)


def test_a_failing_lr_lambda_leaves_the_optimizer_as_it_was():
    optimizer = minigrad_optimizer()
    before = [dict(group) for group in optimizer.param_groups]

    def broken(epoch):
        raise ZeroDivisionError("user bug")

    with pytest.raises(ZeroDivisionError, match="user bug"):
        lr_scheduler.LambdaLR(optimizer, broken)
    assert optimizer.param_groups == before  # no initial_lr left behind
    assert not hasattr(optimizer.step, "_tracked_by_scheduler")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), "1 lr_lambdas for 2 parameter"),
        (lambda o: lr_scheduler.LambdaLR(o, 0.5), "lr_lambda 0 must be callable"),
        (lambda o: lr_scheduler.MultiplicativeLR(o, [abs, None]), "lr_lambda 1 must be callable"),
    ],
)
def test_function_schedule_rejects_nonsense_arguments(make, message):
    optimizer = minigrad_optimizer()
    with pytest.raises(ValueError, match=message):
        make(optimizer)
    assert group_lrs(optimizer) == list(GROUP_LRS)
