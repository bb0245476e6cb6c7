"""Winograd F(2x2, 3x3) transforms for stride-1 3x3 convolutions (Lavin & Gray, 2015).

A 3x3 convolution computes each 2x2 output tile from a 4x4 input tile. In the Winograd
domain that is 16 element-wise products instead of 36 multiply-adds, and summed over
channels the products become 16 independent GEMMs, 2.25x fewer flops than im2col's:

    forward          Y = A^T [ (G g G^T) . (B^T d B) ] A
    weight gradient  dg = G^T [ sum over tiles (A dY A^T) . (B^T d B) ] G

(``.`` is the element-wise product; the second line is the adjoint of the first in g).
The input gradient is the forward transform applied to the padded output gradient with
the kernel flipped and its channels swapped. Every constant in B, G and A is 0, +-1 or
1/2, so the transforms are exact in binary floating point up to the adds' rounding.

Layout of the transformed tensors: ``v[e, c, n * T + ty * TW + tx]`` with ``e = 4 * i + j``
the position in the 4x4 tile and ``T = TH * TW`` tiles per sample, so that
``np.matmul(u, v)`` with ``u[e, o, c]`` is the 16 GEMMs at once.
"""

from numba import njit

from minigrad.kernels.fastmath import REASSOCIATE


@njit(cache=True, fastmath=REASSOCIATE)
def input_transform(x, pad_h, pad_w, plane, rows, v):
    """``v`` (16, C, N*T) = B^T d B for every 4x4 tile d of the zero-padded ``x`` (N, C, H, W).

    Tile (ty, tx) starts at row ``2*ty - pad_h``, column ``2*tx - pad_w``. ``plane`` is a
    (2*TH + 2, 2*TW + 2) scratch for one padded channel, ``rows`` a (4, 2*TW + 2) scratch.
    """
    n_samples, channels, height, width = x.shape
    plane_h, plane_w = plane.shape
    tiles_h, tiles_w = (plane_h - 2) // 2, (plane_w - 2) // 2
    tiles = tiles_h * tiles_w
    plane[...] = 0
    copy_h = min(height, plane_h - pad_h)
    copy_w = min(width, plane_w - pad_w)
    for n in range(n_samples):
        for c in range(channels):
            for r in range(copy_h):
                for q in range(copy_w):
                    plane[pad_h + r, pad_w + q] = x[n, c, r, q]
            for ty in range(tiles_h):
                top = 2 * ty
                # B^T on the rows: (d0 - d2, d1 + d2, d2 - d1, d1 - d3), all columns at once
                for q in range(plane_w):
                    d0 = plane[top, q]
                    d1 = plane[top + 1, q]
                    d2 = plane[top + 2, q]
                    d3 = plane[top + 3, q]
                    rows[0, q] = d0 - d2
                    rows[1, q] = d1 + d2
                    rows[2, q] = d2 - d1
                    rows[3, q] = d1 - d3
                base = n * tiles + ty * tiles_w
                # ... then B on the columns of each tile
                for i in range(4):
                    for tx in range(tiles_w):
                        q = 2 * tx
                        r0 = rows[i, q]
                        r1 = rows[i, q + 1]
                        r2 = rows[i, q + 2]
                        r3 = rows[i, q + 3]
                        v[4 * i, c, base + tx] = r0 - r2
                        v[4 * i + 1, c, base + tx] = r1 + r2
                        v[4 * i + 2, c, base + tx] = r2 - r1
                        v[4 * i + 3, c, base + tx] = r1 - r3


@njit(cache=True, fastmath=REASSOCIATE)
def output_transform(m, bias, y):
    """Writes ``y`` (N, O, OH, OW) = A^T m A + ``bias`` (O,) of every tile of ``m`` (16, O, N*T)."""
    n_samples, channels, out_h, out_w = y.shape
    tiles_h, tiles_w = (out_h + 1) // 2, (out_w + 1) // 2
    tiles = tiles_h * tiles_w
    for n in range(n_samples):
        for o in range(channels):
            b = bias[o]
            for ty in range(tiles_h):
                base = n * tiles + ty * tiles_w
                oy = 2 * ty
                for tx in range(tiles_w):
                    col = base + tx
                    # A^T on the rows: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3 (per column j)
                    s00 = m[0, o, col] + m[4, o, col] + m[8, o, col]
                    s01 = m[1, o, col] + m[5, o, col] + m[9, o, col]
                    s02 = m[2, o, col] + m[6, o, col] + m[10, o, col]
                    s03 = m[3, o, col] + m[7, o, col] + m[11, o, col]
                    s10 = m[4, o, col] - m[8, o, col] - m[12, o, col]
                    s11 = m[5, o, col] - m[9, o, col] - m[13, o, col]
                    s12 = m[6, o, col] - m[10, o, col] - m[14, o, col]
                    s13 = m[7, o, col] - m[11, o, col] - m[15, o, col]
                    ox = 2 * tx
                    y[n, o, oy, ox] = s00 + s01 + s02 + b
                    if ox + 1 < out_w:
                        y[n, o, oy, ox + 1] = s01 - s02 - s03 + b
                    if oy + 1 < out_h:
                        y[n, o, oy + 1, ox] = s10 + s11 + s12 + b
                        if ox + 1 < out_w:
                            y[n, o, oy + 1, ox + 1] = s11 - s12 - s13 + b


@njit(cache=True, fastmath=REASSOCIATE)
def grad_output_transform(dy, rows, m):
    """``m`` (16, O, N*T) = A z A^T for every 2x2 tile z of ``dy`` (N, O, 2*TH, 2*TW): the
    adjoint of ``output_transform`` (the caller zero-pads an odd-sized gradient).
    ``rows`` is a (4, 2*TW) scratch."""
    n_samples, channels, out_h, out_w = dy.shape
    tiles_h, tiles_w = out_h // 2, out_w // 2
    tiles = tiles_h * tiles_w
    for n in range(n_samples):
        for o in range(channels):
            for ty in range(tiles_h):
                oy = 2 * ty
                # A on the rows: (z0, z0 + z1, z0 - z1, -z1), all columns at once
                for q in range(out_w):
                    z0 = dy[n, o, oy, q]
                    z1 = dy[n, o, oy + 1, q]
                    rows[0, q] = z0
                    rows[1, q] = z0 + z1
                    rows[2, q] = z0 - z1
                    rows[3, q] = -z1
                base = n * tiles + ty * tiles_w
                # ... then A on the columns of each tile
                for i in range(4):
                    for tx in range(tiles_w):
                        a = rows[i, 2 * tx]
                        b = rows[i, 2 * tx + 1]
                        m[4 * i, o, base + tx] = a
                        m[4 * i + 1, o, base + tx] = a + b
                        m[4 * i + 2, o, base + tx] = a - b
                        m[4 * i + 3, o, base + tx] = -b
