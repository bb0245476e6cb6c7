"""Writes torch.save's zip layout without torch, opcode by opcode, for crafted and fuzzed files.

``test_torch_load`` checks against the installed torch that these files read as torch's own.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np

STORAGE_TYPES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
                 np.dtype(np.int64): "LongStorage", np.dtype(np.uint8): "ByteStorage"}


def text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def integer(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def global_(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def int_tuple(values) -> bytes:
    return b"(" + b"".join(integer(v) for v in values) + b"t"


EMPTY_ORDERED_DICT = global_("collections", "OrderedDict") + b")R"


def tensor(storage_type: str, key: str, numel: int, offset: int, shape, stride) -> bytes:
    """The pickle of one tensor: _rebuild_tensor_v2(storage, offset, shape, stride, ...)."""
    storage = (b"(" + text("storage") + global_("torch", storage_type) + text(key) +
               text("cpu") + integer(numel) + b"tQ")
    return (global_("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + integer(offset) +
            int_tuple(shape) + int_tuple(stride) + b"\x89" + EMPTY_ORDERED_DICT + b"tR")


def state_dict_pickle(entries: dict[str, bytes]) -> bytes:
    """A protocol-2 pickle of an OrderedDict of already pickled values."""
    items = b"".join(text(key) + value for key, value in entries.items())
    return b"\x80\x02" + EMPTY_ORDERED_DICT + b"(" + items + b"u."


def archive(pickle: bytes, storages: dict[str, bytes], byteorder: bytes = b"little",
            prefix: str = "archive", compression: int = zipfile.ZIP_STORED) -> bytes:
    """The zip torch writes: data.pkl, byteorder, data/<key> entries and version."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        zf.writestr(f"{prefix}/data.pkl", pickle)
        zf.writestr(f"{prefix}/byteorder", byteorder)
        for key, payload in storages.items():
            zf.writestr(f"{prefix}/data/{key}", payload)
        zf.writestr(f"{prefix}/version", b"3\n")
    return buffer.getvalue()


def arrays_archive(arrays: dict[str, np.ndarray], byteorder: str = "little") -> bytes:
    """A state_dict of contiguous arrays, one storage each, as torch.save would write it."""
    entries, storages = {}, {}
    for index, (name, array) in enumerate(arrays.items()):
        key = str(index)
        entries[name] = tensor(STORAGE_TYPES[array.dtype], key, array.size, 0, array.shape,
                               [s // array.itemsize for s in array.strides])
        order = "<" if byteorder == "little" else ">"
        storages[key] = array.astype(array.dtype.newbyteorder(order)).tobytes()
    return archive(state_dict_pickle(entries), storages, byteorder.encode())
