"""RMSprop against torch.optim.RMSprop: same gradients in, same weights out, step after step."""

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
    "defaults": dict(),
    "alpha_eps": dict(lr=0.005, alpha=0.9, eps=1e-3),
    "weight_decay": dict(lr=0.01, weight_decay=0.1),
    "momentum": dict(lr=0.005, momentum=0.9),
    "centered": dict(lr=0.005, centered=True),
    # alpha < 0.5 makes the centered average's lerp take its other formula.
    "centered_momentum_small_alpha": dict(lr=0.002, alpha=0.4, momentum=0.5, centered=True,
                                          weight_decay=0.01),
    "maximize": dict(lr=0.005, momentum=0.8, maximize=True),
}


@pytest.mark.parametrize("groups", [all_params, two_groups], ids=["one_group", "two_groups"])
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_rmsprop_trajectory_matches_torch_over_100_steps(config, groups):
    torch = pytest.importorskip("torch")
    values, noises = initial_values(seed=8), noise(seed=8, steps=100)
    params = make_parameters(values)
    ours = run_minigrad(optim.RMSprop(groups(params), **config), params, noises)
    theirs = run_torch(lambda p: torch.optim.RMSprop(p, foreach=False, **config), groups,
                       values, noises)
    assert_same_trajectory(ours, theirs)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_rmsprop_keeps_float32_in_place_and_close_to_torch(config):
    torch = pytest.importorskip("torch")
    values = initial_values(seed=9, dtype=np.float32)
    noises = noise(seed=9, steps=20, dtype=np.float32)
    params = make_parameters(values)
    arrays = [p.data for p in params]
    rmsprop = optim.RMSprop(params, **config)
    rmsprop.param_groups[0]["alpha"] = np.float64(rmsprop.param_groups[0]["alpha"])
    ours = run_minigrad(rmsprop, params, noises)
    assert all(p.data is a and a.dtype == np.float32 for p, a in zip(params, arrays, strict=True))
    for state in rmsprop.state.values():
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))
    theirs = run_torch(lambda p: torch.optim.RMSprop(p, foreach=False, **config), all_params,
                       values, noises)
    assert_same_trajectory(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_rmsprop_state_has_torchs_keys_and_values(config):
    torch = pytest.importorskip("torch")
    values, noises = initial_values(seed=10), noise(seed=10, steps=5)
    params = make_parameters(values)
    rmsprop = optim.RMSprop(params, **config)
    run_minigrad(rmsprop, params, noises)
    tensors = [torch.tensor(v, requires_grad=True) for v in values]
    reference = torch.optim.RMSprop(tensors, foreach=False, **config)
    for step_noise in noises:
        for t, n in zip(tensors, step_noise, strict=True):
            t.grad = torch.from_numpy(np.sin(3 * t.detach().numpy()) + n)
        reference.step()
    ours, theirs = rmsprop.state_dict(), reference.state_dict()
    for index, state in ours["state"].items():
        assert set(state) == set(theirs["state"][index])
        assert state["step"] == 5 == int(theirs["state"][index]["step"])
        for key in set(state) - {"step"}:
            np.testing.assert_allclose(state[key], theirs["state"][index][key].numpy(),
                                       rtol=1e-12)
    for key in ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"):
        assert ours["param_groups"][0][key] == theirs["param_groups"][0][key]


def test_rmsprop_defaults_are_torchs():
    torch = pytest.importorskip("torch")
    ours = optim.RMSprop(make_parameters([np.ones(2)])).param_groups[0]
    theirs = torch.optim.RMSprop([torch.ones(2, requires_grad=True)]).param_groups[0]
    assert {k: v for k, v in ours.items() if k != "params"} == {
        k: theirs[k] for k in ours if k != "params"}


def test_rmsprop_load_state_dict_asks_for_the_buffers_its_group_uses():
    params = make_parameters([np.ones(3)])
    plain = optim.RMSprop(params)
    params[0].grad[:] = 1.0
    plain.step()
    centered = optim.RMSprop(make_parameters([np.ones(3)]), momentum=0.9, centered=True)
    saved = plain.state_dict()
    saved["param_groups"][0].update(lr=0.5, momentum=0.9, centered=True)
    with pytest.raises(ValueError, match=r"state of parameter 0 has keys \['square_avg', 'step'\], "
                                         r"expected \['grad_avg', 'momentum_buffer', "
                                         r"'square_avg', 'step'\]"):
        centered.load_state_dict(saved)
    assert centered.state == {} and centered.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(lr=-0.01), ValueError, "lr must be a number >= 0"),
        (dict(alpha=-0.1), ValueError, "alpha must be a number >= 0 and <= 1"),
        (dict(alpha=1.5), ValueError, "alpha must be a number >= 0 and <= 1, got 1.5"),
        (dict(eps=-1e-8), ValueError, "eps must be a number >= 0"),
        (dict(momentum=-0.9), ValueError, "momentum must be a number >= 0"),
        (dict(weight_decay=-1.0), ValueError, "weight_decay must be a number >= 0"),
        (dict(centered="no"), TypeError, "centered must be True or False, got 'no'"),
        (dict(maximize=0), TypeError, "maximize must be True or False, got 0"),
    ],
)
def test_rmsprop_rejects_nonsense_hyperparameters(kwargs, error, message):
    with pytest.raises(error, match=message):
        optim.RMSprop(make_parameters([np.ones(2)]), **kwargs)
