"""The direct convolution: a loop over the kernel taps, for layers with few channels.

For few channels the im2col matrix is 25x larger than the input (a 5x5 kernel) and its GEMM
is memory-bound, so looping over the taps directly is several times faster. ``forward`` /
``backward`` take any stride; ``forward_wide`` / ``backward_wide`` are the stride-1 kernels
that the seed net runs (see the comment above them and docs/design.md).
"""

import numpy as np
from numba import njit

from minigrad.kernels.fastmath import REASSOCIATE


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def forward(xp, weight, sh, sw, out):
    """``out[n, o] += sum_c,i,j weight[o, c, i, j] * xp[n, c, oy*sh + i, ox*sw + j]``.

    ``xp`` is the already padded input (N, C, Hp, Wp); ``out`` (N, O, OH, OW) holds the bias.
    Any stride; stride 1 has the faster ``forward_wide``.
    """
    n_samples, out_channels, oh, ow = out.shape
    channels = xp.shape[1]
    kh, kw = weight.shape[2], weight.shape[3]
    for n in range(n_samples):
        for o in range(out_channels):
            for c in range(channels):
                for i in range(kh):
                    for oy in range(oh):
                        src = xp[n, c, oy * sh + i]
                        dst = out[n, o, oy]
                        for j in range(kw):
                            w = weight[o, c, i, j]
                            for ox in range(ow):
                                dst[ox] += w * src[ox * sw + j]


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def backward(xp, weight, dy, sh, sw, dweight, dxp):
    """Adds dL/dweight into ``dweight`` and dL/dxp into ``dxp`` (the padded input)."""
    n_samples, out_channels, oh, ow = dy.shape
    channels = xp.shape[1]
    kh, kw = weight.shape[2], weight.shape[3]
    for n in range(n_samples):
        for o in range(out_channels):
            for c in range(channels):
                for i in range(kh):
                    for oy in range(oh):
                        src = xp[n, c, oy * sh + i]
                        dsrc = dxp[n, c, oy * sh + i]
                        g = dy[n, o, oy]
                        for j in range(kw):
                            w = weight[o, c, i, j]
                            acc = w * 0
                            for ox in range(ow):
                                acc += g[ox] * src[ox * sw + j]
                                dsrc[ox * sw + j] += w * g[ox]
                            dweight[o, c, i, j] += acc


# Stride 1: each input plane is read as one flat row (slicing it at the tap's shift, which
# is what lets LLVM emit SIMD code for the inner loop). For kernel tap (i, j), output
# position q = oy * W + ox (on a "wide" output grid as wide as the input) reads input
# q + i * W + j, a constant shift, so a whole plane is one long unit-stride loop. The wide
# grid's columns ox >= OW are scratch: forward discards them, backward keeps zeros there.
# The kernel's taps, flattened row-major, go four to a pass over the plane (any four: each
# has its own shift), and two output channels share every pass, so one load of the input
# feeds eight products: a 5x5 kernel takes 7 passes, not 25. An odd output channel count
# pairs the last channel with a zero-weight dummy.


@njit(cache=True, nogil=True)
def _tap_shifts(kh, kw, width):
    """The flat shift i * width + j of each tap (i, j), row-major."""
    shifts = np.empty(kh * kw, np.int64)
    for i in range(kh):
        for j in range(kw):
            shifts[i * kw + j] = i * width + j
    return shifts


@njit(cache=True, nogil=True)
def _paired_weights(weight):
    """(2 * ceil(O / 2), C, kh * kw) copy of ``weight`` padded with a zero channel if O is odd."""
    out_channels, channels, kh, kw = weight.shape
    paired = np.zeros((out_channels + out_channels % 2, channels, kh * kw), weight.dtype)
    paired[:out_channels] = weight.reshape(out_channels, channels, kh * kw)
    return paired


