"""The IDX file format of MNIST and Fashion-MNIST, read safely.

An IDX file is: two zero bytes, a type code, the number of dimensions d, then
d big-endian uint32 sizes, then the values, big-endian, row-major. Files may be
gzip-compressed. The reader trusts nothing in the header: sizes are checked
against the bytes actually present before anything is allocated for them, so a
forged header yields a ``ValueError``, never a huge allocation.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 22


def read_idx(path: str | os.PathLike, max_bytes: int | None = None) -> np.ndarray:
    """Reads an IDX file (gzip-compressed or not) into a native-endian array.

    Handles every IDX type: uint8, int8, int16, int32, float32, float64.
    Compression is detected from the file's first bytes, not its name.

    Args:
        path: the file.
        max_bytes: refuse a header declaring more bytes of values than this, before
            reading them (``load_mnist`` passes what MNIST's largest file holds).

    Returns:
        A writable C-contiguous array with the header's shape and type.

    Raises:
        ValueError: the file is not IDX (wrong magic number or type code), is
            a corrupt or truncated gzip stream, holds more or fewer bytes
            than its header declares, or declares more than ``max_bytes``. The
            message names the file.
    """
    path = os.fspath(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            return _read_stream(stream, path, max_bytes)
        except (EOFError, OSError, zlib.error) as err:
            if not compressed:
                raise
            raise ValueError(f"{path}: corrupt or truncated gzip data ({err})") from err


def _read_stream(stream, path: str, max_bytes: int | None) -> np.ndarray:
    """Parses the header, then reads exactly the declared number of value bytes."""
    magic = _read_exactly(stream, 4, path, "the 4-byte magic number")
    if magic[:2] != b"\x00\x00" or magic[2] not in IDX_TYPES:
        raise ValueError(
            f"{path}: not an IDX file: magic number {magic.hex()} should be 0000tt0d with type "
            f"tt in {sorted(f'{t:02x}' for t in IDX_TYPES)}"
        )
    dtype, ndim = IDX_TYPES[magic[2]], magic[3]
    header = _read_exactly(stream, 4 * ndim, path, f"{ndim} dimension sizes")
    shape = tuple(int(s) for s in np.frombuffer(header, dtype=">u4"))
    nbytes = math.prod(shape) * dtype.itemsize
    if max_bytes is not None and nbytes > max_bytes:
        raise ValueError(
            f"{path}: header declares shape {shape} of {dtype.name} ({nbytes} bytes of "
            f"values), more than the {max_bytes} bytes this data set's files hold"
        )
    values = _read_values(stream, nbytes, path, shape, dtype)
    return values.view(dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def _read_exactly(stream, size: int, path: str, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ValueError(f"{path}: file ends inside the header (reading {what})")
    return data


def _read_values(stream, nbytes: int, path: str, shape, dtype) -> np.ndarray:
    """Reads ``nbytes`` in chunks, growing with the data really present; no trailing bytes."""
    chunks, total = [], 0
    while total <= nbytes:
        chunk = stream.read(min(CHUNK, nbytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total != nbytes:
        found = "more than that" if total > nbytes else f"{total}"
        raise ValueError(
            f"{path}: header declares shape {shape} of {dtype.name} ({nbytes} bytes of values) "
            f"but the file holds {found}: truncated or not a valid IDX file"
        )
    values = np.empty(nbytes, dtype=np.uint8)
    at = 0
    for chunk in chunks:
        values[at : at + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        at += len(chunk)
    return values
