"""Seeded random inputs shared by the layer tests."""

import numpy as np


def random_input(shape, seed=0, dtype=np.float64, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def generator(seed=0):
    return np.random.default_rng(seed)
