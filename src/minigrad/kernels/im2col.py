"""Convolution kernels: im2col / col2im for the GEMM path, and a direct convolution
for layers with few channels, where the im2col matrix would be mostly memory traffic.

Column layout: ``cols[(c * kh + i) * kw + j, n * L + oy * OW + ox]`` with ``L = OH * OW``,
so that one GEMM ``weight.reshape(O, C*kh*kw) @ cols`` convolves a whole chunk of samples.
"""

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorise the dot-product reductions; no nnan/ninf, so a NaN
# in the data still propagates (the Trainer relies on it to stop on a NaN loss).
FAST = {"reassoc", "contract"}


@njit(cache=True)
def im2col(x, kh, kw, sh, sw, ph, pw, oh, ow, cols):
    """Fills ``cols`` (C*kh*kw, N*oh*ow) from ``x`` (N, C, H, W); zero outside the image."""
    n_samples, channels, height, width = x.shape
    area = oh * ow
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for n in range(n_samples):
                    base = n * area
                    for oy in range(oh):
                        iy = oy * sh - ph + i
                        start = base + oy * ow
                        if iy < 0 or iy >= height:
                            for ox in range(ow):
                                cols[row, start + ox] = 0
                            continue
                        for ox in range(ow):
                            ix = ox * sw - pw + j
                            if 0 <= ix < width:
                                cols[row, start + ox] = x[n, c, iy, ix]
                            else:
                                cols[row, start + ox] = 0


@njit(cache=True)
def col2im(cols, kh, kw, sh, sw, ph, pw, oh, ow, dx):
    """Adds the columns back into ``dx`` (N, C, H, W): the adjoint of ``im2col``."""
    n_samples, channels, height, width = dx.shape
    area = oh * ow
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for n in range(n_samples):
                    base = n * area
                    for oy in range(oh):
                        iy = oy * sh - ph + i
                        if iy < 0 or iy >= height:
                            continue
                        start = base + oy * ow
                        for ox in range(ow):
                            ix = ox * sw - pw + j
                            if 0 <= ix < width:
                                dx[n, c, iy, ix] += cols[row, start + ox]


