"""import minigrad keeps freed memory for reuse (glibc), unless MINIGRAD_MALLOC=system."""

import os
import platform
import resource
import subprocess
import sys

import numpy as np
import pytest

from minigrad import memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _run(code: str, setting: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "MINIGRAD_MALLOC": setting}, timeout=120)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_import_keeps_freed_memory_and_arrays_reuse_their_pages():
    assert memory.freed_memory_kept()
    # a step's pattern: several megabyte arrays freed, then allocated and written again
    for _ in range(2):
        arrays = [np.ones(2**20, np.float32) for _ in range(8)]  # 32 MiB
        del arrays
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones(2**20, np.float32) for _ in range(8)]  # 8,192 pages
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del arrays
    assert faults < 1000


def test_minigrad_malloc_system_leaves_malloc_alone_and_bad_values_are_named():
    code = "import minigrad.memory as m, minigrad; print(m.freed_memory_kept())"
    for setting, printed in (("system", "False"), ("keep", str(GLIBC))):
        result = _run(code, setting)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == printed
    refused = _run(code, "off")
    assert refused.returncode != 0
    assert "MINIGRAD_MALLOC must be 'keep' or 'system' (or unset), got 'off'" in refused.stderr
