"""Conv2d's Winograd F(4x4, 3x3) algorithm: 3x3 kernels, stride 1, padding 0 to 2, on
channels-last data.

The batch goes through in chunks of samples. Per chunk, forward transforms the input
tiles, multiplies them by the transformed weights in 36 GEMMs and transforms back;
backward transforms the input tiles again and the output gradient once, and uses the
latter twice: 36 GEMMs against the transformed input give the weight gradient, 36 against
the transformed weights give the transformed input gradient, which the adjoint input
transform adds back into the image. See ``minigrad.kernels.winograd_f4`` for the math and
the layouts. Every array but the returned one comes from the thread's workspace
(``minigrad.nn.workspace``), so nothing is kept from forward to backward.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from minigrad import parallel
from minigrad.kernels import winograd_f4 as kernels
from minigrad.nn import workspace

TILE = 4  # output tile side; the input tile is TILE + 2
POSITIONS = 36  # (TILE + 2) ** 2 products per tile and channel pair
# Offset of the 36 transformed planes from a 4 KiB multiple (see _planes)
PLANE_SKEW_BYTES = 256
# The weight gradient in the Winograd domain is computed for blocks of output channels of
# at most this size per thread, each turned into its part of dL/dweight at once: for a
# 512x512 layer the whole of it would be 36 MiB on top of the 36 MiB of transformed weights.
WEIGHT_GRAD_BLOCK_BYTES = 4 * 2**20
# Weight transform G of F(4x4, 3x3): u = G g G^T turns a 3x3 kernel into a 6x6 tile.
G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
GG = np.kron(G, G)  # (36, 9): GG[6i + j, 3a + b] = G[i, a] G[j, b]


def applicable(kernel_size: tuple, stride: tuple, padding: tuple) -> bool:
    """3x3 kernels at stride 1. Padding past 2 would add tiles of zeros only: not offered."""
    return kernel_size == (3, 3) and stride == (1, 1) and max(padding) <= 2


def tile_count(height: int, width: int) -> tuple[int, int]:
    """4x4 output tiles covering an (height, width) output."""
    return -(-height // TILE), -(-width // TILE)


def _plane_stride(count: int, channels: int, itemsize: int) -> int:
    return -(-count * channels * itemsize // 4096) * 4096 + PLANE_SKEW_BYTES


def _weight_grad_block(in_channels: int, out_channels: int, itemsize: int) -> int:
    """Output channels per block of the Winograd-domain weight gradient."""
    per_channel = POSITIONS * in_channels * itemsize
    return max(1, min(out_channels, WEIGHT_GRAD_BLOCK_BYTES // per_channel))


def _weights_bytes(weight: np.ndarray) -> int:
    return workspace.padded(POSITIONS * weight.size // 9 * weight.itemsize)


def fixed_bytes(in_channels: int, out_channels: int, itemsize: int) -> int:
    """Scratch of either pass that does not grow with the batch: the transformed weights
    and one block of their gradient per thread."""
    block = _weight_grad_block(in_channels, out_channels, itemsize)
    weights = POSITIONS * in_channels * out_channels * itemsize
    return workspace.padded(weights) + parallel.thread_count() * workspace.padded(
        POSITIONS * block * in_channels * itemsize)


def chunk_bytes(in_channels: int, out_channels: int, out_size, chunk: int,
                itemsize: int) -> int:
    """Scratch of a chunk of ``chunk`` samples in either pass: the 36 transformed planes of
    both sides of a GEMM (backward writes the input gradient's over the input's)."""
    tiles = chunk * int(np.prod(tile_count(*out_size)))
    return sum(workspace.padded(POSITIONS * _plane_stride(tiles, channels, itemsize))
               for channels in (in_channels, out_channels))


def _planes(carver: workspace.Carver, count: int, channels: int, dtype) -> np.ndarray:
    """(36, count, channels) from the workspace, each plane ``PLANE_SKEW_BYTES`` past a
    multiple of 4 KiB from the next: the transforms write (or read) one run of channels in
    each of the 36 planes per tile, and planes exactly a multiple apart would put all 36
    runs into the same cache sets (docs/design.md, Bounded scratch memory)."""
    itemsize = np.dtype(dtype).itemsize
    stride = _plane_stride(count, channels, itemsize)
    flat = carver.take(POSITIONS * stride).view(dtype).reshape(POSITIONS, stride // itemsize)
    return flat[:, :count * channels].reshape(POSITIONS, count, channels)


def weight_transform(weight: np.ndarray, carver: workspace.Carver | None = None) -> np.ndarray:
    """(O, C, 3, 3) -> u (36, C, O), u[6i + j, c, o] = (G g G^T)[i, j] of kernel (o, c): a
    view of (36, O, C) memory (the GEMMs read it transposed at no cost), in the workspace
    of ``carver`` if one is given. Split over the threads by tile position."""
    out_channels, in_channels = weight.shape[:2]
    shape = (POSITIONS, out_channels * in_channels)
    u = np.empty(shape, weight.dtype) if carver is None else carver.take(
        POSITIONS * weight.size // 9 * weight.itemsize).view(weight.dtype).reshape(shape)
    gg, rows = GG.astype(weight.dtype), weight.reshape(-1, 9).T
    # (36, 9) @ (9, O*C) GEMMs: a batch of O*C tiny 3x3 products is far slower
    parallel.split(lambda a, b: np.matmul(gg[a:b], rows, out=u[a:b]), POSITIONS)
    return u.reshape(POSITIONS, out_channels, in_channels).transpose(0, 2, 1)


def weight_transform_adjoint(du: np.ndarray) -> np.ndarray:
    """(36, O, C) -> (O, C, 3, 3): G^T du G, the gradient of ``weight_transform``."""
    out_channels, in_channels = du.shape[1:]
    dg = du.reshape(POSITIONS, -1).T @ GG.astype(du.dtype)  # (O*C, 9)
    return dg.reshape(out_channels, in_channels, 3, 3)


# The ranges of each split: samples of a chunk for the transforms (``a:b``; tiles
# ``a * T:b * T``), tile positions for the GEMMs.


def _input_range(x, padding, tiles, v, a, b):
    per_sample = tiles[0] * tiles[1]
    kernels.input_transform(x[a:b], *padding, *tiles, v[:, a * per_sample:b * per_sample])


def _output_range(m, bias, tiles, y, a, b):
    per_sample = tiles[0] * tiles[1]
    kernels.output_transform(m[:, a * per_sample:b * per_sample], bias, *tiles, y[a:b])


def _products_range(v, u, m, a, b):
    np.matmul(v[a:b], u[a:b], out=m[a:b])  # (e, n_c*T, C) @ (e, C, O) for each position e


class EvalWeights:
    """An eval-mode layer's transformed weights, reused by its next forwards while its
    weights stay exactly equal to those they came from: compared in full at every call
    (reading the weights twice costs a fraction of transforming them), so no change to the
    weights, by an optimizer, ``load_state_dict`` or the user, can leave a stale entry."""

    def __init__(self):
        self.weights, self.u = None, None

    def get(self, weight: np.ndarray) -> np.ndarray:
        """``weight_transform(weight)``, from the last call's if the weights are unchanged."""
        cached = self.weights
        if (cached is None or cached.dtype != weight.dtype or cached.shape != weight.shape
                or not np.array_equal(cached, weight)):
            self.u = weight_transform(weight, workspace.fresh(_weights_bytes(weight)))
            self.weights = weight.copy()
        return self.u

    def clear(self) -> None:
        self.weights, self.u = None, None


