"""CIFAR-10's python-version batch files: a restricted reader and an official-layout writer.

The batches are Python 2 pickles of dicts: ``b"data"`` a (10000, 3072) uint8
numpy array (1024 red, 1024 green, 1024 blue values, each plane row-major
32x32), ``b"labels"`` a list of ints, ``b"batch_label"`` and ``b"filenames"``.
A pickle can name any callable, so they are never given to ``pickle``:
``safe_pickle.restricted_loads`` interprets them itself, admitting only plain
containers, bytes, strings, numbers and uint8 numpy arrays, in time and memory
bounded by the file's size. Batch files and archive members larger than
``MAX_BATCH_BYTES`` are refused before they are read.
"""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np

from minigrad.data.safe_pickle import PickleRefused, restricted_loads
from minigrad.fileio import atomic_write

BATCH_FOLDER = "cifar-10-batches-py"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
PIXELS = 3 * 32 * 32
MAX_BATCH_BYTES = 1 << 27  # an official batch is 31 MB; refuse to inflate a forged 100 GB one
MAX_ARCHIVE_MEMBERS = 64  # the official archive holds 9
MAX_ARCHIVE_BYTES = 7 * MAX_BATCH_BYTES  # six batches and the rest; the official is 170 MB
MIN_OPCODES = 4096  # opcodes any batch may use, whatever its size (batches.meta needs ~30)


