"""im2col / col2im on channels-last data, for the GEMM convolution of ``nn.conv_gemm``.

Column layout: ``cols[(n * OH + oy) * OW + ox, (i * kw + j) * C + c] = x[n, iy, ix, c]``
with ``iy = oy * sh - ph + i`` and ``ix = ox * sw - pw + j`` (zero outside the image): one
row per output position, one run of C contiguous channels per kernel tap, so that
``cols @ weight`` gives the output (N*OH*OW, C_out), channels-last, and both kernels copy
whole runs of channels (SIMD) whatever the image size.
"""

from numba import njit


@njit(cache=True, nogil=True)
def im2col(x, kh, kw, sh, sw, ph, pw, oh, ow, cols):
    """Fills ``cols`` (N*OH*OW, kh*kw*C) from ``x`` (N, H, W, C)."""
    n_samples, height, width, channels = x.shape
    for n in range(n_samples):
        for oy in range(oh):
            for ox in range(ow):
                row = cols[(n * oh + oy) * ow + ox]
                for i in range(kh):
                    iy = oy * sh - ph + i
                    for j in range(kw):
                        ix = ox * sw - pw + j
                        start = (i * kw + j) * channels
                        if 0 <= iy < height and 0 <= ix < width:
                            src = x[n, iy, ix]
                            for c in range(channels):
                                row[start + c] = src[c]
                        else:
                            for c in range(channels):
                                row[start + c] = 0


@njit(cache=True, nogil=True)
def col2im(cols, kh, kw, sh, sw, ph, pw, oh, ow, dx):
    """Writes ``dx`` (N, H, W, C) = the columns added back into the image: the adjoint of
    ``im2col``, as a gather (each input position sums the taps that read it), which writes
    every element of ``dx`` once instead of adding into it kh*kw times."""
    n_samples, height, width, channels = dx.shape
    for n in range(n_samples):
        for iy in range(height):
            for ix in range(width):
                dst = dx[n, iy, ix]
                for c in range(channels):
                    dst[c] = 0
                for i in range(kh):
                    top = iy + ph - i  # = oy * sh for the output row that reads (iy, ix)
                    oy = top // sh
                    if top < 0 or oy * sh != top or oy >= oh:
                        continue
                    for j in range(kw):
                        left = ix + pw - j
                        ox = left // sw
                        if left < 0 or ox * sw != left or ox >= ow:
                            continue
                        row, start = cols[(n * oh + oy) * ow + ox], (i * kw + j) * channels
                        for c in range(channels):
                            dst[c] += row[start + c]
