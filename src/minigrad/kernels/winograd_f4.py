"""Winograd F(4x4, 3x3) transforms on channels-last data (Lavin & Gray, 2016).

Each 4x4 output tile comes from a 6x6 input tile; in the Winograd domain that is 36
element-wise products instead of 144 multiply-adds (4x fewer than a direct convolution,
against 2.25x for F(2x2, 3x3)), and summed over channels they are 36 independent GEMMs:

    forward          Y  = A^T [ (G g G^T) . (B^T d B) ] A
    weight gradient  dU = sum over tiles of (B^T d B)^T (A dY A^T)      (then dg = G^T dU G)
    input gradient   dd = B [ (A dY A^T) U^T ] B^T, added into the overlapping 6x6 tiles

(``.`` is the element-wise product). The interpolation points are 0, +-1, +-2 and
infinity, so B and A hold only small integers (exact in binary floating point) and G the
fractions 1/4, 1/6, 1/12 and 1/24.

Layout: images are channels-last, ``x[n, y, x, c]``, and the transformed tensors are
``v[e, t, c]`` with ``e = 6 * r + s`` the position in the 6x6 tile and
``t = n * T + ty * TW + tx`` the tile, so that ``np.matmul(v, u)`` with ``u[e, c, o]``
is the 36 GEMMs at once and gives ``m[e, t, o]``. Every transform loops innermost over
the channels, one contiguous run per tile position, which is what lets LLVM emit SIMD
code whatever the image size (a 7x7 image has only two tiles across).

Tile (ty, tx) of the padded input starts at row ``4 * ty - pad_h`` and column
``4 * tx - pad_w``; positions outside the image read as zero (input) or are dropped
(output), checked once per position, outside the channel loop.
"""

import numpy as np
from numba import njit

from minigrad.kernels.fastmath import REASSOCIATE


@njit(inline="always")
def _rows_bt(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5, length):
    """``o_s = sum_j B^T[s, j] d_j`` over ``length`` channels (the input transform's 1-D step)."""
    for c in range(length):
        a0, a1, a2, a3, a4, a5 = d0[c], d1[c], d2[c], d3[c], d4[c], d5[c]
        p = a4 - 4 * a2
        q = a3 - 4 * a1
        r = a4 - a2
        s = 2 * (a3 - a1)
        o0[c] = 4 * a0 - 5 * a2 + a4
        o1[c] = p + q
        o2[c] = p - q
        o3[c] = r + s
        o4[c] = r - s
        o5[c] = 4 * a1 - 5 * a3 + a5


@njit(inline="always")
def _rows_b(w0, w1, w2, w3, w4, w5, o0, o1, o2, o3, o4, o5, length):
    """``o_j = sum_s B^T[s, j] w_s``: the adjoint of ``_rows_bt``."""
    for c in range(length):
        a0, a1, a2, a3, a4, a5 = w0[c], w1[c], w2[c], w3[c], w4[c], w5[c]
        p = a1 + a2
        q = a3 + a4
        o0[c] = 4 * a0
        o1[c] = 4 * (a2 - a1) + 2 * (a4 - a3) + 4 * a5
        o2[c] = -5 * a0 - 4 * p - q
        o3[c] = a1 - a2 + 2 * (a3 - a4) - 5 * a5
        o4[c] = a0 + p + q
        o5[c] = a5


@njit(inline="always")
def _rows_at(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3, length):
    """``o_i = sum_s A^T[i, s] m_s`` (the output transform's 1-D step)."""
    for c in range(length):
        a0, a1, a2, a3, a4, a5 = m0[c], m1[c], m2[c], m3[c], m4[c], m5[c]
        p = a1 + a2
        q = a1 - a2
        r = a3 + a4
        s = a3 - a4
        o0[c] = a0 + p + r
        o1[c] = q + 2 * s
        o2[c] = p + 4 * r
        o3[c] = q + 8 * s + a5