@njit(cache=True, fastmath=FAST)
def conv_direct_forward(xp, weight, sh, sw, out):
    """``out[n, o] += sum_c,i,j weight[o, c, i, j] * xp[n, c, oy*sh + i, ox*sw + j]``.

    ``xp`` is the already padded input (N, C, Hp, Wp); ``out`` (N, O, OH, OW) holds the bias.
    Any stride; stride 1 has the faster ``conv_direct_forward_wide``.
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


@njit(cache=True, fastmath=FAST)
def conv_direct_backward(xp, weight, dy, sh, sw, dweight, dxp):
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
# grid's columns ox >= OW are scratch: forward leaves garbage there (it copies the valid
# columns out) and backward expects zeros there. A forward pass over a plane handles four
# taps of a kernel row at once where four remain (one load and store of the accumulator
# for four products): a 5x5 kernel takes 10 passes instead of 25.


@njit(cache=True, fastmath=FAST)
def conv_direct_forward_wide(xp, weight, bias, out):
    """``out`` (N, O, OH, OW) = ``bias`` + the stride-1 correlation of ``xp`` (N, C, H*W).

    Each sample's output is accumulated on the wide grid in a small scratch (it stays in
    the L1 cache), two output channels per pass over the input, then copied out compact.
    """
    n_samples, out_channels, oh, ow = out.shape
    channels = xp.shape[1]
    kh, kw = weight.shape[2], weight.shape[3]
    width = ow + kw - 1
    area = oh * width
    length = area - kw + 1
    wide = np.empty((out_channels, area), dtype=out.dtype)
    last = out_channels - 1
    for n in range(n_samples):
        for o in range(out_channels):
            wide[o, :] = bias[o]
        for c in range(channels):
            for i in range(kh):
                src = xp[n, c, i * width:]
                for o in range(0, last, 2):
                    _row_pair(wide[o], wide[o + 1], src, weight, o, c, i, length)
                if out_channels % 2:
                    _row_single(wide[last], src, weight, last, c, i, length)
        for o in range(out_channels):
            for oy in range(oh):
                for ox in range(ow):
                    out[n, o, oy, ox] = wide[o, oy * width + ox]


@njit(inline="always")
def _row_single(dst, src, weight, o, c, i, length):
    """``dst[q] += sum_j weight[o, c, i, j] * src[q + j]``, four taps per pass."""
    kw = weight.shape[3]
    for j in range(0, kw - 3, 4):
        a0, a1 = weight[o, c, i, j], weight[o, c, i, j + 1]
        a2, a3 = weight[o, c, i, j + 2], weight[o, c, i, j + 3]
        s = src[j:]
        for q in range(length):
            dst[q] += a0 * s[q] + a1 * s[q + 1] + a2 * s[q + 2] + a3 * s[q + 3]
    for j in range(kw - kw % 4, kw):
        a0 = weight[o, c, i, j]
        s = src[j:]
        for q in range(length):
            dst[q] += a0 * s[q]


@njit(inline="always")
def _row_pair(dst0, dst1, src, weight, o, c, i, length):
    """``_row_single`` for output channels o and o + 1, sharing the loads of ``src``."""
    kw = weight.shape[3]
    for j in range(0, kw - 3, 4):
        a0, a1 = weight[o, c, i, j], weight[o, c, i, j + 1]
        a2, a3 = weight[o, c, i, j + 2], weight[o, c, i, j + 3]
        b0, b1 = weight[o + 1, c, i, j], weight[o + 1, c, i, j + 1]
        b2, b3 = weight[o + 1, c, i, j + 2], weight[o + 1, c, i, j + 3]
        s = src[j:]
        for q in range(length):
            s0, s1, s2, s3 = s[q], s[q + 1], s[q + 2], s[q + 3]
            dst0[q] += a0 * s0 + a1 * s1 + a2 * s2 + a3 * s3
            dst1[q] += b0 * s0 + b1 * s1 + b2 * s2 + b3 * s3
    for j in range(kw - kw % 4, kw):
        a0, b0 = weight[o, c, i, j], weight[o + 1, c, i, j]
        s = src[j:]
        for q in range(length):
            dst0[q] += a0 * s[q]
            dst1[q] += b0 * s[q]


@njit(cache=True, fastmath=FAST)
def conv_direct_backward_wide(xp, weight, dy, dweight, dxp):
    """Adds dL/dweight and dL/dxp (N, C, H*W) for stride 1, from ``dy`` (N, O, OH, OW).

    Each sample's output gradient is first laid on the wide grid (zero past OW) in a small
    scratch that stays in the L1 cache.
    """
    n_samples, out_channels, oh, ow = dy.shape
    channels = xp.shape[1]
    kh, kw = weight.shape[2], weight.shape[3]
    width = ow + kw - 1
    area = oh * width
    length = area - kw + 1
    wide = np.zeros((out_channels, area), dtype=dy.dtype)
    for n in range(n_samples):
        for o in range(out_channels):
            for oy in range(oh):
                for ox in range(ow):
                    wide[o, oy * width + ox] = dy[n, o, oy, ox]
        for c in range(channels):
            src = xp[n, c]
            dsrc = dxp[n, c]
            for o in range(out_channels):
                g = wide[o]
                for i in range(kh):
                    for j in range(kw):
                        w = weight[o, c, i, j]
                        shift = i * width + j
                        shifted, dshifted = src[shift:], dsrc[shift:]
                        acc = w * 0
                        for q in range(length):
                            acc += g[q] * shifted[q]
                            dshifted[q] += w * g[q]
                        dweight[o, c, i, j] += acc
