"""One knob for the number of threads minigrad computes with.

minigrad's parallelism comes from the BLAS library behind numpy (OpenBLAS in the PyPI
wheels): the GEMMs of Linear and im2col convolution use every core. The numba kernels are
deliberately serial. Two thread pools on few cores (numba's and BLAS's) spin-wait and steal
each other's cores; with one pool there is nothing to fight over (docs/design.md, Threads).
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_info, threadpool_limits

from minigrad.checks import check_int

_limits = None


def set_num_threads(n: int) -> None:
    """Limits the BLAS thread pool (and so minigrad) to ``n`` threads for this process."""
    global _limits
    n = check_int(n, "set_num_threads: n", minimum=1)
    _limits = threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    """The number of threads the BLAS pool uses (the core count unless limited)."""
    pools = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return max(pools) if pools else (os.cpu_count() or 1)


def blas_description() -> str:
    """E.g. "openblas 0.3.30 (SkylakeX, 2 threads)", for benchmark reports."""
    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    return "; ".join(
        f"{p['internal_api']} {p.get('version')} ({p.get('architecture')}, "
        f"{p['num_threads']} threads)" for p in pools) or "no BLAS found"
