"""Freed memory kept for reuse: glibc's malloc told to hand a training step's arrays back
from its own heap instead of asking the kernel for fresh pages every step.

A training step allocates and frees the same few-megabyte arrays every step (activations,
the inputs that backward keeps, gradients). glibc's default policy serves them from mmap or
gives the top of its heap back to the kernel whenever more than twice its (adaptive) mmap
threshold lies free there, so the next step touches new pages: a ResNet-20 step at batch 32
took about 13,000 page faults and 50-80 ms of kernel time (docs/design.md, Freed memory).
With the thresholds fixed, freed blocks stay in the heap and are reused; the process's
resident memory stays near the peak of its largest step instead of falling back between
steps, which is what torch's and every deep-learning framework's caching allocators do.

``import minigrad`` calls ``keep_freed_memory()`` unless the environment variable
``MINIGRAD_MALLOC`` is ``system``. Elsewhere than glibc (macOS, musl) nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import platform

# mallopt's parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Allocations up to this size come from the heap (glibc's upper limit for the threshold on
# 64-bit systems); larger ones are still mapped and unmapped on their own
MMAP_THRESHOLD = 32 * 2**20
# Free memory at the top of the heap beyond this is given back to the kernel
TRIM_THRESHOLD = 1 * 2**30

_kept = False


def keep_freed_memory() -> bool:
    """Fixes glibc's mmap threshold (``MMAP_THRESHOLD``) and trim threshold
    (``TRIM_THRESHOLD``) for this process, so that freed arrays are reused instead of being
    returned to the kernel. Returns whether both took effect (False off glibc)."""
    global _kept
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    kept = (libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(MMAP_THRESHOLD)) == 1
            and libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(TRIM_THRESHOLD)) == 1)
    _kept = _kept or kept
    return kept


def freed_memory_kept() -> bool:
    """Whether ``keep_freed_memory`` has taken effect in this process."""
    return _kept


def keep_unless_disabled() -> None:
    """``keep_freed_memory()`` unless ``MINIGRAD_MALLOC=system`` (what ``import minigrad``
    does)."""
    setting = os.environ.get("MINIGRAD_MALLOC", "")
    if setting not in ("", "keep", "system"):
        raise ValueError(f"MINIGRAD_MALLOC must be 'keep' or 'system' (or unset), got "
                         f"{setting!r}")
    if setting != "system":
        keep_freed_memory()
