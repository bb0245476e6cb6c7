"""Input checks shared by the layers: clear errors that name the layer, expected and actual.

The constructors' argument checks (ints, numbers, bools, choices) are ``minigrad.checks``.
"""

from __future__ import annotations

import numpy as np


def describe(layer) -> str:
    return f"{type(layer).__name__}({layer.extra_repr()})"


def check_float_input(layer, x, ndims: tuple[int, ...], expected: str) -> np.ndarray:
    """Checks that ``x`` is a float32/float64 ndarray with one of ``ndims`` dimensions.

    ``expected`` describes the shape in words for the error, e.g. ``"(N, 1152)"``.
    Layers with parameters also require the input dtype to equal the parameters' dtype
    (see ``check_dtype_matches``): mixing float32 and float64 would silently upcast.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{describe(layer)} expects a numpy ndarray, got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{describe(layer)} expects float32 or float64 input, got dtype {x.dtype}; "
            "convert with x.astype(np.float32)"
        )
    if x.ndim not in ndims:
        raise ValueError(f"{describe(layer)} expected input of shape {expected}, "
                         f"got input of shape {x.shape}")
    return x


def check_dtype_matches(layer, x: np.ndarray, dtype: np.dtype) -> None:
    if x.dtype != dtype:
        raise TypeError(
            f"{describe(layer)} has {dtype} parameters but got {x.dtype} input; "
            f"cast the input (x.astype(np.{dtype})) or the model (model.to(np.{x.dtype}))"
        )


def check_grad_shape(layer, dy, shape: tuple[int, ...], saved: tuple | None = None) -> None:
    """Refuses a gradient ``dy`` whose shape is not ``shape`` (the forward output's).

    ``saved`` is the context the backward just popped: it is pushed back before raising, so
    a refused gradient leaves the module as it was (a corrected call can still follow).
    """
    if not isinstance(dy, np.ndarray) or dy.shape != shape:
        if saved is not None:
            layer._saved.append(saved)
        got = dy.shape if isinstance(dy, np.ndarray) else type(dy).__name__
        raise ValueError(
            f"{describe(layer)}: backward expected a gradient of shape {shape} "
            f"(the shape of its forward output), got {got}"
        )


def pair(value, name: str) -> tuple[int, int]:
    """Turns an int or a pair of ints into a pair, validating that they are integers."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        return int(value[0]), int(value[1])
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def normalized_dim(layer, name: str, dim: int, ndim: int) -> int:
    """``dim`` in [0, ndim) for a dim given in [-ndim, ndim), else an IndexError naming the
    layer (a dim past the end would otherwise wrap around silently)."""
    if not -ndim <= dim < ndim:
        raise IndexError(f"{describe(layer)}: {name}={dim} is out of range for a {ndim}-D "
                         f"input (expected a dim in [{-ndim}, {ndim - 1}])")
    return dim % ndim