def forward(x, weight, bias, padding, chunk, out_size, keep=False, u=None):
    """y (N, OH, OW, O) of the convolution of ``x`` (N, H, W, C) with ``weight`` (O, C, 3,
    3) plus ``bias`` (O,), ``chunk`` samples at a time. ``x`` is channels-last memory or any
    strided view (an NCHW array's ``transpose(0, 2, 3, 1)``): a view is copied to
    channels-last one chunk at a time, never as a whole.

    Each chunk: the input transform split over the threads by samples, the 36 GEMMs by
    tile position, the output transform by samples again. Returns ``(y, kept)``: with
    ``keep``, ``kept = (u, v, memory)`` for ``backward``: the transformed weights and (when
    the batch is one chunk, else None) the transformed input, in memory of their own
    instead of the workspace, and the carver of that memory (``backward`` hands it back,
    ``workspace.give_back``); else ``kept`` is None. ``u`` (36, C, O): the transformed
    weights, if the caller has them (``EvalWeights``).
    """
    n, in_channels, out_channels = x.shape[0], x.shape[3], weight.shape[0]
    tiles = tile_count(*out_size)
    columns = min(chunk, n) * tiles[0] * tiles[1]
    sizes = {"u": 0 if u is not None else _weights_bytes(weight),
             "v": chunk_bytes(in_channels, 0, out_size, min(chunk, n), x.itemsize),
             "m": chunk_bytes(0, out_channels, out_size, min(chunk, n), x.itemsize)}
    kept_names = ("u", "v") if keep and n <= chunk else ("u",) if keep else ()
    kept = workspace.fresh(sum(sizes[k] for k in kept_names))
    y = np.empty((n,) + tuple(out_size) + (out_channels,), dtype=x.dtype)
    with workspace.reserve(sum(b for k, b in sizes.items() if k not in kept_names) +
                           _chunk_copy_bytes(x, chunk)) as carver:
        copy_buffer = _copy_buffer(carver, x, chunk)
        if u is None:
            u = weight_transform(weight, kept if "u" in kept_names else carver)
        v_buffer = _planes(kept if "v" in kept_names else carver, columns, in_channels,
                           x.dtype)
        m_buffer = _planes(carver, columns, out_channels, x.dtype)
        for start in range(0, n, chunk):
            # a strided (NCHW) x is made channels-last one chunk at a time: bounded scratch
            xc, yc = _chunk_of(x, start, chunk, copy_buffer), y[start:start + chunk]
            v = v_buffer[:, :len(xc) * tiles[0] * tiles[1]]
            m = m_buffer[:, :v.shape[1]]
            parallel.split(partial(_input_range, xc, padding, tiles, v), len(xc))
            parallel.split(partial(_products_range, v, u, m), POSITIONS)
            parallel.split(partial(_output_range, m, bias, tiles, yc), len(xc))
    return y, ((u, v_buffer if "v" in kept_names else None, kept) if keep else None)


