"""CIFAR-10's python-version batch files: a restricted reader and an official-layout writer.

The batches are Python 2 pickles of dicts: ``b"data"`` a (10000, 3072) uint8
numpy array (1024 red, 1024 green, 1024 blue values, each plane row-major
32x32), ``b"labels"`` a list of ints, ``b"batch_label"`` and ``b"filenames"``.
A pickle can name any callable, so they are never read with a plain unpickler:
``RestrictedUnpickler`` admits only plain containers, bytes, strings and
numbers, plus a uint8 numpy array that it rebuilds itself from raw bytes (the
three numpy names such a pickle uses map to inert stand-ins, never to numpy).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

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


class _ArrayStandIn:
    """Takes numpy.ndarray's place while unpickling; keeps the state it is given."""

    state = None

    def __setstate__(self, state):
        self.state = state


class _DTypeStandIn:
    """Takes numpy.dtype's place while unpickling; keeps the type name."""

    def __init__(self, name, align=0, copy=1):
        self.name = name.decode("latin1") if isinstance(name, bytes) else name

    def __setstate__(self, state):
        self.state = state


def _reconstruct(cls, shape, typecode):
    if cls is not _ArrayStandIn:
        raise pickle.UnpicklingError("_reconstruct may only build numpy.ndarray")
    return _ArrayStandIn()


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose only globals are inert stand-ins for numpy's array pickling."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): _ArrayStandIn,
        ("numpy", "dtype"): _DTypeStandIn,
    }

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refers to {module}.{name}; only plain containers, bytes, strings, numbers "
                "and uint8 numpy arrays are allowed"
            ) from None


def _to_array(stand_in: _ArrayStandIn) -> np.ndarray:
    """Rebuilds a uint8 array from a stand-in's pickled state, checking every field."""
    state = stand_in.state
    if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
        raise pickle.UnpicklingError("array state is not numpy's (1, shape, dtype, fortran, data)")
    _, shape, dtype, fortran, data = state
    if not (isinstance(dtype, _DTypeStandIn) and dtype.name == "u1"):
        raise pickle.UnpicklingError("only uint8 arrays are allowed")
    if not (isinstance(shape, tuple) and all(isinstance(s, int) and s >= 0 for s in shape)):
        raise pickle.UnpicklingError(f"array shape {shape!r} is not a tuple of sizes")
    if not isinstance(data, bytes) or len(data) != int(np.prod(shape)):
        raise pickle.UnpicklingError(f"array data does not hold the {shape} values declared")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape, order="F" if fortran else "C")


def unpickle_batch(raw: bytes, source: str) -> dict[str, object]:
    """Reads one batch pickle with ``RestrictedUnpickler``; keys come back as str.

    Raises:
        ValueError: the bytes are not a pickled dict of the allowed kinds; names ``source``.
    """
    try:
        batch = RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
        if not isinstance(batch, dict):
            raise pickle.UnpicklingError(f"holds a {type(batch).__name__}, not a dict")
        return {
            (k.decode("latin1") if isinstance(k, bytes) else k): (
                _to_array(v) if isinstance(v, _ArrayStandIn) else v
            )
            for k, v in batch.items()
        }
    except Exception as err:  # any failure to parse untrusted bytes means "not a batch"
        raise ValueError(f"{source}: not a CIFAR-10 python batch ({err})") from err


def parse_batch(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch's bytes -> images (n, 3, 32, 32) uint8 and labels (n,) int64, validated."""
    batch = unpickle_batch(raw, source)
    data, labels = batch.get("data"), batch.get("labels")
    if not (isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] == PIXELS):
        shape = getattr(data, "shape", type(data).__name__)
        raise ValueError(f"{source}: 'data' should be a uint8 array (n, {PIXELS}), got {shape}")
    if not (isinstance(labels, list) and all(type(v) is int for v in labels)):
        raise ValueError(f"{source}: 'labels' should be a list of ints")
    if len(labels) != data.shape[0]:
        raise ValueError(f"{source}: {data.shape[0]} images but {len(labels)} labels")
    labels = np.array(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise ValueError(f"{source}: labels must lie in [0, 9], got {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels


def read_archive_members(archive: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """Reads ``cifar-10-batches-py/<name>`` for each name from the tar.gz, without extracting.

    Raises:
        ValueError: a member is missing, is not a regular file, or is implausibly large.
    """
    members = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in names:
                members[name] = _read_member(tar, f"{BATCH_FOLDER}/{name}", archive)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ValueError(f"{archive}: corrupt or truncated archive ({err})") from err
    return members


def _read_member(tar: tarfile.TarFile, name: str, archive: Path) -> bytes:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise ValueError(f"{archive}: no {name} inside; not the CIFAR-10 archive") from None
    if not member.isfile() or member.size > MAX_BATCH_BYTES:
        raise ValueError(f"{archive}: {name} is not a plausible batch file")
    return tar.extractfile(member).read()


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
