"""Reads the files ``torch.save(model.state_dict(), path)`` writes, without torch and without
running any of their code.

Such a file is a zip archive ``<name>/data.pkl`` (a pickle of the OrderedDict), one entry
``<name>/data/<key>`` of raw little-endian bytes per storage, and small records
(``byteorder``, ``version``, ``.data/serialization_id``, ...). The pickle names torch's
functions ``_rebuild_tensor_v2(storage, offset, size, stride, ...)`` and storage types
(``torch.FloatStorage``); ``safe_pickle`` maps those names to the functions below, which only
record what to build. The arrays are built afterwards from the storage entries, once every
view is known to lie inside its storage.

Bounds: ``data.pkl`` at most ``MAX_PICKLE_BYTES``; a storage is as large as its archive entry
(which must hold exactly its declared elements, uncompressed, as torch writes them); a view
reaching beyond its storage is refused before any storage is read. Tensors are views of
their storage, as torch.load gives them: tensors that shared a storage share memory here.
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from minigrad.safe_pickle import Function, PickleRefused, SafeUnpickler

MAX_PICKLE_BYTES = 64 << 20
MAX_NDIM = 32  # numpy's limit before 2.0
MAX_ELEMENTS = 1 << 48  # a view (stride 0 repeats elements) numpy can still describe
LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."  # pickle of 0x1950a86a20f9469cfc6c

#: torch's storage types and the element type of their bytes (bfloat16: no numpy dtype).
STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


class TorchFileError(ValueError):
    """A file that is not a torch state_dict this reader accepts, or a corrupt one."""


@dataclass(frozen=True)
class StorageType:
    """Stands in for ``torch.FloatStorage`` etc.: names the element type, does nothing."""

    name: str
    dtype: str


@dataclass(frozen=True)
class StorageRef:
    """A persistent id ``('storage', type, key, location, numel)``: entry ``data/<key>``."""

    key: str
    dtype: str
    numel: int


@dataclass(frozen=True)
class TensorRef:
    """What ``_rebuild_tensor_v2`` would build: a strided view of a storage, in elements."""

    storage: StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


# -- the functions the pickle may "call" --------------------------------------------------
def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_tuple(value, what: str) -> tuple[int, ...]:
    if not (isinstance(value, tuple) and len(value) <= MAX_NDIM
            and all(_is_int(v) and v >= 0 for v in value)):
        raise PickleRefused(f"tensor {what} must be a tuple of at most {MAX_NDIM} "
                            f"non-negative ints, got a {type(value).__name__}")
    return value


def _check_hooks(hooks) -> None:
    # torch never saves hooks (they would be functions); it writes an empty OrderedDict
    if not (isinstance(hooks, OrderedDict) and not hooks):
        raise PickleRefused("a tensor carries backward hooks; only an empty OrderedDict is "
                            "accepted")


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    if not isinstance(storage, StorageRef):
        raise PickleRefused("_rebuild_tensor_v2 expects a storage as its first argument")
    if not (_is_int(offset) and offset >= 0) or not isinstance(requires_grad, bool):
        raise PickleRefused("_rebuild_tensor_v2: the storage offset must be an int >= 0 and "
                            "requires_grad a bool")
    shape, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if len(shape) != len(stride):
        raise PickleRefused(f"tensor size has {len(shape)} dims but its stride {len(stride)}")
    _check_hooks(hooks)
    if metadata is not None and not (isinstance(metadata, dict)
                                     and all(v is False for v in metadata.values())):
        # torch's metadata flags the conj / neg bits of lazy views, which change the values
        raise PickleRefused("a tensor carries conj/neg-bit metadata; save "
                            "t.resolve_conj().resolve_neg() instead")
    return TensorRef(storage, offset, shape, stride)


def _rebuild_parameter(data, requires_grad, hooks):
    if not isinstance(data, TensorRef) or not isinstance(requires_grad, bool):
        raise PickleRefused("_rebuild_parameter expects a tensor and a bool")
    _check_hooks(hooks)
    return data


def _rebuild_parameter_with_state(data, requires_grad, hooks, state):
    # torch writes this form only for a Parameter with Python attributes of its own
    if state and not (isinstance(state, tuple) and not any(state)):
        raise PickleRefused("a Parameter carries extra Python attributes; only plain "
                            "Parameters are accepted")
    return _rebuild_parameter(data, requires_grad, hooks)


def _ordered_dict():
    return OrderedDict()


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): Function("collections.OrderedDict", _ordered_dict),
    ("torch._utils", "_rebuild_tensor_v2"): Function("_rebuild_tensor_v2", _rebuild_tensor_v2),
    ("torch._utils", "_rebuild_parameter"): Function("_rebuild_parameter", _rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): Function(
        "_rebuild_parameter_with_state", _rebuild_parameter_with_state),
    **{("torch", name): StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class _Storages:
    """The persistent-id hook: checks each id, and that a key always names one storage."""

    def __init__(self):
        self.refs: dict[str, StorageRef] = {}

    def __call__(self, pid) -> StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], StorageType) and isinstance(pid[2], str)
                and isinstance(pid[3], str) and _is_int(pid[4]) and pid[4] >= 0):
            raise PickleRefused("a persistent id is not ('storage', type, key, location, "
                                "numel)")
        key = pid[2]
        if not (key.isascii() and key.isdigit() and len(key) <= 20):
            raise PickleRefused(f"storage key {key[:30]!r} is not a decimal number")
        ref = StorageRef(key, pid[1].dtype, pid[4])
        if self.refs.setdefault(key, ref) != ref:
            raise PickleRefused(f"storage {key} is declared twice with different types or "
                                "sizes")
        return ref


def _build(obj, state) -> None:
    # state_dict() sets an attribute _metadata (per-module versions) on its OrderedDict and
    # pickle restores it with BUILD. It plays no part in the arrays, so it is dropped.
    if not (isinstance(obj, OrderedDict) and isinstance(state, dict)):
        raise PickleRefused("BUILD is only accepted for an OrderedDict's attribute dict, got "
                            f"a {type(state).__name__} for a {type(obj).__name__}")


# -- the archive --------------------------------------------------------------------------
def load_torch_state_dict(path: str | os.PathLike) -> OrderedDict[str, np.ndarray]:
    """Reads a ``torch.save(model.state_dict(), path)`` file into numpy arrays.

    Torch is not imported and nothing in the file is executed (see the module docstring).
    dtypes are kept (float32/64/16, int64/32/16/8, uint8, bool) except bfloat16, which numpy
    lacks and which becomes float32 exactly. Shape, strides and storage offset are honoured:
    a transposed or sliced tensor comes back as the same (non-contiguous) numpy view of its
    storage, and tensors that shared a storage in torch share memory here (as with
    ``torch.load``); ``array.copy()`` gives an independent C-ordered copy.

    Args:
        path: a file in torch's zip format (the default since torch 1.6).

    Returns:
        The state_dict: key -> ndarray, in the file's order.

    Raises:
        TorchFileError: (naming the file) the file is not a zip archive of torch's layout (the
            legacy pre-1.6 format is refused with how to convert it), the pickle uses a
            global or opcode beyond a state_dict's, a value is not a tensor, or a storage
            entry is missing, compressed or of the wrong size.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            head = file.read(len(LEGACY_MAGIC))
            size = os.fstat(file.fileno()).st_size
            if head == LEGACY_MAGIC:
                raise TorchFileError(
                    "written in torch's legacy (pre-1.6) format, which is not read here; "
                    "re-save it with a current torch: torch.save(torch.load(path, "
                    "weights_only=True), path)")
            if not zipfile.is_zipfile(file):
                raise TorchFileError("not a zip archive, so not a torch.save file (torch's "
                                     "zip format, the default since torch 1.6)")
            with zipfile.ZipFile(file) as archive:
                return _read_archive(archive, size)
    except TorchFileError as err:
        raise TorchFileError(f"{path}: {err}") from None
    except PickleRefused as err:
        raise TorchFileError(f"{path}: refused, nothing was executed: {err}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError,
            UnicodeDecodeError, struct.error) as err:
        raise TorchFileError(f"{path}: corrupt or truncated archive ({err})") from err


