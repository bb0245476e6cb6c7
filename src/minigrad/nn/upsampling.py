"""Upsample: nearest, nearest-exact and bilinear resizing of images, as torch.nn.Upsample.

Both modes are separable: each output row (then column) reads one or two input rows at
indices and weights that depend only on the sizes, so forward is two gathers along an axis
and backward is their adjoint, two scatter-adds. Indices are computed in the input's dtype,
with torch's formulas, so outputs equal torch's bit for bit up to the order of additions.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from minigrad.checks import check_choice
from minigrad.nn.module import Module
from minigrad.nn.validation import check_float_input, check_grad_shape, describe

MODES = ("nearest", "nearest-exact", "bilinear")


def _pair_of(value, name: str, kind, minimum) -> tuple:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or not all(isinstance(v, kind) and not isinstance(v, bool)
                                   and v > minimum for v in values):
        raise ValueError(f"Upsample: {name} must be a positive number or a pair of them, "
                         f"got {value!r}")
    return values


def _axis_plan(in_size: int, out_size: int, scale: float | None, mode: str,
               align_corners: bool, dtype: np.dtype):
    """(index0, index1, weight0, weight1) of one axis: output i = w0 * in[i0] + w1 * in[i1].

    Nearest modes have ``index1 = weight0 = weight1 = None``. ``scale`` is the user's
    scale factor (None when the size was given, or recomputed): torch then uses in / out.
    """
    if out_size == in_size and mode != "nearest-exact":  # torch copies, whatever the scale
        return np.arange(out_size), None, None, None
    if mode == "nearest" and out_size == 2 * in_size:  # torch halves, whatever the scale
        return np.arange(out_size) // 2, None, None, None
    # torch computes nearest indices in float32 for every input dtype
    dtype = np.dtype(np.float32) if mode.startswith("nearest") else dtype
    positions = np.arange(out_size, dtype=dtype)
    if mode == "bilinear" and align_corners:
        ratio = dtype.type((in_size - 1) / (out_size - 1) if out_size > 1 else 0)
    else:
        ratio = dtype.type(1 / scale) if scale else dtype.type(in_size) / dtype.type(out_size)
    if mode == "nearest":
        return np.minimum(np.floor(ratio * positions).astype(np.int64), in_size - 1), \
            None, None, None
    if mode == "nearest-exact":
        source = np.floor((positions + dtype.type(0.5)) * ratio).astype(np.int64)
        return np.minimum(source, in_size - 1), None, None, None
    if align_corners:
        source = ratio * positions
    else:
        source = np.maximum(ratio * (positions + dtype.type(0.5)) - dtype.type(0.5), 0)
    index0 = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    weight1 = np.clip(source - index0.astype(dtype), 0, 1).astype(dtype, copy=False)
    index1 = index0 + (index0 < in_size - 1)
    return index0, index1, 1 - weight1, weight1


def _gather(x: np.ndarray, plan, axis: int) -> np.ndarray:
    index0, index1, weight0, weight1 = plan
    y = np.take(x, index0, axis=axis)
    if index1 is None:
        return y
    view = (-1,) + (1,) * (x.ndim - 1 - axis)
    y *= weight0.reshape(view)
    y += np.take(x, index1, axis=axis) * weight1.reshape(view)
    return y


def _scatter(grad: np.ndarray, plan, axis: int, size: int) -> np.ndarray:
    """The adjoint of ``_gather``: (..., out, ...) -> (..., size, ...) along ``axis``."""
    index0, index1, weight0, weight1 = plan
    if index1 is None:
        return _sum_runs(grad, index0, axis, size)
    view = (-1,) + (1,) * (grad.ndim - 1 - axis)
    return (_sum_runs(grad * weight0.reshape(view), index0, axis, size)
            + _sum_runs(grad * weight1.reshape(view), index1, axis, size))


def _sum_runs(grad: np.ndarray, index: np.ndarray, axis: int, size: int) -> np.ndarray:
    """out[j] = sum of grad[i] over the i with index[i] == j, along ``axis``.

    ``index`` never decreases, so each j owns one run of consecutive i: ``reduceat`` sums
    the runs in one vectorised pass. A zero slice appended at the end gives the runs of
    the last positions (possibly empty) a valid start; empty runs are then zeroed.
    """
    starts = np.searchsorted(index, np.arange(size))
    empty = np.diff(np.append(starts, index.size)) == 0
    pad_shape = list(grad.shape)
    pad_shape[axis] = 1
    padded = np.concatenate([grad, np.zeros(pad_shape, grad.dtype)], axis=axis)
    sums = np.add.reduceat(padded, starts, axis=axis)
    if empty.any():
        sums[(slice(None),) * axis + (empty,)] = 0
    return sums


class Upsample(Module):
    """Resizes (N, C, H, W) images to (N, C, OH, OW), as torch.nn.Upsample.

    Give either ``size`` (OH, OW), an int or a pair, or ``scale_factor``, a number or a pair,
    with OH = floor(H * scale). ``mode``: "nearest" (torch's default: source index
    floor(i * H / OH)), "nearest-exact" (floor((i + 0.5) * H / OH), the pixel-centre
    rule) or "bilinear" (``align_corners`` False by default: pixel centres; True: the
    corner pixels of input and output coincide). With a ``scale_factor`` the formulas use
    1 / scale_factor in place of H / OH, as torch does, unless ``recompute_scale_factor``.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__()
        check_choice(mode, "Upsample: mode", MODES)
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample needs exactly one of size and scale_factor, got "
                             f"size={size!r}, scale_factor={scale_factor!r}")
        if align_corners is not None and mode != "bilinear":
            raise ValueError("Upsample align_corners can only be set with mode='bilinear', "
                             f"got mode={mode!r}")
        if recompute_scale_factor and size is not None:
            raise ValueError("Upsample recompute_scale_factor is not meaningful with a size")
        if size is not None:
            _pair_of(size, "size", numbers.Integral, 0)
        else:
            factors = _pair_of(scale_factor, "scale_factor", numbers.Real, 0)
            scale_factor = tuple(map(float, factors)) if isinstance(scale_factor, (tuple, list)) \
                else float(scale_factor)
        self.size = size
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        if self.size is not None:
            return tuple(int(v) for v in _pair_of(self.size, "size", numbers.Integral, 0))
        scales = _pair_of(self.scale_factor, "scale_factor", numbers.Real, 0)
        return math.floor(height * scales[0]), math.floor(width * scales[1])

    def _plans(self, x: np.ndarray):
        (height, width), (oh, ow) = x.shape[2:], self.output_size(*x.shape[2:])
        if oh < 1 or ow < 1:
            raise ValueError(f"{describe(self)}: input of shape {x.shape} gives an empty "
                             f"output of size {(oh, ow)}")
        use_scales = self.size is None and not self.recompute_scale_factor
        scales = _pair_of(self.scale_factor, "scale_factor", numbers.Real, 0) if use_scales \
            else (None, None)
        align = bool(self.align_corners)
        return (_axis_plan(height, oh, scales[0], self.mode, align, x.dtype),
                _axis_plan(width, ow, scales[1], self.mode, align, x.dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, (4,), "(N, C, H, W)")
        rows, columns = self._plans(x)
        self.save_for_backward(x.shape, rows, columns)
        return _gather(_gather(x, rows, axis=2), columns, axis=3)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape, rows, columns = self.pop_saved()
        check_grad_shape(self, dy, shape[:2] + (rows[0].size, columns[0].size))
        return _scatter(_scatter(dy, columns, axis=3, size=shape[3]), rows, axis=2,
                        size=shape[2])

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None \
            else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"
