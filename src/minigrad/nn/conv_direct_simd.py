"""The channels-last direct convolution of Conv2d (stride 1): the glue between the layer and
``kernels.conv_direct_channels_last``, which computes eight output pixels times a vector
of output channels in registers.

It applies when both channel counts are whole vectors (multiples of 16 in float32, of 8 in
float64; ``simd.lanes``) and the padding is less than the kernel (so that the input
gradient is the same kernel on the padded output gradient). Samples are split over the
threads; each thread pads one sample at a time into its own small buffer, so scratch
memory does not grow with the batch.
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
    return (tuple(stride) == (1, 1) and in_channels % width == 0
            and out_channels % width == 0
            and all(0 <= p < k for p, k in zip(padding, kernel_size)))


def _convolve(x_last, packed, bias, padding, out_shape):
    """(N, OH, OW, O) = ``bias`` + the stride-1 correlation of ``x_last`` (N, H, W, C)."""
    (ph, pw), channels = padding, x_last.shape[3]
    out = np.empty(out_shape, x_last.dtype)
    padded_shape = (x_last.shape[1] + 2 * ph, x_last.shape[2] + 2 * pw, channels)

    def samples(a, b):
        kernel.forward(x_last[a:b], ph, pw, packed, bias, out[a:b],
                       np.empty(padded_shape, x_last.dtype))

    parallel.split(samples, x_last.shape[0])
    return out


def forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, padding,
            out_size) -> tuple[np.ndarray, np.ndarray]:
    """(y, the channels-last input kept for backward): y (N, O, OH, OW) a view of
    channels-last memory, from x (N, C, H, W) in either layout."""
    x_last = layout.to_channels_last(x)
    out_shape = (x.shape[0], *out_size, weight.shape[0])
    y = _convolve(x_last, kernel.pack(weight), bias, padding, out_shape)
    return layout.from_channels_last(y), x_last


def backward(x_last: np.ndarray, dy: np.ndarray, weight: np.ndarray, padding,
             dweight: np.ndarray, dbias: np.ndarray | None) -> np.ndarray:
    """Adds dL/dweight into ``dweight`` (and dL/dbias into ``dbias``); returns dL/dx (N, C,
    H, W), a view of channels-last memory."""
    dy_last = layout.to_channels_last(dy)
    out_channels, channels, kh, kw = weight.shape
    (ph, pw), n = padding, dy_last.shape[0]
    packed = kernel.pack(weight)
    padded_shape = (x_last.shape[1] + 2 * ph, x_last.shape[2] + 2 * pw, channels)

    def samples(a, b):  # their share of dweight (in the packed layout) and of dbias
        dpacked, dbias_part = np.zeros_like(packed), np.zeros(out_channels, dy.dtype)
        kernel.backward_weight(x_last[a:b], ph, pw, dy_last[a:b], dpacked, dbias_part,
                               np.empty(padded_shape, dy.dtype))
        return dpacked, dbias_part

    for dpacked, dbias_part in parallel.split(samples, n):
        kernel.unpack_into(dpacked, dweight)
        if dbias is not None:
            dbias += dbias_part
    dx = _convolve(dy_last, kernel.packed_flipped(weight), np.zeros(channels, dy.dtype),
                   (kh - 1 - ph, kw - 1 - pw), x_last.shape)
    return layout.from_channels_last(dx)
