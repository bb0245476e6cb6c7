"""CyclicLR against torch: lr and momentum (SGD) or beta1 (Adam) after every batch."""

import pytest

from minigrad import optim
from minigrad.optim import lr_scheduler
from tests.optim.lr_scheduler.harness import (
    GROUP_LRS,
    assert_matches_torch,
    assert_resumes_like_torch,
    group_lrs,
    minigrad_optimizer,
    torch_optimizer,
)
from tests.optim.trajectory import make_parameters


class Halving:
    """A stateful scale function (a callable object: its ``__dict__`` is saved)."""

    def __init__(self, base):
        self.base = base

    def __call__(self, x):
        return self.base**x


CASES = {
    "triangular": (lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=4), 20),
    "triangular_up_down": (lambda S, o: S.CyclicLR(o, [0.01, 0.002], [0.1, 0.05],
                                                   step_size_up=3, step_size_down=5), 25),
    "triangular2": (lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2, mode="triangular2"),
                    20),
    "exp_range": (lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="exp_range",
                                          gamma=0.9), 20),
    "fractional_step_sizes": (lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2.5,
                                                      step_size_down=1.5), 15),
    "no_falling_half": (lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3,
                                                step_size_down=0), 10),
    "scale_fn_cycle": (lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2,
                                               scale_fn=lambda x: 1 / (1 + x)), 16),
    "scale_fn_iterations": (lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2,
                                                    scale_fn=Halving(0.9),
                                                    scale_mode="iterations"), 16),
    "momentum_bounds_per_group": (lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3,
                                                          base_momentum=[0.5, 0.7],
                                                          max_momentum=[0.95, 0.8]), 12),
    "no_momentum_cycling": (lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3,
                                                    cycle_momentum=False), 12),
}
KINDS = ["sgd", "adam"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_cyclic_lr_and_momentum_match_torch_at_every_step(make, steps, kind):
    assert_matches_torch(make, steps, kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("make, steps", CASES.values(), ids=CASES.keys())
def test_cyclic_resumed_from_a_checkpoint_mid_run_matches_torch(make, steps, kind, tmp_path):
    assert_resumes_like_torch(make, steps, steps // 2 + 1, tmp_path, kind)


def test_cyclic_writes_the_same_group_entries_as_torch():
    torch = pytest.importorskip("torch")
    ours = minigrad_optimizer(kind="adam")
    theirs = torch_optimizer(torch, kind="adam")
    lr_scheduler.CyclicLR(ours, 0.01, 0.1, base_momentum=0.6, max_momentum=0.85)
    torch.optim.lr_scheduler.CyclicLR(theirs, 0.01, 0.1, base_momentum=0.6, max_momentum=0.85)
    for mine, reference in zip(ours.param_groups, theirs.param_groups, strict=True):
        for key in ("lr", "initial_lr", "betas", "max_momentum", "base_momentum"):
            assert mine[key] == reference[key], key


def test_cyclic_saves_a_scale_function_objects_state():
    scale = Halving(0.5)
    scheduler = lr_scheduler.CyclicLR(minigrad_optimizer(), 0.01, 0.1, scale_fn=scale)
    assert scheduler.state_dict()["scale_fn"] == {"base": 0.5}
    fresh_scale = Halving(0.25)
    fresh = lr_scheduler.CyclicLR(minigrad_optimizer(), 0.01, 0.1, scale_fn=fresh_scale)
    fresh.load_state_dict(scheduler.state_dict())
    assert fresh_scale.base == 0.5


def test_cyclic_needs_momentum_or_betas_to_cycle_them():
    class Plain(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1, weight_decay=0.0))

    optimizer = Plain(make_parameters([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="cycle_momentum=True needs an optimizer with momentum "
                                         "or betas; Plain has neither"):
        lr_scheduler.CyclicLR(optimizer, 0.01, 0.1)
    assert optimizer.param_groups[0]["lr"] == 0.1
    lr_scheduler.CyclicLR(optimizer, 0.01, 0.1, cycle_momentum=False)
    assert optimizer.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(base_lr=[0.01]), ValueError,
         "base_lr has 1 entries, the optimizer has 2 parameter groups"),
        (dict(base_lr=-0.01), ValueError, r"base_lr\[0\] must be a number >= 0"),
        (dict(max_lr=[0.1, "x"]), TypeError, r"max_lr\[1\] must be a number"),
        (dict(step_size_up=0), ValueError, "step_size_up must be a number > 0, got 0"),
        (dict(step_size_down=-2), ValueError, "step_size_down must be a number >= 0, got -2"),
        (dict(mode="triangle"), ValueError,
         "mode must be 'triangular', 'triangular2' or 'exp_range'"),
        (dict(scale_fn=3.0), ValueError, "scale_fn must be callable or None, got float"),
        (dict(scale_fn=abs, scale_mode="epoch"), ValueError,
         "scale_mode must be 'cycle' or 'iterations'"),
        (dict(gamma=-1.0), ValueError, "gamma must be a number >= 0, got -1.0"),
        (dict(cycle_momentum="yes"), TypeError, "cycle_momentum must be True or False, got 'yes'"),
        (dict(max_momentum=-0.9), ValueError, r"max_momentum\[0\] must be a number >= 0"),
        (dict(base_momentum=[0.8, 0.8, 0.8]), ValueError, "base_momentum has 3 entries"),
    ],
)
def test_cyclic_rejects_nonsense_arguments_and_leaves_the_optimizer_alone(kwargs, error, message):
    optimizer = minigrad_optimizer()
    before = [dict(group) for group in optimizer.param_groups]
    arguments = {"base_lr": 0.01, "max_lr": 0.1, **kwargs}
    with pytest.raises(error, match=message):
        lr_scheduler.CyclicLR(optimizer, **arguments)
    assert optimizer.param_groups == before
    assert group_lrs(optimizer) == list(GROUP_LRS)


def test_cyclic_refuses_a_beta1_of_1_for_adam():
    optimizer = minigrad_optimizer(kind="adam")
    with pytest.raises(ValueError, match=r"max_momentum\[0\] must be a number >= 0 and < 1, "
                                         r"got 1.0"):
        lr_scheduler.CyclicLR(optimizer, 0.01, 0.1, max_momentum=1.0)


def test_a_scale_fn_pushing_momentum_below_zero_is_refused_and_nothing_changes():
    optimizer = minigrad_optimizer()
    scheduler = lr_scheduler.CyclicLR(optimizer, 0.01, 0.1, step_size_up=2,
                                      scale_fn=lambda x: 1.0 if x < 2 else 20.0)
    for _ in range(4):  # the first cycle: scale 1
        optimizer.step()
        scheduler.step()
    before = [dict(group) for group in optimizer.param_groups]
    optimizer.step()
    with pytest.raises(ValueError, match=r"CyclicLR \(parameter group 0, step 5\): momentum "
                                         r"must be a number >= 0 and <= 1, got -0.(1|0999)"):
        scheduler.step()  # 0.9 - (0.9 - 0.8) * 0.5 * 20
    assert optimizer.param_groups == before and scheduler.last_epoch == 4