def unpickle_batch(raw: bytes, source: str) -> dict[str, object]:
    """Reads one batch pickle with ``restricted_loads``; keys come back as str.

    Raises:
        ValueError: the bytes are not a pickled dict of the allowed kinds, or are larger
            than any batch; the message names ``source``.
    """
    if len(raw) > MAX_BATCH_BYTES:
        raise ValueError(f"{source}: {len(raw)} bytes, more than any CIFAR-10 batch holds")
    try:
        # A batch of n images holds n * 3072 pixel bytes and a few opcodes per image (label,
        # file name, memo), so one opcode per 64 bytes leaves a wide margin.
        batch = restricted_loads(raw, max_opcodes=MIN_OPCODES + len(raw) // 64)
    except PickleRefused as err:
        raise ValueError(f"{source}: not a CIFAR-10 python batch ({err})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{source}: not a CIFAR-10 python batch (holds a {type(batch).__name__})")
    named = {}
    for key, value in batch.items():
        name = key.decode("latin1") if isinstance(key, bytes) else key
        if name in named:
            raise ValueError(f"{source}: key {name!r} appears twice (as str and as bytes)")
        named[name] = value
    return named


def parse_batch(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch's bytes -> images (n, 3, 32, 32) uint8 and labels (n,) int64, validated."""
    batch = unpickle_batch(raw, source)
    data, labels = batch.get("data"), batch.get("labels")
    if not (isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] == PIXELS):
        shape = data.shape if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{source}: 'data' should be a uint8 array (n, {PIXELS}), got {shape}")
    if not (isinstance(labels, list) and all(type(v) is int for v in labels)):
        raise ValueError(f"{source}: 'labels' should be a list of ints")
    if len(labels) != data.shape[0]:
        raise ValueError(f"{source}: {data.shape[0]} images but {len(labels)} labels")
    # Checked as Python ints: a label of 2**100 must be an error, not an int64 overflow.
    outside = [v for v in labels if not 0 <= v < len(CLASSES)]
    if outside:
        raise ValueError(
            f"{source}: labels must lie in [0, 9]; {len(outside)} do not, the first is {outside[0]}"
        )
    return data.reshape(-1, 3, 32, 32), np.array(labels, dtype=np.int64)


def read_batch_file(path: Path) -> bytes:
    """An extracted batch file's bytes, refusing a file larger than any batch before reading.

    Raises:
        ValueError: the file is larger than ``MAX_BATCH_BYTES``.
    """
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        raw = file.read(MAX_BATCH_BYTES + 1) if size <= MAX_BATCH_BYTES else b""
    if size > MAX_BATCH_BYTES or len(raw) > MAX_BATCH_BYTES:
        raise ValueError(
            f"{path}: {max(size, len(raw))} bytes, more than any CIFAR-10 batch holds "
            f"({MAX_BATCH_BYTES}); not a batch file"
        )
    return raw


class ArchiveRefused(ValueError):
    """An archive whose structure is not the CIFAR-10 one (named in the message)."""


class _PlainTarInfo(tarfile.TarInfo):
    """Admits only files and folders, and makes a corrupt header an error.

    tarfile reads a pax, GNU long-name or sparse header's declared size into memory, so a
    forged one could inflate gigabytes; and it silently ends the archive at a corrupt
    header after the first, which would report corruption as missing batches.
    """

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        try:
            info = super().frombuf(buf, encoding, errors)
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as err:
            raise ArchiveRefused(f"corrupt tar header ({err})") from None
        if not (info.isfile() or info.isdir()) or info.type == tarfile.GNUTYPE_SPARSE:
            raise ArchiveRefused(
                f"entry {info.name[:100]!r} has tar type {info.type!r}; the CIFAR-10 archive "
                "holds only plain files and folders (no links, devices, pax or GNU headers)"
            )
        return info


def read_archive_members(archive: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """Reads ``cifar-10-batches-py/<name>`` for each name from the tar.gz, without extracting.

    The whole archive is scanned once, in order, with bounds checked on each header before
    its data is read or skipped: at most ``MAX_ARCHIVE_MEMBERS`` entries declaring at most
    ``MAX_BATCH_BYTES`` each and ``MAX_ARCHIVE_BYTES`` in all (the compressed file too).

    Raises:
        ValueError: the archive is corrupt or truncated, a member is missing, appears twice,
            is not a regular file or is implausibly large, or the archive is not a plain tar.
    """
    size = archive.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise ValueError(f"{archive}: {size} bytes, more than the CIFAR-10 archive holds")
    wanted = {f"{BATCH_FOLDER}/{name}": name for name in names}
    members: dict[str, bytes] = {}
    budget = MAX_ARCHIVE_BYTES
    try:
        with tarfile.open(archive, "r:gz", tarinfo=_PlainTarInfo) as tar:
            for count, member in enumerate(tar, start=1):
                budget -= member.size
                if count > MAX_ARCHIVE_MEMBERS or budget < 0 or member.size > MAX_BATCH_BYTES:
                    raise ArchiveRefused(
                        f"entry {member.name[:100]!r}: more or larger entries than the CIFAR-10 "
                        f"archive holds (at most {MAX_ARCHIVE_MEMBERS}, each at most "
                        f"{MAX_BATCH_BYTES} bytes)"
                    )
                name = wanted.get(member.name)
                if name is not None:
                    _check_wanted(members, name, member)
                    members[name] = _member_bytes(tar, member)
            _drain(tar.fileobj, budget)
    except ArchiveRefused as err:
        raise ValueError(f"{archive}: {err}") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise ValueError(f"{archive}: corrupt or truncated archive ({err})") from err
    missing = [f"{BATCH_FOLDER}/{name}" for name in names if name not in members]
    if missing:
        raise ValueError(f"{archive}: no {missing[0]} inside; not the CIFAR-10 archive")
    return members


def _drain(stream, budget: int) -> None:
    """Reads the gzip stream to its end, where its CRC is checked: tarfile stops at the
    end-of-archive marker, so a corrupted byte in a member would otherwise go unnoticed."""
    while chunk := stream.read(min(1 << 20, budget + 1)):
        budget -= len(chunk)
        if budget < 0:
            raise ArchiveRefused("more data after the archive's end than the archive holds")


def _check_wanted(members: dict, name: str, member: tarfile.TarInfo) -> None:
    if name in members:  # extracting would keep the last copy; reading, the first
        raise ArchiveRefused(f"{member.name} appears twice")
    if not member.isfile():
        raise ArchiveRefused(f"{member.name} is not a regular file")


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    data = tar.extractfile(member).read(member.size)
    if len(data) != member.size:
        raise ArchiveRefused(f"{member.name} holds {len(data)} of its {member.size} bytes")
    return data


def write_cifar10_python(
    folder: str | os.PathLike,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    archive: bool = False,
) -> Path:
    """Writes images in CIFAR-10's official python-version layout.

    Creates ``folder/cifar-10-batches-py/`` with ``data_batch_1``..``5`` (the
    training set split in 5 consecutive parts, as the official 5 x 10,000),
    ``test_batch`` and ``batches.meta``: Python 2 style protocol-2 pickles of
    the official dicts (``data`` a uint8 numpy array (n, 3072), ``labels`` a
    list of ints, ``batch_label``, ``filenames``), so torchvision reads them as
    it reads the official files. With ``archive=True`` it also writes
    ``folder/cifar-10-python.tar.gz`` holding that folder. Every file is
    written atomically. The files are NOT the official ones (their MD5s
    differ), so load them with ``load_cifar10(..., verify=False)``.

    Args:
        folder: where to write (e.g. ``<root>/cifar10``); created if missing.
        x_train, x_test: uint8 images, (n, 3, 32, 32) or (n, 3072) rows.
        y_train, y_test: integer labels in [0, 9], (n,).
        archive: also write the tar.gz.

    Returns:
        The path of the ``cifar-10-batches-py`` folder.
    """
    folder = Path(folder)
    batches = folder / BATCH_FOLDER
    batches.mkdir(parents=True, exist_ok=True)
    train = _batch_rows(x_train, y_train, "x_train", "y_train")
    test = _batch_rows(x_test, y_test, "x_test", "y_test")
    parts = np.array_split(np.arange(train[0].shape[0]), len(TRAIN_BATCHES))
    files = {
        name: _batch_pickle(train[0][part], train[1][part], f"training batch {i + 1} of 5", part)
        for i, (name, part) in enumerate(zip(TRAIN_BATCHES, parts, strict=True))
    }
    files[TEST_BATCH] = _batch_pickle(*test, "testing batch 1 of 1", np.arange(len(test[1])))
    meta = {"num_cases_per_batch": len(parts[0]), "label_names": list(CLASSES), "num_vis": PIXELS}
    files[META_FILE] = _py2_pickle(meta)
    for name, payload in files.items():
        with atomic_write(batches / name) as out:
            out.write(payload)
    if archive:
        with atomic_write(folder / ARCHIVE_NAME) as out:
            out.write(_tar_gz(files))
    return batches


def _batch_rows(x, y, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validates images and labels; returns (n, 3072) uint8 rows and (n,) labels."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.dtype != np.uint8 or x.shape[1:] not in ((3, 32, 32), (PIXELS,)):
        raise ValueError(
            f"{x_name} must be uint8 (n, 3, 32, 32) or (n, 3072), got {x.dtype} {x.shape}"
        )
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{y_name} must be {x.shape[0]} integer labels, got {y.dtype} {y.shape}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{y_name} must lie in [0, 9], got {y.min()}..{y.max()}")
    return np.ascontiguousarray(x.reshape(-1, PIXELS)), y


def _batch_pickle(rows: np.ndarray, labels: np.ndarray, batch_label: str, index) -> bytes:
    return _py2_pickle(
        {
            "batch_label": batch_label,
            "labels": [int(v) for v in labels],
            "data": rows,
            "filenames": [f"minigrad_{int(i):05d}.png" for i in index],
        }
    )


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        folder = tarfile.TarInfo(BATCH_FOLDER)
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for name, payload in files.items():
            info = tarfile.TarInfo(f"{BATCH_FOLDER}/{name}")
            info.size, info.mode = len(payload), 0o644
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def _py2_pickle(obj) -> bytes:
    """Pickles like Python 2's cPickle protocol 2 did: str as byte strings, numpy's old names."""
    out = bytearray(b"\x80\x02")
    _emit(out, obj)
    out += b"."
    return bytes(out)


def _emit(out: bytearray, obj) -> None:
    if isinstance(obj, bool):
        out += b"\x88" if obj else b"\x89"  # NEWTRUE / NEWFALSE
    elif isinstance(obj, int):
        _emit_int(out, obj)
    elif isinstance(obj, str | bytes):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        # SHORT_BINSTRING / BINSTRING: Python 2 byte strings
        out += b"U" + bytes([len(data)]) if len(data) < 256 else b"T" + struct.pack("<I", len(data))
        out += data
    elif isinstance(obj, dict):
        out += b"}("  # EMPTY_DICT, MARK
        for key, value in obj.items():
            _emit(out, key)
            _emit(out, value)
        out += b"u"  # SETITEMS
    elif isinstance(obj, list | tuple):
        out += b"](" if isinstance(obj, list) else b"("
        for item in obj:
            _emit(out, item)
        out += b"e" if isinstance(obj, list) else b"t"  # APPENDS / TUPLE
    elif isinstance(obj, np.ndarray) and obj.dtype == np.uint8:
        _emit_uint8_array(out, obj)
    else:
        raise TypeError(f"cannot write {type(obj).__name__} into a CIFAR batch")


def _emit_int(out: bytearray, value: int) -> None:
    if 0 <= value < 256:
        out += b"K" + bytes([value])
    elif 0 <= value < 65536:
        out += b"M" + struct.pack("<H", value)
    else:
        out += b"J" + struct.pack("<i", value)


def _emit_uint8_array(out: bytearray, array: np.ndarray) -> None:
    """numpy's pickle of a C-ordered uint8 array, as numpy 1.x under Python 2 wrote it."""
    out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
    out += b"K\x00\x85U\x01b\x87R("  # (ndarray, (0,), 'b') REDUCE, then MARK the state
    _emit(out, 1)
    _emit(out, tuple(int(s) for s in array.shape))
    out += b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R"  # dtype('u1', 0, 1)
    out += b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"  # its state, BUILD
    _emit(out, False)  # not Fortran-ordered
    _emit(out, np.ascontiguousarray(array).tobytes())
    out += b"tb"  # end the state tuple, BUILD
