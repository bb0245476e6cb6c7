"""Reading ``.npz`` archives without trusting them: sizes checked before anything is inflated.

``np.load`` trusts an archive: it inflates each entry before checking anything, allocates
whatever shape an entry's header declares, keeps the last of two entries of one name, and
reports a truncated entry as one that "holds pickled objects". ``NpzReader`` checks the
zip directory first (unique ``.npy`` names, stored or deflated, no encryption, entries
that share no bytes and lie inside the file, sizes deflate could produce from the bytes
given), then reads an entry's npy header alone (at most 64 KiB) and allocates its array
only if the directory's uncompressed size is exactly that header plus the data the header
declares, then reads exactly that much (the zip reader checks the CRC on reaching that
size). Plain dtypes only (booleans, numbers, bytes, strings, datetimes): an object array
would need unpickling.
"""

from __future__ import annotations

import math
import os
import re
import struct
import zipfile
import zlib

import numpy as np

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a first entry, or an empty archive
NPY_MAGIC = b"\x93NUMPY"
MAX_HEADER_BYTES = 1 << 16
MAX_DEFLATE_RATIO = 1032  # deflate's ceiling: a 2-bit code for 258 bytes, plus framing
LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # 30 bytes; the last two: name and extra lengths
END_RECORD = struct.Struct("<4s4H2LH")  # the directory's end: counts, size, offset, comment
CHUNK = 1 << 22
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what np.savez(_compressed) writes
UNSUPPORTED_FLAGS = 0x61  # encrypted, patched data, strong encryption
HEADER = re.compile(
    r"\{'descr': (?P<descr>[^,]{1,64}|\[.*\]), 'fortran_order': (?P<fortran>True|False), "
    r"'shape': \((?P<shape>(?:\d{1,19}(?:, \d{1,19})*,?)?)\), \} *\n",
    re.DOTALL,
)
PLAIN_DESCR = re.compile(r"'[<>|=]?[biufcSUVMm]\d{1,9}(?:\[\w{1,8}\])?'")


class NpzError(ValueError):
    """An archive or entry that is malformed, forged, or would need unpickling."""


