"""Work split over minigrad's threads: the caller and a few idle helper threads each take
one contiguous range, with the BLAS held to one thread meanwhile.

The convolution, BatchNorm and pooling kernels of the VGG and ResNet paths are numba
kernels that release the GIL (``nogil=True``), and their GEMMs are many independent
products (the 36 of a Winograd transform, one per tile position): both split cleanly by
range. Running each range's GEMMs on one BLAS thread, in the thread that owns the range,
keeps one kind of thread per core: BLAS's own pool stays asleep, so no BLAS thread
spin-waits on a core a kernel needs (docs/design.md, Threads), and no GEMM waits at a
barrier for a second core the machine is giving to someone else.

The number of ranges is the BLAS pool's thread count (``minigrad.set_num_threads``), so
one knob still sets the threads of the whole process. Inside a split the pool is at one
thread, so a split called from a split runs serially.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from threadpoolctl import ThreadpoolController

_lock = threading.Lock()
_blas = None
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _blas_pools() -> list:
    """threadpoolctl's controllers of the loaded BLAS libraries (looked up once)."""
    global _blas
    if _blas is None:
        _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas


def thread_count() -> int:
    """How many ranges ``split`` uses now: the BLAS pool's thread count (1 inside a split)."""
    return max((pool.get_num_threads() for pool in _blas_pools()), default=1)


def _helpers(count: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < count:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool, _pool_size = ThreadPoolExecutor(count, "minigrad"), count
        return _pool


# Waking a helper thread and collecting its range cost 150-230 us on the project machine
# (a VM's futex round trip, with the GIL handed over twice): an element-wise pass over
# fewer elements than this finishes sooner in the caller alone (measured crossover
# between 1M and 2M float32 elements, 4-8 MiB; docs/design.md, Threads)
SERIAL_BELOW = 1 << 20


def split(task: Callable[[int, int], object], total: int, size: int | None = None) -> list:
    """``[task(start, stop), ...]`` over contiguous ranges that cover ``range(total)``, one
    range per thread (the caller computes the first), in order.

    ``size``: for an element-wise pass, the number of elements it touches; below
    ``SERIAL_BELOW`` the caller runs ``task(0, total)`` alone (the same result: a task's
    ranges must not change what it computes). ``task`` must be safe to run concurrently on
    disjoint ranges. Every range has finished when ``split`` returns or raises (an
    exception from any range is raised again).
    """
    parts = min(total, thread_count())
    if parts <= 1 or (size is not None and size < SERIAL_BELOW):
        return [task(0, total)]
    bounds = [total * part // parts for part in range(parts + 1)]
    pools = _blas_pools()
    previous = [pool.get_num_threads() for pool in pools]
    for pool in pools:
        pool.set_num_threads(1)
    try:
        futures = [_helpers(parts - 1).submit(task, bounds[part], bounds[part + 1])
                   for part in range(1, parts)]
        try:
            first = task(bounds[0], bounds[1])
        finally:
            wait(futures)  # no range may still be writing when the caller moves on
        return [first] + [future.result() for future in futures]
    finally:
        for pool, count in zip(pools, previous):
            pool.set_num_threads(count)
