"""SGD against torch.optim.SGD: same gradients in, same weights out, step after step."""

import numpy as np
import pytest

from minigrad import optim
from tests.optim.trajectory import (
    all_params,
    assert_same_trajectory,
    initial_values,
    make_parameters,
    noise,
    run_minigrad,
    run_torch,
    two_groups,
)

CONFIGS = {
    "plain": dict(lr=0.1),
    "momentum": dict(lr=0.05, momentum=0.9),
    "momentum_dampening": dict(lr=0.05, momentum=0.8, dampening=0.3),
    "weight_decay": dict(lr=0.1, weight_decay=0.05),
    "nesterov_weight_decay": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "all_but_nesterov": dict(lr=0.02, momentum=0.5, dampening=0.1, weight_decay=0.2),
    "maximize": dict(lr=0.1, maximize=True),
    "maximize_nesterov_weight_decay": dict(lr=0.05, momentum=0.9, nesterov=True,
                                           weight_decay=0.01, maximize=True),
    "maximize_momentum_dampening": dict(lr=0.05, momentum=0.8, dampening=0.3, maximize=True),
}


@pytest.mark.parametrize("groups", [all_params, two_groups], ids=["one_group", "two_groups"])
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_sgd_trajectory_matches_torch_over_100_steps(config, groups):
    torch = pytest.importorskip("torch")
    values, noises = initial_values(seed=1), noise(seed=1, steps=100)
    params = make_parameters(values)
    ours = run_minigrad(optim.SGD(groups(params), **config), params, noises)
    theirs = run_torch(lambda p: torch.optim.SGD(p, foreach=False, **config), groups,
                       values, noises)
    assert_same_trajectory(ours, theirs)


def test_sgd_first_momentum_step_copies_the_gradient_without_dampening():
    param = make_parameters([np.array([1.0])])[0]
    sgd = optim.SGD([param], lr=1.0, momentum=0.9, dampening=0.5)
    param.grad[:] = 2.0
    sgd.step()
    np.testing.assert_array_equal(sgd.state[param]["momentum_buffer"], [2.0])
    np.testing.assert_array_equal(param.data, [-1.0])
    sgd.step()  # buf = 0.9 * 2 + 0.5 * 2
    np.testing.assert_allclose(sgd.state[param]["momentum_buffer"], [2.8])


def test_sgd_without_momentum_keeps_no_state_and_leaves_grad_untouched():
    param = make_parameters([np.ones(3)])[0]
    sgd = optim.SGD([param], lr=0.5, weight_decay=0.1)
    param.grad[:] = 1.0
    sgd.step()
    assert sgd.state == {}
    np.testing.assert_array_equal(param.grad, np.ones(3))
    np.testing.assert_allclose(param.data, 1 - 0.5 * (1 + 0.1))


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_sgd_keeps_float32_in_place_and_close_to_torch(config):
    torch = pytest.importorskip("torch")
    values = initial_values(seed=2, dtype=np.float32)
    noises = noise(seed=2, steps=20, dtype=np.float32)
    params = make_parameters(values)
    arrays = [p.data for p in params]
    sgd = optim.SGD(params, **config)
    sgd.param_groups[0]["lr"] = np.float64(config["lr"])  # as a loaded checkpoint may hold it
    ours = run_minigrad(sgd, params, noises)
    assert all(p.data is a and a.dtype == np.float32 for p, a in zip(params, arrays, strict=True))
    assert all(b.dtype == np.float32 for s in sgd.state.values() for b in s.values())
    theirs = run_torch(lambda p: torch.optim.SGD(p, foreach=False, **config), all_params,
                       values, noises)
    assert_same_trajectory(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(lr=-0.1), ValueError, "lr must be a number >= 0"),
        (dict(lr=0.1, momentum=-0.5), ValueError, "momentum must be a number >= 0"),
        (dict(lr=0.1, weight_decay=-1.0), ValueError, "weight_decay must be a number >= 0"),
        (dict(lr=0.1, dampening=float("nan")), ValueError, "dampening must be a number >= 0"),
        (dict(lr=0.1, nesterov=True), ValueError,
         "nesterov=True needs momentum > 0 and dampening == 0"),
        (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening == 0"),
        (dict(lr="0.1"), TypeError, "lr must be a number"),
        (dict(lr=0.1, maximize=1), TypeError, "maximize must be True or False, got 1"),
        (dict(lr=0.1, momentum=0.9, nesterov="yes"), TypeError, "nesterov must be True or False"),
    ],
)
def test_sgd_rejects_nonsense_hyperparameters(kwargs, error, message):
    with pytest.raises(error, match=message):
        optim.SGD(make_parameters([np.ones(2)]), **kwargs)


def test_sgd_maximize_ascends_along_the_gradient():
    param = make_parameters([np.array([1.0, -1.0])])[0]
    sgd = optim.SGD([param], lr=0.5, maximize=True)
    param.grad[:] = [2.0, 4.0]
    sgd.step()
    np.testing.assert_array_equal(param.data, [2.0, 1.0])
    np.testing.assert_array_equal(param.grad, [2.0, 4.0])  # the gradient is left as it was