@njit(inline="always")
def _taps4(dst0, dst1, src, shifts, w0, w1, t, length):
    """``dst_o[q] += sum_k w_o[t + k] * src[q + shifts[t + k]]``, k < 4, for both outputs."""
    s0, s1, s2, s3 = src[shifts[t]:], src[shifts[t + 1]:], src[shifts[t + 2]:], src[shifts[t + 3]:]
    a0, a1, a2, a3 = w0[t], w0[t + 1], w0[t + 2], w0[t + 3]
    b0, b1, b2, b3 = w1[t], w1[t + 1], w1[t + 2], w1[t + 3]
    for q in range(length):
        x0, x1, x2, x3 = s0[q], s1[q], s2[q], s3[q]
        dst0[q] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
        dst1[q] += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3


@njit(inline="always")
def _tap1(dst0, dst1, src, shifts, w0, w1, t, length):
    """``_taps4`` for the single tap t."""
    s0 = src[shifts[t]:]
    a0, b0 = w0[t], w1[t]
    for q in range(length):
        dst0[q] += a0 * s0[q]
        dst1[q] += b0 * s0[q]


@njit(inline="always")
def _gather_taps4(dst, g0, g1, shifts, w0, w1, t, length):
    """``dst[q] += sum_k w0[t + k] g0[q + shifts[t + k]] + w1[t + k] g1[q + shifts[t + k]]``."""
    p0, p1, p2, p3 = g0[shifts[t]:], g0[shifts[t + 1]:], g0[shifts[t + 2]:], g0[shifts[t + 3]:]
    r0, r1, r2, r3 = g1[shifts[t]:], g1[shifts[t + 1]:], g1[shifts[t + 2]:], g1[shifts[t + 3]:]
    a0, a1, a2, a3 = w0[t], w0[t + 1], w0[t + 2], w0[t + 3]
    b0, b1, b2, b3 = w1[t], w1[t + 1], w1[t + 2], w1[t + 3]
    for q in range(length):
        dst[q] += (a0 * p0[q] + a1 * p1[q] + a2 * p2[q] + a3 * p3[q]
                   + b0 * r0[q] + b1 * r1[q] + b2 * r2[q] + b3 * r3[q])


@njit(inline="always")
def _gather_tap1(dst, g0, g1, shifts, w0, w1, t, length):
    """``_gather_taps4`` for the single tap t."""
    p0, r0 = g0[shifts[t]:], g1[shifts[t]:]
    a0, b0 = w0[t], w1[t]
    for q in range(length):
        dst[q] += a0 * p0[q] + b0 * r0[q]


@njit(inline="always")
def _dots4(g0, g1, src, shifts, t, length, zero, dw0, dw1):
    """``dw_o[t + k] += sum_q g_o[q] * src[q + shifts[t + k]]``, k < 4: eight dot products
    sharing their loads."""
    s0, s1, s2, s3 = src[shifts[t]:], src[shifts[t + 1]:], src[shifts[t + 2]:], src[shifts[t + 3]:]
    a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = zero
    for q in range(length):
        x0, x1, x2, x3 = s0[q], s1[q], s2[q], s3[q]
        y0, y1 = g0[q], g1[q]
        a0 += y0 * x0
        a1 += y0 * x1
        a2 += y0 * x2
        a3 += y0 * x3
        b0 += y1 * x0
        b1 += y1 * x1
        b2 += y1 * x2
        b3 += y1 * x3
    dw0[t] += a0
    dw0[t + 1] += a1
    dw0[t + 2] += a2
    dw0[t + 3] += a3
    dw1[t] += b0
    dw1[t + 1] += b1
    dw1[t + 2] += b2
    dw1[t + 3] += b3


