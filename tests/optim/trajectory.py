"""Runs a minigrad optimizer and its torch twin on the same gradients, step by step.

The gradient of parameter i at step t is ``sin(3 p) + noise[t][i]``: it depends on the
current weights, so any difference in an update feeds into every later step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from minigrad.nn import Parameter

SHAPES = [(4, 3), (3,), (2, 3, 2), (5,)]


def initial_values(seed: int, dtype=np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]


def noise(seed: int, steps: int, dtype=np.float64) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed + 1)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]


def gradient(data: np.ndarray, step_noise: np.ndarray) -> np.ndarray:
    return np.sin(3 * data) + step_noise


def make_parameters(values: list[np.ndarray]) -> list[Parameter]:
    return [Parameter(v.copy()) for v in values]


def run_minigrad(optimizer, params: list[Parameter], noises) -> list[list[np.ndarray]]:
    """Steps ``optimizer`` once per entry of ``noises``; returns the weights after each step."""
    history = []
    for step_noise in noises:
        optimizer.zero_grad()
        for p, n in zip(params, step_noise, strict=True):
            p.grad += gradient(p.data, n)
        optimizer.step()
        history.append([p.data.copy() for p in params])
    return history


def run_torch(make_optimizer: Callable, group_params: Callable, values, noises):
    """The torch twin of ``run_minigrad``: ``make_optimizer(group_params(tensors))``."""
    import torch

    tensors = [torch.tensor(v, requires_grad=True) for v in values]
    optimizer = make_optimizer(group_params(tensors))
    history = []
    for step_noise in noises:
        for t, n in zip(tensors, step_noise, strict=True):
            t.grad = torch.from_numpy(gradient(t.detach().numpy(), n))
        optimizer.step()
        history.append([t.detach().numpy().copy() for t in tensors])
    return history


def all_params(params):
    return params


def two_groups(params):
    """Two groups with their own lr and weight decay (the second exempt from decay)."""
    return [
        {"params": params[:2], "lr": 0.05, "weight_decay": 0.1},
        {"params": params[2:], "weight_decay": 0.0},
    ]


def assert_same_trajectory(ours, theirs, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    assert len(ours) == len(theirs)
    for step, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        for index, (a, b) in enumerate(zip(mine, reference, strict=True)):
            np.testing.assert_allclose(
                a, b, rtol=rtol, atol=atol, err_msg=f"parameter {index} after step {step + 1}"
            )


def is_plain(value) -> bool:
    """Whether ``value`` holds only what a pickle-free .npz checkpoint can store."""
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and is_plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(is_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool, np.ndarray))
