"""One reusable scratch buffer per thread for the convolutions' transient arrays.

A convolution's scratch (transformed tiles and weights, GEMM outputs, columns) lives only
inside one forward or backward call, and consecutive layers run one after another, so a
single buffer can serve them all. Fresh arrays of that size cost a page fault per 4 KiB
the first time they are written: for the 29 MiB of transformed tiles of a VGG layer that
doubled the time of the transform writing them. The buffer grows to the largest request
seen (each bounded by its layer's ``scratch_bytes``) and is kept for the thread's
lifetime; ``release()`` frees it.

``reserve`` is a stack: a reservation made while another is open in the same thread (a
range of a split running in the caller's thread) is carved after it, from the room the
outer one asked to leave (``spare``), or is a fresh allocation if there is none. So no
two live reservations overlap, and nothing taken may be used after its ``with`` block.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from minigrad import memory

ALIGN = 64  # bytes: each carved array starts on a cache line

_local = threading.local()


class Carver:
    """Hands out consecutive, cache-line aligned arrays from one stretch of buffer."""

    def __init__(self, buffer: np.ndarray):
        self.buffer, self.offset = buffer, 0

    def take(self, nbytes: int) -> np.ndarray:
        """The next ``nbytes`` as a flat uint8 array."""
        start = -(-self.offset // ALIGN) * ALIGN
        if start + nbytes > self.buffer.nbytes:
            raise ValueError(f"workspace reservation of {self.buffer.nbytes} bytes cannot "
                             f"hold {nbytes} more at offset {start}")
        self.offset = start + nbytes
        return self.buffer[start:start + nbytes]


def padded(nbytes: int) -> int:
    """``nbytes`` rounded up to the alignment ``Carver.take`` uses."""
    return -(-nbytes // ALIGN) * ALIGN


@contextmanager
def reserve(nbytes: int, spare: int = 0) -> Iterator[Carver]:
    """A ``Carver`` over ``nbytes`` of this thread's workspace (sizes of several arrays
    rounded with ``padded``), leaving ``spare`` more bytes for reservations nested in it."""
    buffer = getattr(_local, "buffer", None)
    top = getattr(_local, "top", 0)
    if top == 0 and (buffer is None or buffer.nbytes < nbytes + spare):
        _local.buffer = None  # free the old buffer before allocating the larger one
        _local.buffer = buffer = _aligned(nbytes + spare)
    start = padded(top)
    if buffer is None or start + nbytes > buffer.nbytes:  # nested, no room left
        yield Carver(_aligned(nbytes))
        return
    _local.top = start + nbytes
    try:
        yield Carver(buffer[start:start + nbytes])
    finally:
        _local.top = top


# Memory kept from a forward for its backward that is too large for malloc's heap
# (``memory.MMAP_THRESHOLD``) would be mapped afresh every step, and two threads writing
# fresh pages at once stall each other in the kernel: writing the 36 MiB of a 512x512
# layer's transformed weights took 43-50 ms into fresh memory, 6-9 ms into reused memory.
# Such buffers are handed back after their backward (``give_back``) and reused by the next
# ``fresh`` request of their size, up to ``POOL_MAX_BYTES`` in all.
POOL_MIN_BYTES = memory.MMAP_THRESHOLD
POOL_MAX_BYTES = 1 * 2**30

_pool: dict[int, list[np.ndarray]] = {}
_pool_lock = threading.Lock()


def fresh(nbytes: int) -> Carver:
    """A ``Carver`` over ``nbytes`` of memory outside the workspace, for arrays that outlive
    the call (kept from a forward for its backward): a buffer handed back earlier
    (``give_back``) if one of this size is free, else new memory."""
    if nbytes >= POOL_MIN_BYTES:
        with _pool_lock:
            free = _pool.get(nbytes)
            if free:
                return Carver(free.pop())
    return Carver(_aligned(nbytes))


def give_back(carver: Carver) -> None:
    """Hands the buffer of a ``fresh`` carver back for reuse, once nothing taken from it is
    used any more (kept only if it is at least ``POOL_MIN_BYTES`` and the pool stays within
    ``POOL_MAX_BYTES``)."""
    nbytes = carver.buffer.nbytes
    if nbytes < POOL_MIN_BYTES:
        return
    with _pool_lock:
        if _pool_total() + nbytes <= POOL_MAX_BYTES:
            _pool.setdefault(nbytes, []).append(carver.buffer)
    carver.buffer = None  # the carver hands out nothing more


def pooled_bytes() -> int:
    """The bytes of handed-back buffers waiting for reuse."""
    with _pool_lock:
        return _pool_total()


def _pool_total() -> int:
    """``pooled_bytes`` for a caller that holds the pool's lock."""
    return sum(size * len(free) for size, free in _pool.items())


def _aligned(nbytes: int) -> np.ndarray:
    """``nbytes`` of fresh memory starting on an ``ALIGN`` boundary."""
    raw = np.empty(nbytes + ALIGN, np.uint8)
    offset = -raw.ctypes.data % ALIGN
    return raw[offset:offset + nbytes]


def release() -> None:
    """Frees this thread's workspace (the next reservation allocates a new one) and the
    handed-back buffers of ``give_back``."""
    if getattr(_local, "top", 0):
        raise RuntimeError("workspace.release() inside an open reservation")
    _local.buffer = None
    with _pool_lock:
        _pool.clear()
