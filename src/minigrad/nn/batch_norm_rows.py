"""BatchNorm2d's channels-last path: (N*H*W, C) rows, split over the threads by rows.

The per-channel sums of each range go into the range's own float64 vectors, added up at
the end; the element-wise passes write disjoint rows.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from minigrad import parallel
from minigrad.kernels import normalization as kernels


def statistics(x: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance of the rows ``x`` (M, C), two passes."""
    rows, channels = x.shape
    total = sum(parallel.split(partial(_row_sums, x), rows, x.size))
    mean = total / rows
    squares = sum(parallel.split(partial(_row_squares, x, mean), rows, x.size))
    return mean.astype(dtype), (squares / rows).astype(dtype)


def _row_sums(x, a, b):
    total = np.zeros(x.shape[1])
    kernels.row_sums(x[a:b], total)
    return total


def _row_squares(x, mean, a, b):
    total = np.zeros(x.shape[1])
    kernels.row_squared_deviations(x[a:b], mean, total)
    return total


def normalize(x, mean, inv_std, weight, bias) -> tuple[np.ndarray, np.ndarray]:
    """(x_hat, y) of the rows ``x``: ``x_hat = (x - mean) * inv_std``, ``y = x_hat * weight
    + bias``."""
    x_hat, y = np.empty_like(x), np.empty_like(x)
    parallel.split(lambda a, b: kernels.normalize_rows(x[a:b], mean, inv_std, weight, bias,
                                                       x_hat[a:b], y[a:b]), x.shape[0],
                   x.size)
    return x_hat, y


def output_only(x, mean, scale, bias) -> np.ndarray:
    """``(x - mean) * scale + bias`` of the rows ``x``, without the normalised input (for a
    forward that no backward will follow)."""
    y = np.empty_like(x)
    parallel.split(lambda a, b: kernels.shift_scale_rows(x[a:b], mean, scale, bias, y[a:b]),
                   x.shape[0], x.size)
    return y


def _gradient_sums_range(dy, x_hat, a, b):
    sum_dy, sum_dy_x_hat = np.zeros(dy.shape[1]), np.zeros(dy.shape[1])
    kernels.gradient_sums_rows(dy[a:b], x_hat[a:b], sum_dy, sum_dy_x_hat)
    return np.stack([sum_dy, sum_dy_x_hat])


def gradient_sums(dy, x_hat) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel float64 sums of ``dy`` and ``dy * x_hat`` over the rows."""
    sum_dy, sum_dy_x_hat = sum(parallel.split(partial(_gradient_sums_range, dy, x_hat),
                                              dy.shape[0], dy.size))
    return sum_dy, sum_dy_x_hat


def input_gradient(dy, x_hat, scale, mean_dy, mean_dy_x_hat) -> np.ndarray:
    """``scale * (dy - mean_dy - x_hat * mean_dy_x_hat)`` per channel, over the rows."""
    dx = np.empty_like(dy)
    parallel.split(lambda a, b: kernels.input_gradient_rows(
        dy[a:b], x_hat[a:b], scale, mean_dy, mean_dy_x_hat, dx[a:b]), dy.shape[0],
        dy.size)
    return dx
