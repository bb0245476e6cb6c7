"""Channels-last memory under the (N, C, H, W) shape every layer shows.

The convolution, BatchNorm and pooling kernels of the VGG and ResNet paths loop innermost
over channels, so they want each pixel's channels contiguous: ``x[n, y, x, c]`` in memory.
They hand their outputs on as (N, C, H, W) *views* of such memory (``transpose(0, 3, 1,
2)``), as torch's ``memory_format=torch.channels_last`` does: the shape, the values and
every numpy operation on them are the same as for a C-ordered array, and the next layer
that wants channels-last gets it without a copy. Only a layer that needs another layout
pays for the conversion (``np.ascontiguousarray`` copies when it must).
"""

from __future__ import annotations

import numpy as np


def is_channels_last(x: np.ndarray) -> bool:
    """Whether the (N, C, H, W) array ``x`` is laid out (N, H, W, C) in contiguous memory."""
    return x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous


def to_channels_last(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> a C-contiguous (N, H, W, C) array: a view when ``x`` is channels-last,
    else a copy."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def from_channels_last(x_last: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> the (N, C, H, W) view of the same memory."""
    return x_last.transpose(0, 3, 1, 2)


def allocate(shape: tuple, dtype, channels_last: bool = True, allocator=np.empty) -> np.ndarray:
    """A new (N, C, H, W) array from ``allocator`` (``np.empty`` or ``np.zeros``): the view
    of (N, H, W, C) memory, or C-ordered with ``channels_last=False``."""
    if not channels_last:
        return allocator(shape, dtype)
    n, channels, height, width = shape
    return from_channels_last(allocator((n, height, width, channels), dtype))