def _read_archive(archive: zipfile.ZipFile, file_size: int) -> OrderedDict[str, np.ndarray]:
    entries = _entries(archive, file_size)
    prefix = _record_prefix(entries)
    if any(name.startswith(prefix + "code/") for name in entries):
        raise TorchFileError("a TorchScript archive (torch.jit.save), not a torch.save file")
    byteorder = _small_record(archive, entries, prefix + "byteorder", b"little")
    if byteorder not in (b"little", b"big"):
        raise TorchFileError(f"byteorder record is {byteorder[:20]!r}, not little or big")
    pickle_entry = entries[prefix + "data.pkl"]
    if pickle_entry.file_size > MAX_PICKLE_BYTES:
        raise TorchFileError(f"data.pkl is {pickle_entry.file_size} bytes, more than a "
                             f"state_dict's pickle needs ({MAX_PICKLE_BYTES})")
    storages = _Storages()
    state = SafeUnpickler(_read(archive, pickle_entry), ALLOWED_GLOBALS, storages,
                          _build).load()
    tensors = _tensor_refs(state)
    for ref in storages.refs.values():
        _check_storage_entry(entries, prefix, ref)
    for key, tensor in tensors.items():
        _check_view(key, tensor)
    arrays: dict[str, np.ndarray] = {}
    return OrderedDict(
        (key, _view(_storage_array(archive, entries, prefix, tensor.storage, byteorder, arrays),
                    tensor))
        for key, tensor in tensors.items())


