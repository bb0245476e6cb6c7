"""Watches how much the BLAS's second thread gives, over a couple of minutes.

Every few seconds: the rate of Winograd-shaped GEMMs (16 of (128, 128) @ (128, 1568)) and
of one 1024^3 GEMM, with the BLAS's threads and then with one thread. On the project's
machine the one-thread rates stay put while the gain from the second thread comes and
goes, which is what moves the BLAS-bound rows of ``minigrad_bench speed`` (docs/benchmarks.md).

Usage::

    python benchmarks/bench_blas_scaling.py [--seconds 120]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import ThreadpoolController


def gflops(function, flop: float, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return flop / statistics.median(times) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    blas = ThreadpoolController().select(user_api="blas")
    g = np.random.default_rng(0)
    u = g.standard_normal((16, 128, 128)).astype(np.float32)
    v = g.standard_normal((16, 128, 1568)).astype(np.float32)
    m = np.empty((16, 128, 1568), np.float32)
    a = g.standard_normal((1024, 1024)).astype(np.float32)
    narrow = (lambda: np.matmul(u, v, out=m), 16 * 2 * 128 * 128 * 1568, 20)
    square = (lambda: a @ a, 2 * 1024**3, 5)
    print("seconds | narrow, all threads | narrow, 1 thread | gain | 1024^3, all threads | "
          "1024^3, 1 thread | gain")
    start = time.time()
    while time.time() - start < args.seconds:
        many = [gflops(*case) for case in (narrow, square)]
        with blas.limit(limits=1):
            one = [gflops(*case) for case in (narrow, square)]
        print(f"{time.time() - start:7.0f} | {many[0]:19.0f} | {one[0]:16.0f} | "
              f"{many[0] / one[0]:4.2f} | {many[1]:19.0f} | {one[1]:16.0f} | "
              f"{many[1] / one[1]:4.2f}", flush=True)
        time.sleep(4)


if __name__ == "__main__":
    main()
