"""Argument checks shared by the model builders: errors name the model, argument and value."""

from __future__ import annotations

import numpy as np


def positive_int(owner: str, name: str, value) -> int:
    """``value`` as an int if it is a positive integer, else a ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner} {name} must be a positive int, got {value!r}")
    return int(value)


def stage_depths(owner: str, layers, count: int) -> list[int]:
    """``layers`` as a list of ``count`` positive block counts, else a ``ValueError``."""
    if not isinstance(layers, (list, tuple)) or len(layers) != count:
        raise ValueError(f"{owner} layers must be {count} block counts, got {layers!r}")
    return [positive_int(owner, "layers entry", n) for n in layers]


def generator_or_fresh(owner: str, generator) -> np.random.Generator:
    """``generator``, or a fresh unseeded one for None; anything else is a ``TypeError``."""
    if generator is None:
        return np.random.default_rng()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"{owner} generator must be a numpy.random.Generator or None, got "
                        f"{type(generator).__name__} (use np.random.default_rng(seed))")
    return generator