def _entries(archive: zipfile.ZipFile, file_size: int) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    entries = {info.filename: info for info in infos}
    if len(entries) != len(infos):
        raise TorchFileError("the archive holds two entries of the same name")
    for info in infos:
        if info.flag_bits & 0x1:
            raise TorchFileError(f"entry {info.filename[:100]!r} is encrypted")
        if info.file_size > file_size and info.compress_type == zipfile.ZIP_STORED:
            raise TorchFileError(f"entry {info.filename[:100]!r} claims more bytes than the "
                                 "file holds")
    return entries


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.compress_type != zipfile.ZIP_STORED:
        # what torch writes; a compressed entry could inflate far beyond the file's size
        raise TorchFileError(f"entry {info.filename[:100]!r} is compressed; torch writes "
                             "uncompressed entries")
    return archive.read(info)


def _record_prefix(entries: dict[str, zipfile.ZipInfo]) -> str:
    """``"<name>/"``: the one folder every entry is in, which must hold ``data.pkl``."""
    folders = {name.split("/", 1)[0] for name in entries}
    if len(folders) != 1 or f"{next(iter(folders))}/data.pkl" not in entries:
        raise TorchFileError("not torch's layout: expected one folder holding data.pkl, "
                             "data/ and the version records")
    return f"{folders.pop()}/"


def _small_record(archive, entries, name: str, default: bytes) -> bytes:
    if name not in entries:
        return default
    if entries[name].file_size > 64:
        raise TorchFileError(f"record {name} is implausibly large")
    return _read(archive, entries[name]).strip()


def _tensor_refs(state) -> OrderedDict[str, TensorRef]:
    if not isinstance(state, dict):
        raise TorchFileError(f"holds a {type(state).__name__}, not a state_dict "
                             "(save model.state_dict())")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, TensorRef):
            raise TorchFileError(
                f"entry {str(key)[:100]!r} is a {type(value).__name__}, not a tensor; a "
                "state_dict maps names to tensors (save model.state_dict() itself)")
    return OrderedDict(state)


def _check_storage_entry(entries, prefix: str, ref: StorageRef) -> None:
    name = f"{prefix}data/{ref.key}"
    if name not in entries:
        raise TorchFileError(f"storage {ref.key} has no entry {name}")
    expected = ref.numel * _itemsize(ref.dtype)
    if entries[name].compress_type != zipfile.ZIP_STORED:
        raise TorchFileError(f"entry {name} is compressed; torch writes uncompressed entries")
    if entries[name].file_size != expected:
        raise TorchFileError(f"storage {ref.key} declares {ref.numel} {ref.dtype} elements "
                             f"({expected} bytes) but {name} holds "
                             f"{entries[name].file_size} bytes")


def _itemsize(dtype: str) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def _check_view(key: str, tensor: TensorRef) -> None:
    """Refuses a view that reaches outside its storage (before anything is read)."""
    numel = tensor.storage.numel
    if 0 in tensor.shape:
        last = tensor.offset - 1
    else:
        last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride))
    if last >= numel or tensor.offset > numel or math.prod(tensor.shape) > MAX_ELEMENTS:
        raise TorchFileError(f"tensor {key[:100]!r} (offset {tensor.offset}, size "
                             f"{tensor.shape}, stride {tensor.stride}) reaches beyond its "
                             f"storage of {numel} elements")


def _storage_array(archive, entries, prefix: str, ref: StorageRef, byteorder: bytes,
                   cache: dict[str, np.ndarray]) -> np.ndarray:
    """The storage as a 1-D native-endian array (read once however many tensors use it)."""
    if ref.key in cache:
        return cache[ref.key]
    stored = {"bfloat16": "uint16", "bool": "uint8"}.get(ref.dtype, ref.dtype)
    raw_dtype = np.dtype(stored).newbyteorder("<" if byteorder == b"little" else ">")
    raw = np.empty(ref.numel, raw_dtype)
    with archive.open(entries[f"{prefix}data/{ref.key}"]) as entry:
        if entry.readinto(memoryview(raw).cast("B")) != raw.nbytes or entry.read(1):
            raise TorchFileError(f"storage {ref.key} is truncated")
    if ref.dtype == "bfloat16":
        # bfloat16 is the upper half of a float32: shifting its bits up is exact
        array = (raw.astype(np.uint32) << 16).view(np.float32)
    elif ref.dtype == "bool":
        array = raw.view(np.uint8) != 0
    else:
        array = raw.astype(raw_dtype.newbyteorder("="), copy=False)
    cache[ref.key] = array
    return array


def _view(storage: np.ndarray, tensor: TensorRef) -> np.ndarray:
    itemsize = storage.itemsize
    return np.lib.stride_tricks.as_strided(
        storage[tensor.offset:], shape=tensor.shape,
        strides=tuple(s * itemsize for s in tensor.stride))
