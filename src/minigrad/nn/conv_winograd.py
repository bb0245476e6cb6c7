"""Conv2d's Winograd F(2x2, 3x3) algorithm: 3x3 kernels, stride 1, padding 0 to 2.

The batch goes through in chunks; per chunk, the input tiles are transformed
(``kernels.winograd``), multiplied by the transformed weights in 16 GEMMs, and transformed
back. See ``minigrad.kernels.winograd`` for the math and the layout of the tiles.
"""

from __future__ import annotations

import numpy as np

from minigrad.kernels import winograd as kernels

# Offset of the 16 transformed planes from a 4 KiB multiple (see _Scratch.planes)
PLANE_SKEW_BYTES = 256
# Weight transform G of F(2x2, 3x3): u = G g G^T turns a 3x3 kernel into a 4x4 tile.
G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
GG = np.kron(G, G)  # (16, 9): GG[4i + j, 3a + b] = G[i, a] G[j, b], products of 0, +-1/2, 1


def applicable(kernel_size: tuple, stride: tuple, padding: tuple) -> bool:
    """The input gradient is a convolution padded by ``2 - padding``, hence padding <= 2."""
    return kernel_size == (3, 3) and stride == (1, 1) and max(padding) <= 2


def tile_count(height: int, width: int) -> tuple[int, int]:
    """2x2 output tiles covering an (height, width) output."""
    return (height + 1) // 2, (width + 1) // 2


def bytes_per_sample(in_channels: int, out_channels: int, in_size, out_size, itemsize) -> int:
    """Scratch one sample takes in the largest of the three loops (forward, weight
    gradient, input gradient): the 16 transformed planes of both sides of a GEMM, plus, for
    the weight gradient, the output gradient re-laid to even sides."""
    out_tiles = np.prod(tile_count(*out_size))
    in_tiles = np.prod(tile_count(*in_size))
    planes = 16 * (in_channels + out_channels)
    weight_grad = planes * out_tiles + 4 * out_channels * out_tiles
    return int(max(weight_grad, planes * in_tiles) * itemsize)


def weight_transform(weight: np.ndarray) -> np.ndarray:
    """(O, C, 3, 3) -> u (16, O, C), u[4i + j] = (G g G^T)[i, j] for every (o, c)."""
    out_channels, in_channels = weight.shape[:2]
    # One (16, 9) @ (9, O*C) GEMM: a batch of O*C tiny 3x3 products is far slower
    u = GG.astype(weight.dtype) @ weight.reshape(-1, 9).T
    return u.reshape(16, out_channels, in_channels)


def weight_transform_adjoint(du: np.ndarray) -> np.ndarray:
    """(16, O, C) -> (O, C, 3, 3): G^T du G, the gradient of ``weight_transform``."""
    dg = du.reshape(16, -1).T @ GG.astype(du.dtype)  # (O*C, 9)
    return dg.reshape(du.shape[1], du.shape[2], 3, 3)


