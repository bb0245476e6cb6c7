"""Input checks shared by the layers: clear errors that name the layer, expected and actual."""

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


def check_int(owner: str, name: str, value, minimum: int | None = None) -> int:
    """``value`` as an int if it is an integer (not a bool) of at least ``minimum``, else a
    TypeError / ValueError naming ``owner``'s argument ``name``, expected and given."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner} {name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner} {name} must be an int >= {minimum}, got {value}")
    return int(value)


def check_number(owner: str, name: str, value, low: float | None = None,
                 high: float | None = None) -> float:
    """``value`` as a float if it is a real number (not a bool, not NaN) in [low, high]
    (either bound may be None), else a TypeError / ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner} {name} must be a number, got {value!r}")
    value = float(value)
    if np.isnan(value) or (low is not None and value < low) or (high is not None
                                                                and value > high):
        expected = (f"in [{low}, {high}]" if low is not None and high is not None
                    else f">= {low}" if low is not None
                    else f"<= {high}" if high is not None else "not NaN")
        raise ValueError(f"{owner} {name} must be a number {expected}, got {value}")
    return value


def check_bool(owner: str, name: str, value) -> bool:
    """``value`` if it is a bool (Python or numpy), else a TypeError naming the argument:
    a string such as "False" would otherwise count as true."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner} {name} must be True or False, got {value!r}")
    return bool(value)


def normalized_dim(layer, name: str, dim: int, ndim: int) -> int:
    """``dim`` in [0, ndim) for a dim given in [-ndim, ndim), else an IndexError naming the
    layer (a dim past the end would otherwise wrap around silently)."""
    if not -ndim <= dim < ndim:
        raise IndexError(f"{describe(layer)}: {name}={dim} is out of range for a {ndim}-D "
                         f"input (expected a dim in [{-ndim}, {ndim - 1}])")
    return dim % ndim
