"""Max pooling on channels-last data, ``x[n, y, x, c]``: the loops over the window sit
outside the loop over channels, which runs as SIMD selects (the NCHW kernels in
``pooling`` would stride through memory by C on such data).

Semantics as ``pooling.max_pool_forward``: padding counts as -inf, the first maximum in
scan order wins, a NaN is kept; ``argmax`` holds the winner's flat index ``iy * W + ix``.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def max_pool_forward(x, kh, kw, sh, sw, ph, pw, out, argmax):
    """``out`` (N, OH, OW, C) = window maxima of ``x`` (N, H, W, C); ``argmax`` (N, OH, OW,
    C) int32 their flat indices."""
    n_samples, height, width, channels = x.shape
    oh, ow = out.shape[1], out.shape[2]
    for n in range(n_samples):
        for oy in range(oh):
            for ox in range(ow):
                best, index = out[n, oy, ox], argmax[n, oy, ox]
                for c in range(channels):
                    best[c] = -np.inf
                    index[c] = -1
                for i in range(kh):
                    iy = oy * sh - ph + i
                    if iy < 0 or iy >= height:
                        continue
                    for j in range(kw):
                        ix = ox * sw - pw + j
                        if ix < 0 or ix >= width:
                            continue
                        row, flat = x[n, iy, ix], iy * width + ix
                        for c in range(channels):
                            v = row[c]
                            # "v != v" keeps a NaN, as torch does.
                            if v > best[c] or v != v or index[c] < 0:
                                best[c] = v
                                index[c] = flat


@njit(cache=True, nogil=True)
def max_pool_backward(dy, argmax, kh, kw, sh, sw, ph, pw, dx):
    """Writes ``dx`` (N, H, W, C): each output gradient routed to its window's winner."""
    n_samples, height, width, channels = dx.shape
    oh, ow = dy.shape[1], dy.shape[2]
    dx[...] = 0
    for n in range(n_samples):
        for oy in range(oh):
            for ox in range(ow):
                grad, index = dy[n, oy, ox], argmax[n, oy, ox]
                for i in range(kh):
                    iy = oy * sh - ph + i
                    if iy < 0 or iy >= height:
                        continue
                    for j in range(kw):
                        ix = ox * sw - pw + j
                        if ix < 0 or ix >= width:
                            continue
                        row, flat = dx[n, iy, ix], iy * width + ix
                        for c in range(channels):
                            if index[c] == flat:
                                row[c] += grad[c]
