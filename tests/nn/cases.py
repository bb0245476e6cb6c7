"""Seeded random inputs shared by the layer tests."""

import numpy as np


def random_input(shape, seed=0, dtype=np.float64, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def generator(seed=0):
    return np.random.default_rng(seed)


def loss_numerical_gradient(loss_fn, output, target, dy=None, eps=1e-6):
    """Central differences of ``loss_fn(output, target)`` w.r.t. ``output`` (float64); with
    ``reduction="none"`` of ``sum(losses * dy)``."""

    def value(x):
        loss = loss_fn(x, target)
        return float(np.sum(loss * dy)) if dy is not None else loss

    numeric = np.zeros_like(output)
    for index in np.ndindex(output.shape):
        plus, minus = output.copy(), output.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = (value(plus) - value(minus)) / (2 * eps)
    loss_fn.clear_saved()
    return numeric
