"""Pooling kernels: max pooling with recorded argmax, average pooling, adaptive average."""

import numpy as np
from numba import njit


@njit(cache=True)
def max_pool_forward(x, kh, kw, sh, sw, ph, pw, out, argmax):
    """``out[n, c, oy, ox]`` = max of the window; ``argmax`` keeps its flat index into H*W.

    Padding counts as -inf (torch's semantics); the first maximum in scan order wins.
    """
    n_samples, channels, height, width = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for n in range(n_samples):
        for c in range(channels):
            plane = x[n, c]
            for oy in range(oh):
                y0 = oy * sh - ph
                for ox in range(ow):
                    x0 = ox * sw - pw
                    best = -np.inf
                    best_index = -1
                    for i in range(kh):
                        iy = y0 + i
                        if iy < 0 or iy >= height:
                            continue
                        for j in range(kw):
                            ix = x0 + j
                            if ix < 0 or ix >= width:
                                continue
                            v = plane[iy, ix]
                            # "v != v" keeps a NaN, as torch does.
                            if v > best or v != v or best_index < 0:
                                best = v
                                best_index = iy * width + ix
                    out[n, c, oy, ox] = best
                    argmax[n, c, oy, ox] = best_index


@njit(cache=True)
def max_pool_2x2(x, out, argmax):
    """``max_pool_forward`` for 2x2 windows, stride 2, no padding: the same results (first
    maximum in scan order, NaN kept) without the bounds checks, so the loop vectorises."""
    n_samples, channels, oh, ow = out.shape
    width = x.shape[3]
    for n in range(n_samples):
        for c in range(channels):
            for oy in range(oh):
                top, bottom = x[n, c, 2 * oy], x[n, c, 2 * oy + 1]
                base = 2 * oy * width
                for ox in range(ow):
                    best, index = top[2 * ox], base + 2 * ox
                    v = top[2 * ox + 1]
                    if v > best or v != v:
                        best, index = v, base + 2 * ox + 1
                    v = bottom[2 * ox]
                    if v > best or v != v:
                        best, index = v, base + width + 2 * ox
                    v = bottom[2 * ox + 1]
                    if v > best or v != v:
                        best, index = v, base + width + 2 * ox + 1
                    out[n, c, oy, ox] = best
                    argmax[n, c, oy, ox] = index


@njit(cache=True)
def max_pool_backward(dy, argmax, dx):
    """Routes each output gradient to the input position that won the max."""
    n_samples, channels, oh, ow = dy.shape
    width = dx.shape[3]
    for n in range(n_samples):
        for c in range(channels):
            for oy in range(oh):
                for ox in range(ow):
                    index = argmax[n, c, oy, ox]
                    dx[n, c, index // width, index % width] += dy[n, c, oy, ox]


@njit(cache=True)
def avg_pool_forward(x, kh, kw, sh, sw, ph, pw, count_include_pad, out):
    """Window means; padding counts in the divisor only if ``count_include_pad``."""
    n_samples, channels, height, width = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for n in range(n_samples):
        for c in range(channels):
            for oy in range(oh):
                y0 = oy * sh - ph
                for ox in range(ow):
                    x0 = ox * sw - pw
                    total = x[n, c, 0, 0] * 0
                    for iy in range(max(y0, 0), min(y0 + kh, height)):
                        for ix in range(max(x0, 0), min(x0 + kw, width)):
                            total += x[n, c, iy, ix]
                    out[n, c, oy, ox] = total / _pool_divisor(
                        y0, x0, kh, kw, ph, pw, height, width, count_include_pad
                    )


@njit(cache=True)
def avg_pool_backward(dy, kh, kw, sh, sw, ph, pw, count_include_pad, dx):
    n_samples, channels, height, width = dx.shape
    oh, ow = dy.shape[2], dy.shape[3]
    for n in range(n_samples):
        for c in range(channels):
            for oy in range(oh):
                y0 = oy * sh - ph
                for ox in range(ow):
                    x0 = ox * sw - pw
                    g = dy[n, c, oy, ox] / _pool_divisor(
                        y0, x0, kh, kw, ph, pw, height, width, count_include_pad
                    )
                    for iy in range(max(y0, 0), min(y0 + kh, height)):
                        for ix in range(max(x0, 0), min(x0 + kw, width)):
                            dx[n, c, iy, ix] += g


@njit(cache=True)
def _pool_divisor(y0, x0, kh, kw, ph, pw, height, width, count_include_pad):
    if count_include_pad:
        # torch counts padded cells but not cells beyond the padding.
        rows = min(y0 + kh, height + ph) - y0
        cols = min(x0 + kw, width + pw) - x0
    else:
        rows = min(y0 + kh, height) - max(y0, 0)
        cols = min(x0 + kw, width) - max(x0, 0)
    return rows * cols


@njit(cache=True)
def _adaptive_bin(index, size, bins):
    """torch's adaptive bin ``index`` of ``bins`` over ``size``: floor(i*H/OH) to ceil(...)."""
    return (index * size) // bins, -((-(index + 1) * size) // bins)


@njit(cache=True)
def adaptive_avg_pool_forward(x, out):
    """Means over torch's adaptive bins of the (H, W) plane."""
    n_samples, channels, height, width = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for n in range(n_samples):
        for c in range(channels):
            for oy in range(oh):
                y0, y1 = _adaptive_bin(oy, height, oh)
                for ox in range(ow):
                    x0, x1 = _adaptive_bin(ox, width, ow)
                    total = x[n, c, 0, 0] * 0
                    for iy in range(y0, y1):
                        for ix in range(x0, x1):
                            total += x[n, c, iy, ix]
                    out[n, c, oy, ox] = total / ((y1 - y0) * (x1 - x0))


@njit(cache=True)
def adaptive_avg_pool_backward(dy, dx):
    n_samples, channels, height, width = dx.shape
    oh, ow = dy.shape[2], dy.shape[3]
    for n in range(n_samples):
        for c in range(channels):
            for oy in range(oh):
                y0, y1 = _adaptive_bin(oy, height, oh)
                for ox in range(ow):
                    x0, x1 = _adaptive_bin(ox, width, ow)
                    g = dy[n, c, oy, ox] / ((y1 - y0) * (x1 - x0))
                    for iy in range(y0, y1):
                        for ix in range(x0, x1):
                            dx[n, c, iy, ix] += g
