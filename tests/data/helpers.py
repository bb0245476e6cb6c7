"""Helpers shared by the data tests: an IDX writer independent of the reader under test, and
a pickle that would call ``record_call`` if anything ran what it names."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

IDX_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``, written independently of the reader under test."""
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim])
    header += b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    payload = idx_bytes(array)
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


CALLED = []


def record_call(*args):
    """A callable a malicious pickle would run; the restricted loader must never call it."""
    CALLED.append(args)


class Exploit:
    def __reduce__(self):
        return (record_call, ("pwned",))
