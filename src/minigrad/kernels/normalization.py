"""BatchNorm kernels over (N, C, L) arrays: per-channel statistics and the normalisation
in as few passes over the data as the math allows (numpy needs about ten per step).

Sums are accumulated in float64 whatever the data's dtype. The (N, C, L) kernels release
the GIL; the per-channel sums take a channel range (``first:last``) and the per-element
passes a slice of samples, so that callers can split them over threads without changing a
single sum's order.
"""

from numba import njit

from minigrad.kernels import simd
from minigrad.kernels.fastmath import REASSOCIATE


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def mean_and_variance(x, mean, var, first, last):
    """Mean and biased variance of channels ``first:last`` of ``x`` (N, C, L), two passes
    (the second sums squared deviations from the mean, which stays accurate when the mean is
    large)."""
    n_samples, channels, length = x.shape
    count = n_samples * length
    for c in range(first, last):
        total = 0.0
        for n in range(n_samples):
            row = x[n, c]
            for k in range(length):
                total += row[k]
        m = total / count
        squares = 0.0
        for n in range(n_samples):
            row = x[n, c]
            for k in range(length):
                d = row[k] - m
                squares += d * d
        mean[c] = m
        var[c] = squares / count


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def normalize(x, mean, inv_std, weight, bias, x_hat, y):
    """``x_hat = (x - mean) * inv_std`` and ``y = x_hat * weight + bias``, per channel."""
    n_samples, channels, length = x.shape
    for n in range(n_samples):
        for c in range(channels):
            m, s, w, b = mean[c], inv_std[c], weight[c], bias[c]
            row, h_row, y_row = x[n, c], x_hat[n, c], y[n, c]
            for k in range(length):
                h = (row[k] - m) * s
                h_row[k] = h
                y_row[k] = h * w + b


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def gradient_sums(dy, x_hat, sum_dy, sum_dy_x_hat, first, last):
    """Sums of ``dy`` and ``dy * x_hat`` of channels ``first:last``: the bias and weight
    gradients."""
    n_samples, channels, length = dy.shape
    for c in range(first, last):
        total = 0.0
        total_x_hat = 0.0
        for n in range(n_samples):
            g, h = dy[n, c], x_hat[n, c]
            for k in range(length):
                total += g[k]
                total_x_hat += g[k] * h[k]
        sum_dy[c] = total
        sum_dy_x_hat[c] = total_x_hat


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def input_gradient(dy, x_hat, scale, mean_dy, mean_dy_x_hat, dx):
    """``dx = scale * (dy - mean_dy - x_hat * mean_dy_x_hat)`` per channel, with
    ``scale = weight * inv_std``: batch statistics' gradient in one pass."""
    n_samples, channels, length = dy.shape
    for n in range(n_samples):
        for c in range(channels):
            s, m, mh = scale[c], mean_dy[c], mean_dy_x_hat[c]
            g, h, d = dy[n, c], x_hat[n, c], dx[n, c]
            for k in range(length):
                d[k] = s * (g[k] - m - h[k] * mh)


# Channels-last data, (M, C) rows with M = N*H*W: per-channel sums accumulate into a
# vector of C float64 partial sums, one SIMD add per row. LLVM keeps that vector in memory
# (it cannot prove it does not overlap the data), loading and storing it at every row,
# which costs most when rows are short. So rows of at most 128 bytes (32 float32
# channels) hold eight channels' partial sums in a register instead (``simd.Vector``,
# float32 widened on load) while they run down a tile of rows (16 KiB, in the L1 cache),
# one pass over the tile per block of eight channels: the gradient sums of 16 channels,
# 524k float32 elements, one thread, 0.15-0.30 ms -> 0.08 ms. Longer rows keep the row
# loop: there the tile's first pass reads a few bytes of each of many rows, and the same
# sums of 128 channels took 1.5 ms by rows against 4.2 ms by tiles. The callers split the
# rows over threads (``nn.batch_norm_rows``), so the sums add into the float64 arrays they
# are given.

TILE_BYTES = 16384
NARROW_ROW_BYTES = 128