def _chunk_copy_bytes(x, chunk: int) -> int:
    """Workspace for a channels-last copy of ``chunk`` samples of ``x``: none if ``x`` is
    channels-last memory already."""
    return 0 if x.flags.c_contiguous else workspace.padded(
        min(chunk, x.shape[0]) * int(np.prod(x.shape[1:])) * x.itemsize)


def _chunk_of(x, start: int, chunk: int, copy_buffer):
    """Samples ``start:start + chunk`` of ``x`` as C-contiguous (N, H, W, C): a view when
    ``x`` is channels-last, else copied into ``copy_buffer`` (from the workspace)."""
    part = x[start:start + chunk]
    if copy_buffer is None:
        return part
    out = copy_buffer[:len(part)]
    np.copyto(out, part)
    return out


def _copy_buffer(carver, x, chunk: int):
    """The workspace array ``_chunk_of`` copies into, or None for channels-last ``x``."""
    nbytes = _chunk_copy_bytes(x, chunk)
    if not nbytes:
        return None
    shape = (min(chunk, x.shape[0]),) + x.shape[1:]
    return carver.take(nbytes).view(x.dtype)[:int(np.prod(shape))].reshape(shape)


def _gradient_transforms_range(x, dy, padding, tiles, v, dm, a, b):
    """The input (unless ``x`` is None: ``v`` was kept) and output-gradient transforms of
    samples a:b; returns their share of the bias gradient (float64)."""
    per_sample = tiles[0] * tiles[1]
    bias_sum = np.zeros(dy.shape[3], np.float64)
    if x is not None:
        kernels.input_transform(x[a:b], *padding, *tiles,
                                v[:, a * per_sample:b * per_sample])
    kernels.grad_output_transform(dy[a:b], *tiles, dm[:, a * per_sample:b * per_sample],
                                  bias_sum)
    return bias_sum


def _weight_gradient_range(v, dm, dweight, a, b):
    """Adds dL/dweight of the output channels a:b into ``dweight``, in blocks whose
    Winograd-domain gradient lives in this thread's workspace."""
    in_channels, itemsize = v.shape[2], v.itemsize
    block = _weight_grad_block(in_channels, dm.shape[2], itemsize)
    nbytes = POSITIONS * block * in_channels * itemsize
    with workspace.reserve(nbytes) as carver:
        buffer = carver.take(nbytes).view(v.dtype).reshape(POSITIONS, block, in_channels)
        for first in range(a, b, block):
            last = min(first + block, b)
            # (36, o_b, n_c*T) @ (36, n_c*T, C)
            du = np.matmul(dm[:, :, first:last].transpose(0, 2, 1), v,
                           out=buffer[:, :last - first])
            dweight[first:last] += weight_transform_adjoint(du)


