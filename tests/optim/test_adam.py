"""Adam and AdamW against torch's: same gradients in, same weights out, step after step."""

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

ADAM_CONFIGS = {
    "defaults": dict(),
    "l2_weight_decay": dict(lr=0.01, weight_decay=0.1),
    # beta1 < 0.5 makes torch's lerp take its other formula (weight 1 - beta1 >= 0.5).
    "small_betas": dict(lr=0.02, betas=(0.3, 0.8)),
    "large_eps": dict(lr=0.05, betas=(0.8, 0.99), eps=1e-2, weight_decay=0.01),
    "amsgrad": dict(lr=0.02, amsgrad=True),
    "amsgrad_l2_small_betas": dict(lr=0.02, betas=(0.3, 0.8), weight_decay=0.1, amsgrad=True),
    "maximize": dict(lr=0.01, maximize=True),
    "amsgrad_maximize_l2": dict(lr=0.01, weight_decay=0.05, amsgrad=True, maximize=True),
}
ADAMW_CONFIGS = {
    "defaults": dict(),
    "strong_decay": dict(lr=0.01, weight_decay=0.5),
    "small_betas": dict(lr=0.02, betas=(0.4, 0.7), eps=1e-6, weight_decay=0.05),
    "amsgrad": dict(lr=0.01, weight_decay=0.1, amsgrad=True),
    "amsgrad_maximize": dict(lr=0.02, betas=(0.4, 0.7), amsgrad=True, maximize=True),
    "maximize": dict(lr=0.01, weight_decay=0.5, maximize=True),
}
CASES = [(optim.Adam, "Adam", c) for c in ADAM_CONFIGS.values()] + [
    (optim.AdamW, "AdamW", c) for c in ADAMW_CONFIGS.values()
]
IDS = [f"Adam-{k}" for k in ADAM_CONFIGS] + [f"AdamW-{k}" for k in ADAMW_CONFIGS]


@pytest.mark.parametrize("groups", [all_params, two_groups], ids=["one_group", "two_groups"])
@pytest.mark.parametrize("cls, torch_name, config", CASES, ids=IDS)
def test_adam_trajectory_matches_torch_over_100_steps(cls, torch_name, config, groups):
    torch = pytest.importorskip("torch")
    values, noises = initial_values(seed=3), noise(seed=3, steps=100)
    params = make_parameters(values)
    ours = run_minigrad(cls(groups(params), **config), params, noises)
    make_torch = getattr(torch.optim, torch_name)
    theirs = run_torch(lambda p: make_torch(p, foreach=False, **config), groups, values, noises)
    assert_same_trajectory(ours, theirs)


@pytest.mark.parametrize("cls, torch_name, config", CASES, ids=IDS)
def test_adam_keeps_float32_in_place_and_close_to_torch(cls, torch_name, config):
    torch = pytest.importorskip("torch")
    values = initial_values(seed=4, dtype=np.float32)
    noises = noise(seed=4, steps=20, dtype=np.float32)
    params = make_parameters(values)
    arrays = [p.data for p in params]
    adam = cls(params, **config)
    group = adam.param_groups[0]
    group["lr"] = np.float64(group["lr"])  # as a loaded checkpoint may hold it
    group["betas"] = tuple(np.float64(b) for b in group["betas"])
    ours = run_minigrad(adam, params, noises)
    assert all(p.data is a and a.dtype == np.float32 for p, a in zip(params, arrays, strict=True))
    for state in adam.state.values():
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))
    make_torch = getattr(torch.optim, torch_name)
    theirs = run_torch(lambda p: make_torch(p, foreach=False, **config), all_params,
                       values, noises)
    assert_same_trajectory(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
def test_adam_state_counts_steps_and_matches_torch_moments(amsgrad):
    torch = pytest.importorskip("torch")
    values, noises = initial_values(seed=5), noise(seed=5, steps=7)
    params = make_parameters(values)
    adam = optim.Adam(params, lr=0.01, weight_decay=0.1, amsgrad=amsgrad)
    run_minigrad(adam, params, noises)
    tensors = [torch.tensor(v, requires_grad=True) for v in values]
    reference = torch.optim.Adam(tensors, lr=0.01, weight_decay=0.1, amsgrad=amsgrad,
                                 foreach=False)
    for step_noise in noises:
        for t, n in zip(tensors, step_noise, strict=True):
            t.grad = torch.from_numpy(np.sin(3 * t.detach().numpy()) + n)
        reference.step()
    theirs = reference.state_dict()["state"]
    ours = adam.state_dict()["state"]
    assert sorted(ours) == sorted(theirs)
    for index, state in ours.items():
        assert set(state) == set(theirs[index])
        assert state["step"] == 7 == int(theirs[index]["step"])
        for key in set(state) - {"step"}:
            np.testing.assert_allclose(state[key], theirs[index][key].numpy(), rtol=1e-12)


def test_amsgrad_normalises_by_the_largest_second_moment_so_far():
    param = make_parameters([np.array([0.0])])[0]
    adam = optim.Adam([param], lr=0.1, betas=(0.0, 0.5), amsgrad=True)
    for grad in (4.0, 0.0):
        param.grad[:] = grad
        adam.step()
    state = adam.state[param]
    np.testing.assert_allclose(state["exp_avg_sq"], [4.0])  # 0.5 * 8 + 0.5 * 0
    np.testing.assert_allclose(state["max_exp_avg_sq"], [8.0])  # kept from step 1


def test_adamw_decays_weights_before_the_adam_update():
    param = make_parameters([np.array([2.0])])[0]
    adamw = optim.AdamW([param], lr=0.1, weight_decay=0.5)
    param.grad[:] = 0.0  # zero gradient: the Adam part moves nothing, only the decay acts
    adamw.step()
    np.testing.assert_allclose(param.data, [2.0 * (1 - 0.1 * 0.5)])
    adam = optim.Adam([param], lr=0.1, weight_decay=0.5)
    before = param.data.copy()
    adam.step()  # L2 decay enters the gradient: the normalised step is about lr
    np.testing.assert_allclose(param.data, before - 0.1, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(lr=-1e-3), ValueError, "lr must be a number >= 0"),
        (dict(eps=-1e-8), ValueError, "eps must be a number >= 0"),
        (dict(betas=(1.0, 0.999)), ValueError, r"betas\[0\] must be a number >= 0 and < 1"),
        (dict(betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be a number >= 0 and < 1"),
        (dict(betas=(0.9,)), ValueError, r"betas must be a tuple \(beta1, beta2\)"),
        (dict(betas=0.9), ValueError, r"betas must be a tuple \(beta1, beta2\), got 0.9"),
        (dict(betas="0.9"), ValueError, r"betas must be a tuple \(beta1, beta2\), got '0.9'"),
        (dict(weight_decay=-0.01), ValueError, "weight_decay must be a number >= 0"),
        (dict(amsgrad="True"), TypeError, "amsgrad must be True or False, got 'True'"),
        (dict(maximize=None), TypeError, "maximize must be True or False, got None"),
    ],
)
@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
def test_adam_rejects_nonsense_hyperparameters(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        cls(make_parameters([np.ones(2)]), **kwargs)


def test_adam_accepts_betas_as_a_list_in_a_group():
    params = make_parameters([np.ones(2), np.ones(3)])
    adam = optim.Adam([{"params": params[:1], "betas": [0.5, 0.9]}, {"params": params[1:]}])
    assert adam.param_groups[0]["betas"] == (0.5, 0.9)
    assert adam.param_groups[1]["betas"] == (0.9, 0.999)
