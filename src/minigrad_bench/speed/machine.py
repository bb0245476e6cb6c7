"""What the speed figures depend on beyond the code: the CPU and its vector ISA, the BLAS
kernel, and the environment variables that pick them.

OpenBLAS chooses its kernels when it loads, from the CPU or from ``OPENBLAS_CORETYPE`` /
``OPENBLAS_L2_SIZE`` (guards some environments set for old OpenBLAS builds). On an AVX-512
CPU ``OPENBLAS_CORETYPE=Haswell`` makes numpy's GEMMs run AVX2 kernels while torch's
oneDNN and MKL run AVX-512 ones: a comparison tilted against minigrad. The measuring
processes therefore run without those two ("native" ISA), or with both sides restricted
to AVX2 together ("avx2": OpenBLAS's Haswell kernels, numba compiling for Haswell, torch's
ATen, oneDNN and MKL held to AVX2), and every result records what it ran on.
"""

from __future__ import annotations

import os
import platform

BLAS_PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
AVX2_ONLY = {"OPENBLAS_CORETYPE": "Haswell", "NUMBA_CPU_NAME": "haswell",
             "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
ISAS = ("native", "avx2")
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "amx_tile", "amx_bf16", "neon", "asimd", "sve")


def measuring_environment(isa: str = "native", base: dict | None = None) -> dict:
    """The environment of a measuring process: ``base`` (default ``os.environ``) without
    the BLAS pins and the AVX2 restriction, plus that restriction for ``isa="avx2"``."""
    if isa not in ISAS:
        raise ValueError(f"isa must be one of {ISAS}, got {isa!r}")
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in BLAS_PINS and k not in AVX2_ONLY}
    return {**env, **AVX2_ONLY} if isa == "avx2" else env


def is_measuring_environment(isa: str = "native") -> bool:
    """Whether this process already runs in ``measuring_environment(isa)``'s variables."""
    wanted = measuring_environment(isa)
    names = set(BLAS_PINS) | set(AVX2_ONLY)
    return all(os.environ.get(name) == wanted.get(name) for name in names)


def cpu_description() -> tuple[str, str]:
    """(model name, the vector-ISA flags it has) from /proc/cpuinfo where there is one."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() in ("flags", "Features"):
                    flags = set(value.split())
    except OSError:
        pass
    return model, " ".join(f for f in ISA_FLAGS if f in flags) or "unknown"


def describe(isa: str = "native") -> dict:
    """The machine fields every speed result carries."""
    from minigrad import threads

    model, flags = cpu_description()
    return {"cpu": model, "cpu_isa_flags": flags, "isa": isa, "blas": threads.blas_description(),
            "restricted": {k: os.environ[k] for k in AVX2_ONLY if k in os.environ},
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