@njit(cache=True, nogil=True)
def _tile_rows(x):
    """Rows of ``x`` (M, C) in one tile of the row sums."""
    return max(1, TILE_BYTES // (x.shape[1] * x.itemsize))


@njit(cache=True, nogil=True)
def _narrow(x):
    """Whether the rows of ``x`` are short enough for the register-held sums."""
    return x.shape[1] * x.itemsize <= NARROW_ROW_BYTES


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def row_sums(x, total):
    """``total[c] += sum_m x[m, c]`` for ``x`` (M, C)."""
    rows, channels = x.shape
    if not _narrow(x):
        for m in range(rows):
            row = x[m]
            for c in range(channels):
                total[c] += row[c]
        return
    flat, whole = x.reshape(-1), channels - channels % 8
    tile = _tile_rows(x)
    for first in range(0, rows, tile):
        last = min(rows, first + tile)
        for c in range(0, whole, 8):
            acc = simd.load(total, c)
            for m in range(first, last):
                acc = simd.add(acc, simd.load_float64(flat, m * channels + c))
            simd.store(total, c, acc)
        for c in range(whole, channels):
            for m in range(first, last):
                total[c] += x[m, c]


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def row_squared_deviations(x, mean, total):
    """``total[c] += sum_m (x[m, c] - mean[c])^2`` (``mean`` float64): the second pass of
    the variance, which stays accurate when the mean is large."""
    rows, channels = x.shape
    if not _narrow(x):
        for m in range(rows):
            row = x[m]
            for c in range(channels):
                d = row[c] - mean[c]
                total[c] += d * d
        return
    flat, whole = x.reshape(-1), channels - channels % 8
    tile = _tile_rows(x)
    for first in range(0, rows, tile):
        last = min(rows, first + tile)
        for c in range(0, whole, 8):
            acc, centre = simd.load(total, c), simd.load(mean, c)
            for m in range(first, last):
                d = simd.subtract(simd.load_float64(flat, m * channels + c), centre)
                acc = simd.fma(d, d, acc)
            simd.store(total, c, acc)
        for c in range(whole, channels):
            for m in range(first, last):
                d = x[m, c] - mean[c]
                total[c] += d * d


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def normalize_rows(x, mean, inv_std, weight, bias, x_hat, y):
    """``normalize`` for (M, C) rows."""
    rows, channels = x.shape
    for m in range(rows):
        row, h_row, y_row = x[m], x_hat[m], y[m]
        for c in range(channels):
            h = (row[c] - mean[c]) * inv_std[c]
            h_row[c] = h
            y_row[c] = h * weight[c] + bias[c]


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def gradient_sums_rows(dy, x_hat, sum_dy, sum_dy_x_hat):
    """``gradient_sums`` for (M, C) rows, added into ``sum_dy`` and ``sum_dy_x_hat``."""
    rows, channels = dy.shape
    if not _narrow(dy):
        for m in range(rows):
            g, h = dy[m], x_hat[m]
            for c in range(channels):
                sum_dy[c] += g[c]
                sum_dy_x_hat[c] += g[c] * h[c]
        return
    grad, normalized, whole = dy.reshape(-1), x_hat.reshape(-1), channels - channels % 8
    tile = _tile_rows(dy)
    for first in range(0, rows, tile):
        last = min(rows, first + tile)
        for c in range(0, whole, 8):
            total, total_x_hat = simd.load(sum_dy, c), simd.load(sum_dy_x_hat, c)
            for m in range(first, last):
                g = simd.load_float64(grad, m * channels + c)
                total = simd.add(total, g)
                total_x_hat = simd.fma(g, simd.load_float64(normalized, m * channels + c),
                                       total_x_hat)
            simd.store(sum_dy, c, total)
            simd.store(sum_dy_x_hat, c, total_x_hat)
        for c in range(whole, channels):
            for m in range(first, last):
                sum_dy[c] += dy[m, c]
                sum_dy_x_hat[c] += dy[m, c] * x_hat[m, c]


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def input_gradient_rows(dy, x_hat, scale, mean_dy, mean_dy_x_hat, dx):
    """``input_gradient`` for (M, C) rows."""
    rows, channels = dy.shape
    for m in range(rows):
        g, h, d = dy[m], x_hat[m], dx[m]
        for c in range(channels):
            d[c] = scale[c] * (g[c] - mean_dy[c] - h[c] * mean_dy_x_hat[c])


@njit(cache=True, nogil=True, fastmath=REASSOCIATE)
def shift_scale_rows(x, mean, scale, bias, y):
    """``y = (x - mean) * scale + bias`` per channel of (M, C) rows: the output alone, when
    no backward needs the normalised input."""
    rows, channels = x.shape
    for m in range(rows):
        row, y_row = x[m], y[m]
        for c in range(channels):
            y_row[c] = (row[c] - mean[c]) * scale[c] + bias[c]
