"""The direct convolution on channels-last data, register-blocked with SIMD vectors.

For 16-32 channels at stride 1, and for strided convolutions, neither Winograd (its
transforms cost as much as its GEMMs at few channels; it has no strides) nor im2col (a
column matrix 9x the input, then a GEMM of few columns) keeps the cores busy. This kernel
computes eight output pixels times one vector of output channels (16 float32 or 8 float64,
see ``simd``) in registers, as a GEMM micro-kernel does: each weight vector it loads feeds
eight fused multiply-adds, each input element one broadcast.

Layouts (channels innermost):
- ``x`` (N, H, W, C) and ``out`` (N, OH, OW, O), C-contiguous;
- ``packed`` (O / L, kh, kw * C, L): ``packed[b, i, j * C + c, l] = weight[b * L + l, c, i,
  j]``, L the vector's lanes. For one kernel row i the taps (j, c) are contiguous in the
  input row as in ``packed``: the loop over them is a single run of kw * C.
- ``padded`` (Hp, Wp, C): a sample's zero-padded input, written by the kernel itself, so
  that scratch stays one sample whatever the batch. The sample sits at (top, left) in it;
  rows and columns of the sample that fall outside the buffer are left out.

Any stride: output pixel (oy, ox) reads the padded input from (oy * sh, ox * sw) on. The
input gradient is the forward kernel again (``nn.conv_direct_simd``).
"""

import numpy as np
from numba import njit

from minigrad.kernels import simd

BLOCK = 8  # output pixels per register block (8 accumulators + a weight vector)


