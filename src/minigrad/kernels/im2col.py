"""im2col / col2im: the column matrix of the GEMM convolution, and its adjoint.

Column layout: ``cols[(c * kh + i) * kw + j, n * L + oy * OW + ox]`` with ``L = OH * OW``,
so that one GEMM ``weight.reshape(O, C*kh*kw) @ cols`` convolves a whole chunk of samples.
"""

from numba import njit


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
