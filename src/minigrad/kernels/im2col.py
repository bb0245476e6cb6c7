"""Convolution kernels: im2col / col2im for the GEMM path, and a direct convolution
for layers with few channels, where the im2col matrix would be mostly memory traffic.

Column layout: ``cols[(c * kh + i) * kw + j, n * L + oy * OW + ox]`` with ``L = OH * OW``,
so that one GEMM ``weight.reshape(O, C*kh*kw) @ cols`` convolves a whole chunk of samples.
"""

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
# grid's columns ox >= OW are scratch: forward leaves garbage there (the layer slices it
# off) and backward expects zeros there. A forward pass over a plane handles four taps of
# a kernel row at once where four remain (one load and store of the accumulator for four
# products): a 5x5 kernel takes 10 passes instead of 25.


@njit(cache=True, fastmath=FAST)
def conv_direct_forward_wide(xp, weight, width, out_wide):
    """``out_wide`` (N, O, OH*W) += the stride-1 correlation of ``xp`` (N, C, H*W)."""
    n_samples, out_channels, area = out_wide.shape
    channels = xp.shape[1]
    kh, kw = weight.shape[2], weight.shape[3]
    length = area - kw + 1
    for n in range(n_samples):
        for o in range(out_channels):
            dst = out_wide[n, o]
            for c in range(channels):
                for i in range(kh):
                    for j in range(0, kw - 3, 4):
                        w0, w1 = weight[o, c, i, j], weight[o, c, i, j + 1]
                        w2, w3 = weight[o, c, i, j + 2], weight[o, c, i, j + 3]
                        src = xp[n, c, i * width + j:]
                        for q in range(length):
                            dst[q] += (w0 * src[q] + w1 * src[q + 1] + w2 * src[q + 2]
                                       + w3 * src[q + 3])
                    for j in range(kw - kw % 4, kw):
                        w0 = weight[o, c, i, j]
                        src = xp[n, c, i * width + j:]
                        for q in range(length):
                            dst[q] += w0 * src[q]


@njit(cache=True, fastmath=FAST)
def conv_direct_backward_wide(xp, weight, dy_wide, width, dweight, dxp):
    """Adds dL/dweight and dL/dxp (N, C, H*W) for stride 1; ``dy_wide`` is zero past OW."""
    n_samples, out_channels, area = dy_wide.shape
    channels = xp.shape[1]
    kh, kw = weight.shape[2], weight.shape[3]
    length = area - kw + 1
    for n in range(n_samples):
        for c in range(channels):
            src = xp[n, c]
            dsrc = dxp[n, c]
            for o in range(out_channels):
                g = dy_wide[n, o]
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