@njit(inline="always")
def _dot1(g0, g1, src, shifts, t, length, zero, dw0, dw1):
    """``_dots4`` for the single tap t."""
    s0 = src[shifts[t]:]
    a0 = b0 = zero
    for q in range(length):
        a0 += g0[q] * s0[q]
        b0 += g1[q] * s0[q]
    dw0[t] += a0
    dw1[t] += b0


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def forward_wide(xp, weight, bias, out):
    """``out`` (N, O, OH, OW) = ``bias`` + the stride-1 correlation of ``xp`` (N, C, H*W).

    Each sample's output is accumulated on the wide grid in a small scratch (it stays in
    the L1 cache), then copied out compact.
    """
    n_samples, out_channels, oh, ow = out.shape
    channels = xp.shape[1]
    kh, kw = weight.shape[2], weight.shape[3]
    taps = kh * kw
    width = ow + kw - 1
    area = oh * width
    length = area - kw + 1
    shifts = _tap_shifts(kh, kw, width)
    paired = _paired_weights(weight)
    wide = np.empty((paired.shape[0], area), dtype=out.dtype)
    compact = out.reshape(n_samples, out_channels, oh * ow)  # 1-D rows: SIMD copies
    wide[out_channels:] = 0  # the dummy channel of an odd count: never uninitialised data
    for n in range(n_samples):
        for o in range(out_channels):
            row, value = wide[o], bias[o]
            for q in range(area):
                row[q] = value
        for c in range(channels):
            src = xp[n, c]
            for o in range(0, paired.shape[0], 2):
                w0, w1 = paired[o, c], paired[o + 1, c]
                for t in range(0, taps - 3, 4):
                    _taps4(wide[o], wide[o + 1], src, shifts, w0, w1, t, length)
                for t in range(taps - taps % 4, taps):
                    _tap1(wide[o], wide[o + 1], src, shifts, w0, w1, t, length)
        for o in range(out_channels):
            for oy in range(oh):
                dst, src = compact[n, o, oy * ow:], wide[o, oy * width:]
                for ox in range(ow):
                    dst[ox] = src[ox]


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def backward_wide(xp, weight, dy, dweight, dbias, dxp):
    """Adds dL/dweight and dL/dbias; writes dL/dxp (N, C, H*W). Stride 1, from ``dy``.

    Each sample's output gradient is laid on the wide grid (zero past OW) in a small
    scratch with a zero margin in front, so that the input gradient is a gather, like the
    forward pass: ``dxp[p] = sum_o,i,j weight[o, c, i, j] * grad[p - i * W - j]``.
    """
    n_samples, out_channels, oh, ow = dy.shape
    channels = xp.shape[1]
    plane = xp.shape[2]
    kh, kw = weight.shape[2], weight.shape[3]
    taps = kh * kw
    width = ow + kw - 1
    length = oh * width - kw + 1
    front = (kh - 1) * width + kw - 1
    shifts = _tap_shifts(kh, kw, width)
    back = front - shifts
    paired = _paired_weights(weight)
    dpaired = np.zeros_like(paired)
    grad = np.zeros((paired.shape[0], front + plane), dtype=dy.dtype)
    zero = grad[0, 0]
    compact = dy.reshape(n_samples, out_channels, oh * ow)  # 1-D rows: SIMD copies
    for n in range(n_samples):
        for o in range(out_channels):
            total = zero
            for oy in range(oh):
                src, dst = compact[n, o, oy * ow:], grad[o, front + oy * width:]
                for ox in range(ow):
                    dst[ox] = src[ox]
                    total += src[ox]
            dbias[o] += total
        for c in range(channels):
            src = xp[n, c]
            dst = dxp[n, c]
            for p in range(plane):
                dst[p] = zero
            for o in range(0, paired.shape[0], 2):
                g0, g1 = grad[o, front:], grad[o + 1, front:]
                dw0, dw1 = dpaired[o, c], dpaired[o + 1, c]
                w0, w1 = paired[o, c], paired[o + 1, c]
                for t in range(0, taps - 3, 4):
                    _dots4(g0, g1, src, shifts, t, length, zero, dw0, dw1)
                    _gather_taps4(dst, grad[o], grad[o + 1], back, w0, w1, t, plane)
                for t in range(taps - taps % 4, taps):
                    _dot1(g0, g1, src, shifts, t, length, zero, dw0, dw1)
                    _gather_tap1(dst, grad[o], grad[o + 1], back, w0, w1, t, plane)
    for o in range(out_channels):
        for c in range(channels):
            for t in range(taps):
                dweight[o, c, t // kw, t % kw] += dpaired[o, c, t]
