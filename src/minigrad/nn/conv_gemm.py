"""Conv2d's GEMM algorithm on channels-last data: any kernel, stride and padding.

Per chunk of samples, the input windows are unfolded into a column matrix (one row per
output position, ``kernels.im2col_channels_last``), and one GEMM with the weights laid
(kh*kw*C_in, C_out) gives the output rows, already channels-last. Backward: the weight
gradient is ``dy^T @ cols`` and the input gradient the columns' gradient ``dy @ W^T``
folded back (col2im). A 1x1 convolution at stride 1 without padding needs no columns at
all: the input itself, viewed as (N*H*W, C_in), is the column matrix. The columns come
from the thread's workspace (``minigrad.nn.workspace``) and are recomputed in backward.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial

import numpy as np

from minigrad import parallel
from minigrad.kernels import im2col_channels_last as kernels
from minigrad.nn import workspace


def is_pointwise(kernel_size: tuple, stride: tuple, padding: tuple) -> bool:
    """1x1, stride 1, no padding: the input is its own column matrix."""
    return kernel_size == (1, 1) and stride == (1, 1) and padding == (0, 0)


def bytes_per_sample(in_channels: int, kernel_size: tuple, out_size, itemsize: int) -> int:
    """Scratch one sample takes in backward, the larger pass: its columns and their
    gradient."""
    return 2 * in_channels * kernel_size[0] * kernel_size[1] * int(np.prod(out_size)) * itemsize


def _weight_rows(weight: np.ndarray) -> np.ndarray:
    """(O, C, kh, kw) -> (O, kh*kw*C), the column order of a row of ``cols``."""
    return np.ascontiguousarray(weight.transpose(0, 2, 3, 1)).reshape(weight.shape[0], -1)


@contextmanager
def _columns(x, geometry, out_size, count=1):
    """The column matrix of the samples ``x`` (n_c, H, W, C) in this thread's workspace
    (the input itself for a 1x1), and ``count - 1`` more arrays of its shape there."""
    rows = x.shape[0] * out_size[0] * out_size[1]
    width = x.shape[3] * geometry[0][0] * geometry[0][1]
    nbytes = rows * width * x.itemsize
    pointwise = is_pointwise(*geometry)
    taken = count - 1 if pointwise else count
    with workspace.reserve(taken * workspace.padded(nbytes)) as carver:
        arrays = [carver.take(nbytes).view(x.dtype).reshape(rows, width) for _ in range(taken)]
        if pointwise:
            yield [x.reshape(-1, x.shape[3])] + arrays
            return
        kernel_size, stride, padding = geometry
        kernels.im2col(x, *kernel_size, *stride, *padding, *out_size, arrays[0])
        yield arrays


def _forward_range(x, weight_rows, bias, geometry, out_size, y, a, b):
    area = out_size[0] * out_size[1]
    with _columns(x[a:b], geometry, out_size) as (cols,):
        y_range = np.matmul(cols, weight_rows.T, out=y[a * area:b * area])  # (n_c*L, O)
    if bias is not None:
        y_range += bias


def forward(x, weight, bias, geometry, chunk, out_size):
    """y (N, OH, OW, O) of ``x`` (N, H, W, C), channels-last; ``geometry`` is
    (kernel_size, stride, padding); ``bias`` (O,) or None. Each chunk is split over the
    threads by samples."""
    n, area = x.shape[0], out_size[0] * out_size[1]
    weight_rows = _weight_rows(weight)
    y = np.empty((n * area, weight.shape[0]), dtype=x.dtype)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        parallel.split(partial(_forward_range, x[start:stop], weight_rows, bias, geometry,
                               out_size, y[start * area:stop * area]), stop - start)
    return y.reshape((n,) + tuple(out_size) + (weight.shape[0],))


def _backward_range(x, dy_rows, weight_rows, geometry, out_size, dx, a, b):
    """Samples a:b: writes their input gradient, returns their share of dL/dweight rows."""
    area = out_size[0] * out_size[1]
    dy_range = dy_rows[a * area:b * area]
    with _columns(x[a:b], geometry, out_size, count=2) as (cols, dcols):
        if is_pointwise(*geometry):
            np.matmul(dy_range, weight_rows, out=dx[a:b].reshape(-1, x.shape[3]))
        else:
            np.matmul(dy_range, weight_rows, out=dcols)
            kernels.col2im(dcols, *geometry[0], *geometry[1], *geometry[2], *out_size,
                           dx[a:b])
        return dy_range.T @ cols  # (O, n_c*L) @ (n_c*L, K)


def backward(x, dy, weight, geometry, chunk, dweight):
    """Adds the weight gradient into ``dweight`` (O, C, kh, kw); returns the input gradient
    (N, H, W, C). ``x`` (N, H, W, C) and ``dy`` (N, OH, OW, O) are channels-last."""
    n, out_size = x.shape[0], dy.shape[1:3]
    area = out_size[0] * out_size[1]
    weight_rows = _weight_rows(weight)
    dy_rows = dy.reshape(n * area, -1)
    dweight_rows = np.zeros_like(weight_rows)
    dx = np.empty_like(x)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        dweight_rows += sum(parallel.split(partial(
            _backward_range, x[start:stop], dy_rows[start * area:stop * area], weight_rows,
            geometry, out_size, dx[start:stop]), stop - start))
    dweight += dweight_rows.reshape(weight.shape[0], *geometry[0], -1).transpose(0, 3, 1, 2)
    return dx
