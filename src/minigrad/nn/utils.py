"""Gradient clipping with torch.nn.utils' names and numbers, on minigrad Parameters.

Call it between ``model.backward(...)`` and ``optimizer.step()``::

    model.backward(loss_fn.backward())
    total_norm = clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()

Gradients are changed in place and keep their dtype. The total norm is returned as a 0-d
``numpy.ndarray`` in the gradients' dtype (torch returns a 0-d tensor): ``float(norm)``
or ``norm.item()`` give the Python number.
"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.checks import check_number
from minigrad.nn.module import Parameter


def _parameters(parameters: Parameter | Iterable[Parameter], owner: str) -> list[Parameter]:
    """A list of the Parameters given (one, or an iterable), with torch's empty-generator
    warning."""
    if isinstance(parameters, Parameter):
        return [parameters]
    is_generator = isinstance(parameters, types.GeneratorType)
    try:
        parameters = list(parameters)
    except TypeError:
        raise TypeError(f"{owner}: parameters must be a Parameter or an iterable of "
                        f"Parameters, got {type(parameters).__name__}") from None
    for index, p in enumerate(parameters):
        if not isinstance(getattr(p, "grad", None), np.ndarray):
            raise TypeError(f"{owner}: parameters[{index}] must be a Parameter (with a .grad "
                            f"array), got {type(p).__name__}")
    if is_generator and not parameters:
        warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                      stacklevel=3)
    return parameters


def _checked_norm_type(norm_type: Any, owner: str) -> float:
    """``norm_type`` as a float; a string such as ``"inf"`` too, as torch's ``float()`` allows."""
    if isinstance(norm_type, str):
        try:
            norm_type = float(norm_type)
        except ValueError:
            raise ValueError(f"{owner}: norm_type must be a number or 'inf', "
                             f"got {norm_type!r}") from None
    return check_number(norm_type, f"{owner}: norm_type")


def _check_bound(value: Any, name: str, owner: str) -> float:
    """A clipping bound: a real number >= 0 (a negative one would flip the gradients)."""
    return check_number(value, f"{owner}: {name}", minimum=0)


def _vector_norm(array: np.ndarray, norm_type: float, where: str) -> np.ndarray:
    """torch.linalg.vector_norm of the flattened array, in its dtype."""
    if math.isinf(norm_type) and array.size == 0:
        raise ValueError(f"{where} is empty: its inf norm is undefined (torch refuses it too)")
    with np.errstate(divide="ignore"):  # negative norm types: 0 ** -p is inf, as torch has it
        return np.asarray(np.linalg.vector_norm(array, ord=norm_type), dtype=array.dtype)


def get_total_norm(tensors: np.ndarray | Iterable[np.ndarray], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> np.ndarray:
    """The norm of all ``tensors`` (e.g. gradients) as if concatenated into one vector.

    As torch: the norm of the per-array norms, in their common dtype; 0.0 (float32) for
    none. ``foreach`` is accepted for torch's signature and ignored.

    Raises:
        RuntimeError: with ``error_if_nonfinite``, if the norm is NaN or infinite.
    """
    owner = "get_total_norm"
    norm_type = _checked_norm_type(norm_type, owner)
    arrays = [tensors] if isinstance(tensors, np.ndarray) else list(tensors)
    if not arrays:
        return np.array(0.0, dtype=np.float32)
    norms = [_vector_norm(np.asarray(a), norm_type, f"{owner}: array {i}")
             for i, a in enumerate(arrays)]
    total = _vector_norm(np.stack(norms), norm_type, owner)  # np.stack promotes, as torch's
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return total


def clip_grads_with_norm_(parameters: Parameter | Iterable[Parameter], max_norm: float,
                          total_norm: float | np.ndarray, foreach: bool | None = None) -> None:
    """Scales every gradient by ``min(max_norm / (total_norm + 1e-6), 1)``, in place.

    torch's rule: never scales up; a NaN ``total_norm`` makes every gradient NaN and an
    infinite one zeroes them (inf entries become NaN), exactly as in torch.
    """
    owner = "clip_grads_with_norm_"
    parameters = _parameters(parameters, owner)
    max_norm = _check_bound(max_norm, "max_norm", owner)
    if not parameters:
        return
    total_norm = np.asarray(total_norm)
    coefficient = np.minimum(max_norm / (total_norm + 1e-6), 1.0)  # NaN stays NaN, as clamp
    with np.errstate(invalid="ignore"):  # inf * 0 = NaN is the documented outcome
        for p in parameters:
            p.grad *= coefficient.astype(p.grad.dtype)


def clip_grad_norm_(parameters: Parameter | Iterable[Parameter], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> np.ndarray:
    """Rescales the gradients so that their total norm is at most ``max_norm``; torch's rule.

    The total norm is taken over all gradients as one vector (``norm_type``: any p, ``inf``,
    ``-inf`` or 0); each gradient is multiplied in place by ``min(max_norm / (total_norm +
    1e-6), 1)``.

    Args:
        parameters: a Parameter or an iterable of them (e.g. ``model.parameters()``).
        max_norm: the largest total norm allowed (>= 0).
        norm_type: the p of the p-norm (default 2); ``float("inf")`` or ``"inf"`` for the
            largest absolute value.
        error_if_nonfinite: raise ``RuntimeError`` (before touching any gradient) if the
            total norm is NaN or infinite; by default the gradients are scaled anyway, as
            torch does (NaN everywhere for a NaN norm).
        foreach: accepted for torch's signature, ignored.

    Returns:
        The total norm before clipping, a 0-d array in the gradients' dtype.
    """
    owner = "clip_grad_norm_"
    parameters = _parameters(parameters, owner)
    _check_bound(max_norm, "max_norm", owner)
    total_norm = get_total_norm([p.grad for p in parameters], norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_value_(parameters: Parameter | Iterable[Parameter], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamps every gradient entry to ``[-clip_value, clip_value]`` in place (NaN stays NaN).

    Args:
        parameters: a Parameter or an iterable of them.
        clip_value: the bound (>= 0).
        foreach: accepted for torch's signature, ignored.
    """
    owner = "clip_grad_value_"
    parameters = _parameters(parameters, owner)
    clip_value = _check_bound(clip_value, "clip_value", owner)
    for p in parameters:
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
