"""One reusable scratch buffer per thread for the convolutions' transient arrays.

A convolution's scratch (transformed tiles and weights, GEMM outputs) lives only inside
one forward or backward call, and consecutive layers run one after another, so a single
buffer can serve them all. Fresh arrays of that size cost a page fault per 4 KiB the
first time they are written: for the 29 MiB of transformed tiles of a VGG layer that
doubled the time of the transform writing them. The buffer grows to the largest request
seen (each request is bounded by its layer's ``scratch_bytes``) and is kept for the
thread's lifetime; ``release()`` frees it.

Nothing taken from the workspace may outlive the call that took it: the next layer
overwrites it.
"""

from __future__ import annotations

import threading

import numpy as np

ALIGN = 64  # bytes: each carved array starts on a cache line

_local = threading.local()


class Carver:
    """Hands out consecutive, cache-line aligned arrays from one workspace buffer."""

    def __init__(self, buffer: np.ndarray):
        self.buffer, self.offset = buffer, 0

    def take(self, nbytes: int) -> np.ndarray:
        """The next ``nbytes`` of the buffer as a flat uint8 array."""
        start = -(-self.offset // ALIGN) * ALIGN
        self.offset = start + nbytes
        return self.buffer[start:start + nbytes]


def carver(nbytes: int) -> Carver:
    """A ``Carver`` over at least ``nbytes`` of this thread's workspace (alignment padding
    included by the caller's sizes: ``padded``)."""
    buffer = getattr(_local, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        _local.buffer = None  # free the old buffer before allocating the larger one
        _local.buffer = buffer = np.empty(nbytes, np.uint8)
    return Carver(buffer)


def padded(nbytes: int) -> int:
    """``nbytes`` rounded up to the alignment ``Carver.take`` uses."""
    return -(-nbytes // ALIGN) * ALIGN


def release() -> None:
    """Frees this thread's workspace (the next convolution allocates a new one)."""
    _local.buffer = None