def pack(weight: np.ndarray) -> np.ndarray:
    """(O, C, kh, kw) -> the (O / L, kh, kw * C, L) layout of the kernels."""
    out_channels, channels, kh, kw = weight.shape
    width = simd.lanes(weight.itemsize)
    blocks = weight.reshape(out_channels // width, width, channels, kh, kw)
    return np.ascontiguousarray(blocks.transpose(0, 3, 4, 2, 1)).reshape(
        out_channels // width, kh, kw * channels, width)


def unpack_into(dpacked: np.ndarray, dweight: np.ndarray) -> None:
    """``dweight`` (O, C, kh, kw) += the packed gradient ``dpacked``."""
    out_channels, channels, kh, kw = dweight.shape
    blocks = dpacked.reshape(out_channels // dpacked.shape[3], kh, kw, channels, -1)
    dweight += blocks.transpose(0, 4, 3, 1, 2).reshape(dweight.shape)


@njit(cache=True, nogil=True)
def _pad_sample(x, n, top, left, padded):
    """``padded`` (Hp, Wp, C) = zeros, with sample n of ``x`` (N, H, W, C) at (top, left)
    (negative offsets and a buffer smaller than the sample cut it)."""
    height, width = x.shape[1], x.shape[2]
    first, last = max(0, left), min(padded.shape[1], left + width)
    for y in range(padded.shape[0]):
        row = padded[y]
        if 0 <= y - top < height and first < last:
            row[:first] = 0
            row[first:last] = x[n, y - top, first - left:last - left]
            row[last:] = 0
        else:
            row[:] = 0


@njit(cache=True, nogil=True)
def forward(x, top, left, sh, sw, packed, bias, out, padded):
    """``out`` = ``bias`` + the correlation of ``x`` placed at (top, left) in the zero
    ``padded`` buffer, at stride (sh, sw)."""
    n_samples, oh, ow, out_channels = out.shape
    channels = x.shape[3]
    blocks, kh, span, width = packed.shape
    row_stride = padded.shape[1] * channels
    step = sw * channels  # from one output pixel's input to the next one's
    w, src, dst = packed.reshape(-1), padded.reshape(-1), out.reshape(-1)
    for n in range(n_samples):
        _pad_sample(x, n, top, left, padded)
        for oy in range(oh):
            for b in range(blocks):
                start = b * width
                zero = simd.load(bias, start)
                for ox in range(0, ow - BLOCK + 1, BLOCK):
                    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
                    for i in range(kh):
                        row = (oy * sh + i) * row_stride + ox * step
                        taps = (b * kh + i) * span * width
                        for m in range(span):
                            v = simd.load(w, taps + m * width)
                            p = row + m
                            a0 = simd.fma(simd.broadcast(src, p), v, a0)
                            a1 = simd.fma(simd.broadcast(src, p + step), v, a1)
                            a2 = simd.fma(simd.broadcast(src, p + 2 * step), v, a2)
                            a3 = simd.fma(simd.broadcast(src, p + 3 * step), v, a3)
                            a4 = simd.fma(simd.broadcast(src, p + 4 * step), v, a4)
                            a5 = simd.fma(simd.broadcast(src, p + 5 * step), v, a5)
                            a6 = simd.fma(simd.broadcast(src, p + 6 * step), v, a6)
                            a7 = simd.fma(simd.broadcast(src, p + 7 * step), v, a7)
                    q = ((n * oh + oy) * ow + ox) * out_channels + start
                    simd.store(dst, q, a0)
                    simd.store(dst, q + out_channels, a1)
                    simd.store(dst, q + 2 * out_channels, a2)
                    simd.store(dst, q + 3 * out_channels, a3)
                    simd.store(dst, q + 4 * out_channels, a4)
                    simd.store(dst, q + 5 * out_channels, a5)
                    simd.store(dst, q + 6 * out_channels, a6)
                    simd.store(dst, q + 7 * out_channels, a7)
                tail = ow - ow % BLOCK  # the pixels past the last block: four at a time,
                for ox in range(tail, ow - 3, 4):  # so that four FMA chains hide the latency
                    a0 = a1 = a2 = a3 = zero
                    for i in range(kh):
                        row = (oy * sh + i) * row_stride + ox * step
                        taps = (b * kh + i) * span * width
                        for m in range(span):
                            v = simd.load(w, taps + m * width)
                            p = row + m
                            a0 = simd.fma(simd.broadcast(src, p), v, a0)
                            a1 = simd.fma(simd.broadcast(src, p + step), v, a1)
                            a2 = simd.fma(simd.broadcast(src, p + 2 * step), v, a2)
                            a3 = simd.fma(simd.broadcast(src, p + 3 * step), v, a3)
                    q = ((n * oh + oy) * ow + ox) * out_channels + start
                    simd.store(dst, q, a0)
                    simd.store(dst, q + out_channels, a1)
                    simd.store(dst, q + 2 * out_channels, a2)
                    simd.store(dst, q + 3 * out_channels, a3)
                for ox in range(ow - (ow - tail) % 4, ow):  # then one at a time
                    a0 = zero
                    for i in range(kh):
                        row = (oy * sh + i) * row_stride + ox * step
                        taps = (b * kh + i) * span * width
                        for m in range(span):
                            a0 = simd.fma(simd.broadcast(src, row + m),
                                          simd.load(w, taps + m * width), a0)
                    simd.store(dst, ((n * oh + oy) * ow + ox) * out_channels + start, a0)


@njit(cache=True, nogil=True)
def backward_weight(x, ph, pw, sh, sw, dy, dpacked, dbias, padded):
    """``dpacked`` (O / L, kh, kw * C, L) += dL/dweight and ``dbias`` (O,) += dL/dbias,
    from ``x`` (padded by (ph, pw), stride (sh, sw)) and ``dy`` (N, OH, OW, O). Eight taps
    (j, c) at a time are summed over a sample's pixels in registers."""
    n_samples, oh, ow, out_channels = dy.shape
    channels = x.shape[3]
    blocks, kh, span, width = dpacked.shape
    row_stride = padded.shape[1] * channels
    dw, src, grad = dpacked.reshape(-1), padded.reshape(-1), dy.reshape(-1)
    for n in range(n_samples):
        _pad_sample(x, n, ph, pw, padded)
        for b in range(blocks):
            total = simd.load(dbias, b * width)
            for q in range(n * oh * ow, (n + 1) * oh * ow):
                total = simd.add(total, simd.load(grad, q * out_channels + b * width))
            simd.store(dbias, b * width, total)
            for i in range(kh):
                for m in range(0, span, BLOCK):  # span = kw * C is a multiple of 8
                    q = ((b * kh + i) * span + m) * width
                    a0 = simd.load(dw, q)
                    a1 = simd.load(dw, q + width)
                    a2 = simd.load(dw, q + 2 * width)
                    a3 = simd.load(dw, q + 3 * width)
                    a4 = simd.load(dw, q + 4 * width)
                    a5 = simd.load(dw, q + 5 * width)
                    a6 = simd.load(dw, q + 6 * width)
                    a7 = simd.load(dw, q + 7 * width)
                    for oy in range(oh):
                        row = (oy * sh + i) * row_stride + m
                        g = (n * oh + oy) * ow * out_channels + b * width
                        for ox in range(ow):
                            v = simd.load(grad, g + ox * out_channels)
                            p = row + ox * sw * channels
                            a0 = simd.fma(simd.broadcast(src, p), v, a0)
                            a1 = simd.fma(simd.broadcast(src, p + 1), v, a1)
                            a2 = simd.fma(simd.broadcast(src, p + 2), v, a2)
                            a3 = simd.fma(simd.broadcast(src, p + 3), v, a3)
                            a4 = simd.fma(simd.broadcast(src, p + 4), v, a4)
                            a5 = simd.fma(simd.broadcast(src, p + 5), v, a5)
                            a6 = simd.fma(simd.broadcast(src, p + 6), v, a6)
                            a7 = simd.fma(simd.broadcast(src, p + 7), v, a7)
                    simd.store(dw, q, a0)
                    simd.store(dw, q + width, a1)
                    simd.store(dw, q + 2 * width, a2)
                    simd.store(dw, q + 3 * width, a3)
                    simd.store(dw, q + 4 * width, a4)
                    simd.store(dw, q + 5 * width, a5)
                    simd.store(dw, q + 6 * width, a6)
                    simd.store(dw, q + 7 * width, a7)
