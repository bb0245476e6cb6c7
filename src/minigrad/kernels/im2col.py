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
    The innermost loop runs along an output row; stride 1 gets its own loop with unit-stride
    reads, which LLVM turns into SIMD code.
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
                            if sw == 1:
                                for ox in range(ow):
                                    dst[ox] += w * src[ox + j]
                            else:
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
                            if sw == 1:
                                for ox in range(ow):
                                    acc += g[ox] * src[ox + j]
                                    dsrc[ox + j] += w * g[ox]
                            else:
                                for ox in range(ow):
                                    acc += g[ox] * src[ox * sw + j]
                                    dsrc[ox * sw + j] += w * g[ox]
                            dweight[o, c, i, j] += acc
