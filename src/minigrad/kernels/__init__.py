"""Numba kernels. They know nothing about modules: plain arrays in, arrays out.

Every kernel is ``@njit(cache=True)`` so that compiled code is reused across processes,
and serial: minigrad gets its parallelism from the BLAS library behind the big matrix
multiplies (see docs/design.md, "Threads").
"""