class NpzReader:
    """An ``.npz`` archive whose directory has been checked; ``read`` one entry at a time.

    Args:
        path: the file.

    Raises:
        NpzError: not a zip archive (a single ``.npy`` array, a pickle, anything else), or a
            directory that no ``np.savez`` could have written.
        OSError: the file cannot be opened.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._file = open(self.path, "rb")
        try:
            self._zip = _open_zip(self._file)
            self._infos = _checked_directory(self._zip, self._file)
        except BaseException:
            self._file.close()
            raise
        self.names = tuple(self._infos)

    def read(self, name: str, max_bytes: int | None = None) -> np.ndarray:
        """The array of entry ``name`` (without ``.npy``), of at most ``max_bytes`` of data.

        Raises:
            NpzError: an object or structured dtype, a header that disagrees with the zip
                directory, more than ``max_bytes``, or corrupt or truncated data.
        """
        info = self._infos[name]
        try:
            with self._zip.open(info) as stream:
                return _read_entry(stream, info, name, max_bytes)
        except NpzError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
            # ValueError: a local header whose name is not the UTF-8 it claims
            raise NpzError(f"entry {name!r} is corrupt or truncated ({err})") from None

    def close(self) -> None:
        self._zip.close()
        self._file.close()

    def __enter__(self) -> NpzReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _open_zip(file) -> zipfile.ZipFile:
    head = file.read(len(NPY_MAGIC))
    file.seek(0)
    if head.startswith(NPY_MAGIC):
        raise NpzError("a single .npy array, not an .npz archive")
    if head[:1] == b"\x80":
        raise NpzError(
            "a pickle, not an .npz archive: unpickling (pickled data) can run code, so it is "
            "refused"
        )
    if not head.startswith(ZIP_MAGICS):
        raise NpzError(f"not an .npz archive (it starts with {head[:4]!r}, not 'PK')")
    total = _end_record(file)
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as err:
        # NotImplementedError: a directory entry claims a zip version zipfile cannot read
        raise NpzError(f"a corrupt or truncated zip archive ({err})") from None
    if len(archive.infolist()) != total:
        raise NpzError(f"a zip archive listing {total} entries in its end record, but not all")
    return archive


def _checked_directory(archive: zipfile.ZipFile, file) -> dict[str, zipfile.ZipInfo]:
    """Entries by name (without ``.npy``), once every rule of the module docstring holds."""
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if name in infos:
            raise NpzError(f"entry {name!r} appears twice (a reader would see only one)")
        if not info.filename.endswith(".npy") or not name:
            raise NpzError(f"entry {info.filename[:100]!r} is not a .npy array")
        if info.flag_bits & UNSUPPORTED_FLAGS or info.compress_type not in COMPRESSIONS:
            raise NpzError(f"entry {name!r} is encrypted or compressed other than by deflate")
        if not _producible(info):
            raise NpzError(
                f"entry {name!r} claims {info.file_size} bytes from {info.compress_size}: "
                "more than its compression can produce"
            )
        infos[name] = info
    _check_no_overlap(infos, file)
    return infos


def _end_record(file) -> int:
    """Checks the directory's end record (the file's last 22 bytes); returns its entry count.

    Read before zipfile parses the directory, to bound it (zipfile keeps ~500 bytes per
    entry); compared after, because zipfile trusts the directory's byte size and ignores
    the counts, so a flipped byte there would silently drop entries. np.savez writes no
    comment, nothing after the record, and zip64 records only past 4 GiB.
    """
    size = os.fstat(file.fileno()).st_size
    file.seek(max(size - END_RECORD.size, 0))
    record = file.read(END_RECORD.size)
    file.seek(0)
    if len(record) != END_RECORD.size or not record.startswith(ZIP_MAGICS[1]):
        raise NpzError("a truncated zip archive (its last 22 bytes are not the directory's end)")
    _, disk, directory_disk, on_disk, total, directory_size, offset, comment = (
        END_RECORD.unpack(record)
    )
    if total >= 0xFFFF:
        raise NpzError(f"a zip archive of {total} or more entries (at most {0xFFFF - 1} are read)")
    zip64 = 0xFFFFFFFF in (directory_size, offset)
    ends_at_record = zip64 or offset + directory_size == size - END_RECORD.size
    if (disk, directory_disk, comment) != (0, 0, 0) or on_disk != total or not ends_at_record:
        raise NpzError(
            f"a zip archive whose directory's end record (entries {total}, directory at "
            f"{offset}, {directory_size} bytes) does not describe the file"
        )
    return total


def _producible(info: zipfile.ZipInfo) -> bool:
    """Whether the entry's compressed bytes could inflate to its declared size."""
    if info.compress_type == zipfile.ZIP_STORED:
        return info.file_size == info.compress_size
    return info.file_size <= MAX_DEFLATE_RATIO * info.compress_size + 64


def _check_no_overlap(infos: dict[str, zipfile.ZipInfo], file) -> None:
    """Every entry's compressed bytes end before the next entry starts, and inside the file:
    so inflating every entry reads each byte of the file at most once."""
    size = os.fstat(file.fileno()).st_size
    spans = sorted((info.header_offset, name, info) for name, info in infos.items())
    for i, (start, name, info) in enumerate(spans):
        if not 0 <= start < size:
            raise NpzError(f"entry {name!r} starts outside the file")
        file.seek(start)
        header = file.read(LOCAL_HEADER.size)
        if len(header) != LOCAL_HEADER.size or header[:4] != ZIP_MAGICS[0]:
            raise NpzError(f"entry {name!r}: no zip entry header where the directory points")
        name_length, extra_length = LOCAL_HEADER.unpack(header)[-2:]
        end = start + LOCAL_HEADER.size + name_length + extra_length + info.compress_size
        limit = spans[i + 1][0] if i + 1 < len(spans) else size
        if end > limit:
            raise NpzError(f"entry {name!r} overlaps the next entry or runs past the file's end")


