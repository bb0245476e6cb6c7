"""Zip archives written byte by byte, so tests can declare sizes and layouts zipfile never would."""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass

import numpy as np

LOCAL = struct.Struct("<4s2B4HL2L2H")
CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
END = struct.Struct("<4s4H2LH")


@dataclass
class Entry:
    """One zip entry: ``stored`` is what the file holds (deflated data for method 8)."""

    name: str
    stored: bytes
    file_size: int | None = None  # the declared uncompressed size; default: len(stored)
    method: int = 0  # 0 stored, 8 deflated
    crc: int | None = None  # default: the CRC of ``stored`` (right for stored entries)


def zip_bytes(entries: list[Entry], directory: list[tuple[int, str]] | None = None) -> bytes:
    """A zip of ``entries``; ``directory`` (entry index, name) may point names at any entry."""
    out, offsets = bytearray(), []
    for entry in entries:
        offsets.append(len(out))
        name = entry.name.encode()
        sizes = _sizes(entry)
        out += LOCAL.pack(b"PK\x03\x04", 20, 0, 0, entry.method, 0, 33, *sizes, len(name), 0)
        out += name + entry.stored
    start = len(out)
    listed = directory if directory is not None else [(i, e.name) for i, e in enumerate(entries)]
    for index, listed_name in listed:
        entry, name = entries[index], listed_name.encode()
        out += CENTRAL.pack(
            b"PK\x01\x02", 20, 3, 20, 0, 0, entry.method, 0, 33, *_sizes(entry),
            len(name), 0, 0, 0, 0, 0, offsets[index],
        )
        out += name
    out += END.pack(b"PK\x05\x06", 0, 0, len(listed), len(listed), len(out) - start, start, 0)
    return bytes(out)


def _sizes(entry: Entry) -> tuple[int, int, int]:
    crc = zlib.crc32(entry.stored) if entry.crc is None else entry.crc
    size = len(entry.stored) if entry.file_size is None else entry.file_size
    return crc, len(entry.stored), size


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npy_header(descr: str, shape: tuple, fortran: bool = False) -> bytes:
    """A version 1.0 npy header laid out as numpy writes it, for any declared shape."""
    text = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    text += " " * (-(len(text) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1")


def deflated_zeros(size: int) -> bytes:
    """A raw deflate stream of ``size`` zero bytes (a multiple of 1 MiB), about size / 1000."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    # after a full flush the compressor starts afresh, so every further MiB is the same block
    return block * (size >> 20) + compressor.flush()


def meta_entry(tree: dict) -> Entry:
    return Entry("__meta__.npy", npy_bytes(np.frombuffer(json.dumps(tree).encode(), np.uint8)))


def minimal_tree(**extra) -> dict:
    """The metadata of ``minigrad.save(path, **extra)`` for plain (array-free) extras."""
    from minigrad import __version__

    return {
        "format": "minigrad.checkpoint",
        "format_version": 1,
        "minigrad_version": __version__,
        "components": {},
        "extra": extra,
    }