class _Scratch:
    """The per-chunk buffers of one loop, reused by every chunk: (16, channels, chunk * T)
    arrays, a padded plane and a row buffer for the transforms."""

    def __init__(self, chunk, tiles, dtype):
        self.chunk, self.tiles, self.dtype = chunk, tiles, dtype
        self.plane = np.empty((2 * tiles[0] + 2, 2 * tiles[1] + 2), dtype=dtype)
        self.rows = np.empty((4, self.plane.shape[1]), dtype=dtype)

    def planes(self, channels):
        """(16, channels, chunk * T), the planes ``PLANE_SKEW_BYTES`` past a multiple of
        4 KiB apart: planes exactly a multiple apart put the 16 streams a transform reads or
        writes at once into the same cache set, which made a whole forward and backward
        up to 1.5x slower (at 4 samples of 128 channels and 196 tiles, for instance)."""
        columns = self.chunk * self.tiles[0] * self.tiles[1]
        itemsize = np.dtype(self.dtype).itemsize
        size = channels * columns
        stride = -(-size * itemsize // 4096) * 4096 + PLANE_SKEW_BYTES
        flat = np.empty((16, stride // itemsize), dtype=self.dtype)
        return flat[:, :size].reshape(16, channels, columns)

    def transform_input(self, x_chunk, padding, buffer):
        v = buffer[:, :, :x_chunk.shape[0] * self.tiles[0] * self.tiles[1]]
        kernels.input_transform(x_chunk, *padding, self.plane, self.rows, v)
        return v


def forward(x, u, bias, padding, chunk, out_size, keep=False):
    """y (N, O, OH, OW) of the convolution whose transformed weights are ``u`` (16, O, C),
    plus ``bias`` (O,).

    Returns ``(y, v)``: ``v`` is the transformed input (16, C, N*T) when ``keep`` and the
    batch is one chunk (the weight gradient then reuses it), else None.
    """
    n, out_channels = x.shape[0], u.shape[1]
    scratch = _Scratch(chunk, tile_count(*out_size), x.dtype)
    y = np.empty((n, out_channels) + tuple(out_size), dtype=x.dtype)
    v_buffer, m_buffer = scratch.planes(x.shape[1]), scratch.planes(out_channels)
    for start in range(0, n, chunk):
        v = scratch.transform_input(x[start:start + chunk], padding, v_buffer)
        m = np.matmul(u, v, out=m_buffer[:, :, :v.shape[2]])  # (16, O, C) @ (16, C, n_c*T)
        kernels.output_transform(m, bias, y[start:start + chunk])
    return y, (v_buffer if keep and n <= chunk else None)


def backward(x, dy, weight, padding, chunk, dweight, v_cached=None):
    """Adds the weight gradient into ``dweight`` (O, C, 3, 3); returns the input gradient."""
    dweight += weight_transform_adjoint(_transformed_weight_grad(x, dy, padding, chunk,
                                                                 v_cached))
    # dx is the convolution of dy, padded by 2 - padding, with the flipped, transposed kernel
    flipped = np.ascontiguousarray(weight.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
    no_bias = np.zeros(x.shape[1], dtype=dy.dtype)
    dx, _ = forward(dy, weight_transform(flipped), no_bias, (2 - padding[0], 2 - padding[1]),
                    chunk, x.shape[2:])
    return dx


def _transformed_weight_grad(x, dy, padding, chunk, v_cached):
    """du (16, O, C) = sum over tiles of (A dY A^T) (B^T d B)^T."""
    n, out_channels, out_h, out_w = dy.shape
    tiles = tile_count(out_h, out_w)
    scratch = _Scratch(chunk, tiles, x.dtype)
    du = np.zeros((16, out_channels, x.shape[1]), dtype=x.dtype)
    v_buffer = scratch.planes(x.shape[1]) if v_cached is None else None
    m_buffer = scratch.planes(out_channels)
    even = (2 * tiles[0], 2 * tiles[1])
    padded = None if even == (out_h, out_w) else np.zeros(
        (chunk, out_channels) + even, dtype=x.dtype)
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        if v_cached is None:
            v = scratch.transform_input(x[start:start + chunk], padding, v_buffer)
        else:  # the whole batch's tiles (chunk is smaller only if scratch_bytes shrank)
            per_sample = tiles[0] * tiles[1]
            v = v_cached[:, :, start * per_sample:(start + count) * per_sample]
        dy_chunk = dy[start:start + chunk]
        if padded is not None:
            padded[:count, :, :out_h, :out_w] = dy_chunk
            dy_chunk = padded[:count]
        m = m_buffer[:, :, :v.shape[2]]
        kernels.grad_output_transform(dy_chunk, scratch.rows[:, :even[1]], m)
        du += np.matmul(m, v.transpose(0, 2, 1))  # (16, O, n_c*T) @ (16, n_c*T, C)
    return du
