"""Timing rounds: minigrad and torch take turns, so both see the same phases of the machine."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def alternate(*fns: Callable, rounds: int, repeats: int) -> tuple[float, ...]:
    """Median seconds per call of each of ``fns``, over ``rounds`` rounds that take turns
    (after a warm-up), so that every function sees the same phases of the machine."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, samples in zip(fns, times):
            samples.append(median_seconds(fn, repeats))
    return tuple(statistics.median(samples) for samples in times)