@njit(inline="always")
def _rows_a(z0, z1, z2, z3, o0, o1, o2, o3, o4, o5, length):
    """``o_s = sum_i A^T[i, s] z_i``: the adjoint of ``_rows_at``."""
    for c in range(length):
        a0, a1, a2, a3 = z0[c], z1[c], z2[c], z3[c]
        p = a0 + a2
        q = a1 + a3
        r = a0 + 4 * a2
        s = 2 * a1 + 8 * a3
        o0[c] = a0
        o1[c] = p + q
        o2[c] = p - q
        o3[c] = r + s
        o4[c] = r - s
        o5[c] = a3


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def input_transform(x, pad_h, pad_w, tiles_h, tiles_w, v):
    """``v`` (36, N*T, C) = B^T d B for every 6x6 tile d of the zero-padded ``x`` (N, H, W, C)."""
    n_samples, height, width, channels = x.shape
    zero = np.zeros(channels, x.dtype)
    rows = np.empty((6, 6, channels), x.dtype)
    for n in range(n_samples):
        for ty in range(tiles_h):
            for tx in range(tiles_w):
                t = (n * tiles_h + ty) * tiles_w + tx
                y0, x0 = 4 * ty - pad_h, 4 * tx - pad_w
                for i in range(6):
                    iy = y0 + i
                    if iy < 0 or iy >= height:
                        for s in range(6):
                            rows[i, s, :] = 0
                        continue
                    line = x[n, iy]
                    d0 = line[x0] if 0 <= x0 < width else zero
                    d1 = line[x0 + 1] if 0 <= x0 + 1 < width else zero
                    d2 = line[x0 + 2] if 0 <= x0 + 2 < width else zero
                    d3 = line[x0 + 3] if 0 <= x0 + 3 < width else zero
                    d4 = line[x0 + 4] if 0 <= x0 + 4 < width else zero
                    d5 = line[x0 + 5] if 0 <= x0 + 5 < width else zero
                    r = rows[i]
                    _rows_bt(d0, d1, d2, d3, d4, d5, r[0], r[1], r[2], r[3], r[4], r[5],
                             channels)
                for s in range(6):
                    _rows_bt(rows[0, s], rows[1, s], rows[2, s], rows[3, s], rows[4, s],
                             rows[5, s], v[s, t], v[6 + s, t], v[12 + s, t], v[18 + s, t],
                             v[24 + s, t], v[30 + s, t], channels)


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def output_transform(m, bias, tiles_h, tiles_w, y):
    """Writes ``y`` (N, OH, OW, O) = A^T m A + ``bias`` (O,) from ``m`` (36, N*T, O)."""
    n_samples, out_h, out_w, channels = y.shape
    rows = np.empty((6, 4, channels), m.dtype)
    out = np.empty((4, 4, channels), m.dtype)
    for n in range(n_samples):
        for ty in range(tiles_h):
            for tx in range(tiles_w):
                t = (n * tiles_h + ty) * tiles_w + tx
                for r in range(6):
                    e = 6 * r
                    q = rows[r]
                    _rows_at(m[e, t], m[e + 1, t], m[e + 2, t], m[e + 3, t], m[e + 4, t],
                             m[e + 5, t], q[0], q[1], q[2], q[3], channels)
                for j in range(4):
                    _rows_at(rows[0, j], rows[1, j], rows[2, j], rows[3, j], rows[4, j],
                             rows[5, j], out[0, j], out[1, j], out[2, j], out[3, j], channels)
                for i in range(min(4, out_h - 4 * ty)):
                    for j in range(min(4, out_w - 4 * tx)):
                        src, dst = out[i, j], y[n, 4 * ty + i, 4 * tx + j]
                        for c in range(channels):
                            dst[c] = src[c] + bias[c]


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def grad_output_transform(dy, tiles_h, tiles_w, m, bias_sum):
    """``m`` (36, N*T, O) = A z A^T for every 4x4 tile z of ``dy`` (N, OH, OW, O), zero past
    its edges: the adjoint of ``output_transform``. Adds the sum of ``dy`` over samples and
    positions, the bias gradient, into ``bias_sum`` (O,), a float64 array."""
    n_samples, out_h, out_w, channels = dy.shape
    zero = np.zeros(channels, dy.dtype)
    rows = np.empty((4, 6, channels), dy.dtype)
    for n in range(n_samples):
        for iy in range(out_h):
            for ix in range(out_w):
                line = dy[n, iy, ix]
                for c in range(channels):
                    bias_sum[c] += line[c]
        for ty in range(tiles_h):
            for tx in range(tiles_w):
                t = (n * tiles_h + ty) * tiles_w + tx
                x0 = 4 * tx
                for i in range(4):
                    iy = 4 * ty + i
                    if iy >= out_h:
                        for s in range(6):
                            rows[i, s, :] = 0
                        continue
                    line = dy[n, iy]
                    z0 = line[x0] if x0 < out_w else zero
                    z1 = line[x0 + 1] if x0 + 1 < out_w else zero
                    z2 = line[x0 + 2] if x0 + 2 < out_w else zero
                    z3 = line[x0 + 3] if x0 + 3 < out_w else zero
                    q = rows[i]
                    _rows_a(z0, z1, z2, z3, q[0], q[1], q[2], q[3], q[4], q[5], channels)
                for s in range(6):
                    _rows_a(rows[0, s], rows[1, s], rows[2, s], rows[3, s], m[s, t],
                            m[6 + s, t], m[12 + s, t], m[18 + s, t], m[24 + s, t],
                            m[30 + s, t], channels)


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def input_transform_adjoint(dv, pad_h, pad_w, tiles_h, tiles_w, dx):
    """Writes ``dx`` (N, H, W, C) = the sum over tiles of B dv B^T, each 6x6 tile added at
    its place in the padded input (positions in the padding dropped): the adjoint of
    ``input_transform``."""
    n_samples, height, width, channels = dx.shape
    rows = np.empty((6, 6, channels), dv.dtype)
    out = np.empty((6, 6, channels), dv.dtype)
    dx[...] = 0
    for n in range(n_samples):
        for ty in range(tiles_h):
            for tx in range(tiles_w):
                t = (n * tiles_h + ty) * tiles_w + tx
                y0, x0 = 4 * ty - pad_h, 4 * tx - pad_w
                for r in range(6):
                    e = 6 * r
                    q = rows[r]
                    _rows_b(dv[e, t], dv[e + 1, t], dv[e + 2, t], dv[e + 3, t], dv[e + 4, t],
                            dv[e + 5, t], q[0], q[1], q[2], q[3], q[4], q[5], channels)
                for j in range(6):
                    _rows_b(rows[0, j], rows[1, j], rows[2, j], rows[3, j], rows[4, j],
                            rows[5, j], out[0, j], out[1, j], out[2, j], out[3, j], out[4, j],
                            out[5, j], channels)
                for i in range(6):
                    iy = y0 + i
                    if iy < 0 or iy >= height:
                        continue
                    for j in range(6):
                        ix = x0 + j
                        if 0 <= ix < width:
                            src, dst = out[i, j], dx[n, iy, ix]
                            for c in range(channels):
                                dst[c] += src[c]
