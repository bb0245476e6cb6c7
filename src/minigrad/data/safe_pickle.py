"""What a CIFAR-10 batch pickle may hold: plain data and uint8 numpy arrays.

CIFAR-10's batches are pickles, and a pickle is a program, so they are read by the
restricted interpreter ``minigrad.safe_pickle`` (never imports or calls what a file names;
lengths, memo, stack and opcode count bounded). This module supplies what it admits for
the batches: the global names that numpy and Python write for uint8 arrays and bytes
(numpy's array and dtype reconstructors, and ``_codecs.encode`` / ``bytes``, which Python 3
uses for bytes at protocol 2), each standing for a function here that accepts only the
arguments numpy and Python write, and a BUILD hook that fills only a uint8 array.
"""

from __future__ import annotations

import math

import numpy as np

from minigrad.safe_pickle import Function, PickleRefused, SafeUnpickler

MAX_DIMS = 32
LEAF_TYPES = (str, bytes, bytearray, int, float, bool, type(None), np.ndarray)

__all__ = ["PickleRefused", "restricted_loads"]


def restricted_loads(raw: bytes, max_opcodes: int) -> object:
    """Reads one pickle (protocol 2 to 5) of plain data and uint8 numpy arrays.

    Strings pickled by Python 2 (``str``) come back as bytes, as with
    ``pickle.loads(raw, encoding="bytes")``; arrays come back as writable uint8 ndarrays.

    Args:
        raw: the whole pickle; nothing may follow its STOP opcode.
        max_opcodes: the most opcodes to execute (bounds time and memory).

    Raises:
        PickleRefused: anything else, with the byte offset and the reason.
    """
    result = SafeUnpickler(raw, GLOBALS, build=_build, max_opcodes=max_opcodes).load()
    _check_plain(result)
    return result


class _DType:
    """The result of ``numpy.dtype('u1', ...)``: the only dtype admitted."""

    __slots__ = ()


class _PendingArray:
    """``numpy.core.multiarray._reconstruct``'s empty array, waiting for BUILD to fill it."""

    __slots__ = ()


def _is(value, *options) -> bool:
    """``value in options``, comparing only values of the same plain type (an ndarray argument
    would compare elementwise, and a bool must not pass for an int of another meaning)."""
    return any(type(value) is type(option) and value == option for option in options)


def _array(data, shape, order: str) -> np.ndarray:
    if not (
        isinstance(shape, tuple)
        and len(shape) <= MAX_DIMS
        and all(type(s) is int and s >= 0 for s in shape)
    ):
        raise PickleRefused(f"an array shape that is not a tuple of at most {MAX_DIMS} sizes")
    if not isinstance(data, bytes | bytearray) or len(data) != math.prod(shape):
        raise PickleRefused(f"array data that does not hold the {math.prod(shape)} values "
                            "declared")
    return np.array(np.frombuffer(data, dtype=np.uint8).reshape(shape, order=order))


def _ndarray(*args):
    raise PickleRefused("numpy.ndarray may only be an argument")


NDARRAY = Function("numpy.ndarray", _ndarray)


def _reconstruct(cls, base, typecode):
    """``_reconstruct(ndarray, (0,), b"b")``: numpy's empty array before BUILD fills it."""
    if not (cls is NDARRAY and isinstance(base, tuple) and len(base) == 1 and _is(base[0], 0)
            and _is(typecode, b"b", "b")):
        raise PickleRefused("_reconstruct with arguments numpy never writes")
    return _PendingArray()


def _dtype(name, align, copy):
    """``numpy.dtype("u1", align, copy)``; any other dtype is refused."""
    flags = (0, 1, False, True)  # align and copy: ints from Python 2, bools from Python 3
    if not (_is(name, "u1", b"u1") and _is(align, *flags) and _is(copy, *flags)):
        shown = name if isinstance(name, str | bytes) else "?"
        raise PickleRefused(f"dtype {shown[:16]!r}: only uint8 arrays are allowed")
    return _DType()


def _frombuffer(buffer, dtype, shape, order):
    """numpy's protocol-5 array pickle: ``_frombuffer(buffer, dtype, shape, order)``."""
    if not isinstance(dtype, _DType) or not _is(order, "C", "F"):
        raise PickleRefused("_frombuffer with arguments numpy never writes for a uint8 array")
    return _array(buffer, shape, order)


def _encode(text, encoding):
    """``_codecs.encode(text, "latin1")``: how Python 3 pickles bytes at protocol 2."""
    if not isinstance(text, str) or not _is(encoding, "latin1", "latin-1"):
        raise PickleRefused("_codecs.encode with arguments other than (str, 'latin1')")
    try:
        return text.encode("latin1")
    except UnicodeEncodeError:
        raise PickleRefused("_codecs.encode of characters beyond latin-1") from None


def _bytes():
    """``bytes()``: how Python 3 pickles empty bytes at protocol 2."""
    return b""


_RECONSTRUCT = Function("numpy.core.multiarray._reconstruct", _reconstruct)
_FROMBUFFER = Function("numpy.core.numeric._frombuffer", _frombuffer)
_BYTES = Function("bytes", _bytes)
GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): Function("numpy.dtype", _dtype),
    ("_codecs", "encode"): Function("_codecs.encode", _encode),
    ("__builtin__", "bytes"): _BYTES,
    ("builtins", "bytes"): _BYTES,
}


def _build(obj, state):
    """BUILD: a uint8 dtype's state is accepted (nothing to choose), an array's fills it."""
    if isinstance(obj, _DType) and isinstance(state, tuple):
        return None  # byte order, fields, ...: a uint8 dtype has nothing to choose
    if not isinstance(obj, _PendingArray):
        raise PickleRefused(f"BUILD on a {type(obj).__name__}; only numpy arrays are built")
    if not (isinstance(state, tuple) and len(state) == 5 and _is(state[0], 1)):
        raise PickleRefused("an array state that is not numpy's (1, shape, dtype, fortran, "
                            "data)")
    _, shape, dtype, fortran, data = state
    if not isinstance(dtype, _DType) or type(fortran) is not bool:
        raise PickleRefused("an array state whose dtype or Fortran flag is not numpy's")
    return _array(data, shape, "F" if fortran else "C")


def _check_plain(result) -> None:
    """Walks the result once (shared objects visited once) for anything left half-built."""
    seen, todo = set(), [result]
    while todo:
        value = todo.pop()
        if isinstance(value, LEAF_TYPES):
            continue
        if not isinstance(value, list | tuple | dict):
            name = value.name if isinstance(value, Function) else type(value).__name__
            raise PickleRefused(f"the result holds an unfinished {name.lstrip('_')}")
        if id(value) in seen:
            continue
        seen.add(id(value))
        todo.extend(value.values() if isinstance(value, dict) else value)