def _read_entry(stream, info: zipfile.ZipInfo, name: str, max_bytes: int | None) -> np.ndarray:
    dtype, shape, fortran, header_size = _read_header(stream, name)
    nbytes = math.prod(shape) * dtype.itemsize
    if info.file_size != header_size + nbytes:
        raise NpzError(
            f"entry {name!r} declares {dtype} {shape} ({nbytes} bytes of data) but the zip "
            f"directory gives it {info.file_size - header_size}: truncated or forged"
        )
    if max_bytes is not None and nbytes > max_bytes:
        raise NpzError(f"entry {name!r} holds {nbytes} bytes, at most {max_bytes}")
    data = _read_exactly(stream, nbytes, name)
    return data.view(dtype).reshape(shape, order="F" if fortran else "C")


def _read_header(stream, name: str) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, fortran_order, header size in bytes) of an npy stream's header."""
    magic = stream.read(len(NPY_MAGIC) + 2)
    if len(magic) != len(NPY_MAGIC) + 2 or not magic.startswith(NPY_MAGIC):
        raise NpzError(f"entry {name!r} is not a .npy array (no npy magic number)")
    major = magic[-2]
    if major not in (1, 2, 3):
        raise NpzError(f"entry {name!r} has npy format version {major}.{magic[-1]}")
    length_format = "<H" if major == 1 else "<I"
    length_bytes = stream.read(struct.calcsize(length_format))
    if len(length_bytes) != struct.calcsize(length_format):
        raise NpzError(f"entry {name!r} ends inside its npy header")
    length = struct.unpack(length_format, length_bytes)[0]
    if length > MAX_HEADER_BYTES:
        raise NpzError(f"entry {name!r} has an npy header of {length} bytes")
    raw = stream.read(length)
    if len(raw) != length:
        raise NpzError(f"entry {name!r} ends inside its npy header")
    text = raw.decode("utf-8" if major == 3 else "latin1", "replace")
    dtype, shape, fortran = _parse_header(text, name)
    return dtype, shape, fortran, len(magic) + len(length_bytes) + length


def _parse_header(text: str, name: str) -> tuple[np.dtype, tuple[int, ...], bool]:
    match = HEADER.fullmatch(text)
    if match is None:
        raise NpzError(f"entry {name!r} has a malformed npy header {text[:80]!r}")
    descr = match["descr"]
    if "O" in descr and not PLAIN_DESCR.fullmatch(descr):
        raise NpzError(
            f"entry {name!r} holds pickled Python objects (dtype {descr[:40]}); refusing to "
            "load it because unpickling can run code"
        )
    if not PLAIN_DESCR.fullmatch(descr):
        raise NpzError(f"entry {name!r} has dtype {descr[:40]}; only plain dtypes are read")
    try:
        dtype = np.dtype(descr.strip("'"))
    except (TypeError, ValueError):
        raise NpzError(f"entry {name!r} has an unknown dtype {descr}") from None
    if dtype.itemsize == 0:
        raise NpzError(f"entry {name!r} has the empty dtype {descr}")
    shape = tuple(int(size) for size in match["shape"].split(",") if size.strip())
    return dtype, shape, match["fortran"] == "True"


def _read_exactly(stream, nbytes: int, name: str) -> np.ndarray:
    """``nbytes`` bytes into a new uint8 array, chunk by chunk (no second full-size copy)."""
    data = np.empty(nbytes, dtype=np.uint8)
    filled = 0
    while filled < nbytes:
        chunk = stream.read(min(CHUNK, nbytes - filled))
        if not chunk:
            raise NpzError(f"entry {name!r} holds {filled} of its {nbytes} bytes: truncated")
        data[filled : filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        filled += len(chunk)
    return data