def _input_products_range(v, dm, u_t, a, b):
    np.matmul(dm[a:b], u_t[a:b], out=v[a:b])  # (e, n_c*T, O) @ (e, O, C); v is spent


def _input_gradient_range(dv, padding, tiles, dx, a, b):
    per_sample = tiles[0] * tiles[1]
    kernels.input_transform_adjoint(dv[:, a * per_sample:b * per_sample], *padding, *tiles,
                                    dx[a:b])


def backward(x, dy, weight, padding, chunk, dweight, dbias, kept=None):
    """Adds the weight gradient into ``dweight`` (O, C, 3, 3) and the bias gradient into
    ``dbias`` (O,) unless None; returns the input gradient (N, H, W, C).

    ``x`` (N, H, W, C) and ``dy`` (N, OH, OW, O), each channels-last or a strided view
    (copied a chunk at a time, as in ``forward``); ``kept`` is what ``forward(keep=True)``
    returned (its transformed input is overwritten here, and its memory handed back).
    Each chunk: both transforms split over the threads by samples, the weight gradient's
    GEMMs by output channels (each range writes its own rows of dL/dweight), the input
    gradient's by tile position, the adjoint input transform by samples.
    """
    n, in_channels, out_channels = x.shape[0], x.shape[3], dy.shape[3]
    tiles = tile_count(*dy.shape[1:3])
    columns = min(chunk, n) * tiles[0] * tiles[1]
    u, v_kept, kept_memory = (None, None, None) if kept is None else kept
    bias_sum = np.zeros(out_channels, np.float64)
    dx = np.empty(x.shape, x.dtype)  # C-contiguous (N, H, W, C) whatever x's strides
    block = _weight_grad_block(in_channels, out_channels, x.itemsize)
    scratch = (chunk_bytes(0, out_channels, dy.shape[1:3], min(chunk, n), x.itemsize) +
               (_weights_bytes(weight) if u is None else 0) +
               (chunk_bytes(in_channels, 0, dy.shape[1:3], min(chunk, n), x.itemsize) +
                _chunk_copy_bytes(x, chunk) if v_kept is None else 0) +
               _chunk_copy_bytes(dy, chunk))
    # spare: the weight-gradient block of the split's range that runs in this thread
    with workspace.reserve(scratch, spare=workspace.padded(
            POSITIONS * block * in_channels * x.itemsize)) as carver:
        u_t = (weight_transform(weight, carver) if u is None else u).transpose(0, 2, 1)
        v_buffer = _planes(carver, columns, in_channels, x.dtype) if v_kept is None else v_kept
        m_buffer = _planes(carver, columns, out_channels, x.dtype)
        copy_buffer = _copy_buffer(carver, x, chunk) if v_kept is None else None
        dy_buffer = _copy_buffer(carver, dy, chunk)
        for start in range(0, n, chunk):
            xc = _chunk_of(x, start, chunk, copy_buffer) if v_kept is None else \
                x[start:start + chunk]
            dyc = _chunk_of(dy, start, chunk, dy_buffer)
            per_sample = tiles[0] * tiles[1]
            v = v_buffer[:, :len(xc) * per_sample] if v_kept is None else \
                v_kept[:, start * per_sample:(start + len(xc)) * per_sample]
            dm = m_buffer[:, :v.shape[1]]
            bias_sum += sum(parallel.split(partial(
                _gradient_transforms_range, None if v_kept is not None else xc, dyc, padding,
                tiles, v, dm), len(xc)))
            parallel.split(partial(_weight_gradient_range, v, dm, dweight), out_channels)
            parallel.split(partial(_input_products_range, v, dm, u_t), POSITIONS)
            parallel.split(partial(_input_gradient_range, v, padding, tiles,
                                   dx[start:start + chunk]), len(xc))
    if kept_memory is not None:  # u and v are spent: their memory serves the next forward
        workspace.give_back(kept_memory)
    if dbias is not None:
        dbias += bias_sum.astype(dbias.dtype)
    return dx
