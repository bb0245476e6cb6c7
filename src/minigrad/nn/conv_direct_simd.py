"""The channels-last direct convolution of Conv2d: the glue between the layer and
``kernels.conv_direct_channels_last``, which computes eight output pixels times a vector
of output channels in registers.

It applies when both channel counts are whole vectors (multiples of 16 in float32, of 8 in
float64; ``simd.lanes``) and the padding is less than the kernel, at any stride. Samples
are split over the threads; each thread pads one sample at a time into its own small
buffer, so scratch memory does not grow with the batch.

The input gradient is the same kernel, run once per stride phase: the input rows u with u
% sh == p receive the output gradient through the kernel rows i with i % sh == p only, so
that phase of dL/dx is a stride-1 correlation of the output gradient with those rows,
rotated by 180 degrees and with the channels swapped. At stride 1 there is one phase: the
whole kernel, the output gradient padded by ``k - 1 - padding``.
"""

from __future__ import annotations

import numpy as np

from minigrad import parallel
from minigrad.kernels import conv_direct_channels_last as kernel
from minigrad.kernels import simd
from minigrad.nn import layout


def applicable(in_channels: int, out_channels: int, kernel_size, stride, padding,
               itemsize: int) -> bool:
    """Whether the kernel handles this geometry, for elements of ``itemsize`` bytes."""
    width = simd.lanes(itemsize)
    return (in_channels % width == 0 and out_channels % width == 0
            and all(0 <= p < k for p, k in zip(padding, kernel_size)))


def _convolve(x_last, packed, bias, offset, stride, out_shape, padded_shape):
    """(N, OH, OW, O) = ``bias`` + the correlation at ``stride`` of ``x_last`` (N, H, W, C)
    placed at ``offset`` in a zero buffer of ``padded_shape`` (rows, columns)."""
    out = np.empty(out_shape, x_last.dtype)
    buffer_shape = (*padded_shape, x_last.shape[3])

    def samples(a, b):
        kernel.forward(x_last[a:b], *offset, *stride, packed, bias, out[a:b],
                       np.empty(buffer_shape, x_last.dtype))

    parallel.split(samples, x_last.shape[0])
    return out


def forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride, padding,
            out_size) -> tuple[np.ndarray, np.ndarray]:
    """(y, the channels-last input kept for backward): y (N, O, OH, OW) a view of
    channels-last memory, from x (N, C, H, W) in either layout."""
    x_last = layout.to_channels_last(x)
    (ph, pw), height, width = padding, x.shape[2], x.shape[3]
    y = _convolve(x_last, kernel.pack(weight), bias, padding, stride,
                  (x.shape[0], *out_size, weight.shape[0]), (height + 2 * ph, width + 2 * pw))
    return layout.from_channels_last(y), x_last


def backward(x_last: np.ndarray, dy: np.ndarray, weight: np.ndarray, stride, padding,
             dweight: np.ndarray, dbias: np.ndarray | None) -> np.ndarray:
    """Adds dL/dweight into ``dweight`` (and dL/dbias into ``dbias``); returns dL/dx (N, C,
    H, W), a view of channels-last memory."""
    dy_last = layout.to_channels_last(dy)
    (ph, pw), (n, height, width, channels) = padding, x_last.shape
    packed = kernel.pack(weight)
    buffer_shape = (height + 2 * ph, width + 2 * pw, channels)

    def samples(a, b):  # their share of dweight (in the packed layout) and of dbias
        dpacked, dbias_part = np.zeros_like(packed), np.zeros(weight.shape[0], dy.dtype)
        kernel.backward_weight(x_last[a:b], ph, pw, *stride, dy_last[a:b], dpacked,
                               dbias_part, np.empty(buffer_shape, dy.dtype))
        return dpacked, dbias_part

    for dpacked, dbias_part in parallel.split(samples, n):
        kernel.unpack_into(dpacked, dweight)
        if dbias is not None:
            dbias += dbias_part
    return layout.from_channels_last(_input_gradient(dy_last, weight, stride, padding,
                                                     x_last.shape))


def _phase(residue: int, stride: int, size: int, padding: int, extent: int):
    """One axis of a stride phase: (its first input index, how many input indices it has,
    the kernel taps that reach them, where the output gradient starts in the buffer)."""
    first_padded = -((residue - padding) // stride)  # the first a: a*stride+residue >= padding
    first = first_padded * stride + residue - padding
    taps = len(range(residue, size, stride))
    return first, len(range(first, extent, stride)), taps, taps - 1 - first_padded


def _input_gradient(dy_last, weight, stride, padding, x_shape):
    """dL/dx (N, H, W, C) from ``dy_last`` (N, OH, OW, O), one stride phase at a time."""
    kh, kw = weight.shape[2:]
    zeros = np.zeros(x_shape[3], dy_last.dtype)
    dx = None if tuple(stride) == (1, 1) else np.empty(x_shape, dy_last.dtype)
    for pu in range(stride[0]):
        for pv in range(stride[1]):
            row, rows, row_taps, top = _phase(pu, stride[0], kh, padding[0], x_shape[1])
            col, cols, col_taps, left = _phase(pv, stride[1], kw, padding[1], x_shape[2])
            if dx is not None and (rows == 0 or cols == 0):
                continue
            if row_taps == 0 or col_taps == 0:  # no tap reaches these inputs
                dx[:, row::stride[0], col::stride[1]] = 0
                continue
            rotated = weight[:, :, pu::stride[0], pv::stride[1]][:, :, ::-1, ::-1]
            part = _convolve(dy_last, kernel.pack(rotated.transpose(1, 0, 2, 3)), zeros,
                             (top, left), (1, 1), (x_shape[0], rows, cols, x_shape[3]),
                             (rows + row_taps - 1, cols + col_taps - 1))
            if dx is None:
                return part
            dx[:, row::stride[0], col::stride[1]] = part
    return dx
