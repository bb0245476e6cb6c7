"""A pickle reader that builds only plain data and uint8 numpy arrays, in bounded time and memory.

CIFAR-10's batches are pickles, and a pickle is a program: ``pickle.load`` calls whatever
callables it names, and even a restricted ``pickle.Unpickler`` lets a 9-byte file grow its
C memo to gigabytes (a ``LONG_BINPUT`` with a huge index). So untrusted bytes never reach
``pickle``: ``restricted_loads`` interprets the opcodes itself, the subset that Python 2's
cPickle and Python 3 write at protocols 2 to 5 for dicts, lists, tuples, strings, bytes,
numbers and numpy arrays, and refuses everything else with ``PickleRefused``:

- nothing named by the pickle is imported or called. The global names admitted (numpy's
  array and dtype reconstructors, and ``_codecs.encode`` / ``bytes``, which Python 3 uses for
  bytes at protocol 2) stand for builders in this module that accept only the arguments
  numpy and Python write, and every builder is fresh per load, so no pickle can leave state
  behind in this process;
- every length field is checked against the bytes that remain before anything is read;
- a memo index may not exceed the memo's size (picklers number entries 0, 1, 2, ...;
  Python 2's cPickle from 1), and the memo is a dict, so no index allocates anything;
- the caller caps the number of opcodes; each costs O(1) amortised time and memory, so a
  load is bounded by that cap plus the input's size;
- dict keys must be strings, bytes or numbers (hashing a forged tuple of tuples that share
  their items is exponential in its depth);
- STOP must be the last byte and leave exactly one value.
"""

from __future__ import annotations

import math
import struct

import numpy as np

MAX_DIMS = 32
MAX_LINE = 256  # module and attribute names of a GLOBAL opcode


class PickleRefused(ValueError):
    """Bytes that are not a pickle of plain data and uint8 arrays, or that would be unsafe."""


class _Global:
    """A name a GLOBAL opcode refers to; REDUCE looks up its builder, nothing is imported."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class _DType:
    """The result of ``numpy.dtype('u1', ...)``: the only dtype admitted."""

    __slots__ = ()


class _PendingArray:
    """``numpy.core.multiarray._reconstruct``'s empty array, waiting for BUILD to fill it."""

    __slots__ = ("memo_keys",)

    def __init__(self):
        self.memo_keys: list[int] = []


GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy.core.numeric", "_frombuffer"): "frombuffer",
    ("numpy._core.numeric", "_frombuffer"): "frombuffer",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("_codecs", "encode"): "encode",
    ("__builtin__", "bytes"): "bytes",
    ("builtins", "bytes"): "bytes",
}
KEY_TYPES = (str, bytes, int, float, bool, type(None))
LEAF_TYPES = (str, bytes, bytearray, int, float, bool, type(None), np.ndarray)


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
    return _Machine(bytes(raw), max_opcodes).run()


class _Machine:
    """The pickle virtual machine, restricted: a stack, marks, a memo, and a cursor."""

    def __init__(self, raw: bytes, max_opcodes: int):
        self.raw, self.pos, self.max_opcodes = raw, 0, max_opcodes
        self.stack: list = []
        self.marks: list[int] = []
        self.memo: dict[int, object] = {}
        self.at = 0  # offset of the opcode being executed, for messages

    def refuse(self, reason: str):
        raise PickleRefused(f"at byte {self.at}: {reason}")

    def run(self) -> object:
        if self.raw[:1] != b"\x80":
            self.refuse("does not start with a PROTO opcode (protocols 2 to 5 are read)")
        raw = self.raw
        for _ in range(self.max_opcodes):
            self.at = self.pos
            if self.pos >= len(raw):
                self.refuse("the pickle ends without a STOP opcode")
            handler = _OPCODES.get(raw[self.pos])
            if handler is None:
                self.refuse(f"opcode {raw[self.pos : self.pos + 1]!r} is not one plain data needs")
            self.pos += 1
            if handler(self) is _STOP:
                return self.finish()
        self.refuse(f"more than {self.max_opcodes} opcodes for {len(self.raw)} bytes")

    def finish(self) -> object:
        if self.pos != len(self.raw):
            self.refuse(f"{len(self.raw) - self.pos} bytes follow the end of the pickle")
        if self.marks or len(self.stack) != 1:
            self.refuse("STOP must leave exactly one value and no open MARK")
        result = self.stack[0]
        _check_plain(result, self)
        return result

    # -- reading the input ------------------------------------------------------
    def take(self, size: int) -> bytes:
        if size > len(self.raw) - self.pos:
            self.refuse(f"needs {size} bytes, {len(self.raw) - self.pos} remain")
        data = self.raw[self.pos : self.pos + size]
        self.pos += size
        return data

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def line(self) -> str:
        end = self.raw.find(b"\n", self.pos, self.pos + MAX_LINE + 1)
        if end < 0:
            self.refuse(f"a GLOBAL name longer than {MAX_LINE} bytes or without its newline")
        text = self.take(end - self.pos + 1)[:-1]
        try:
            return text.decode("ascii")
        except UnicodeDecodeError:
            self.refuse("a GLOBAL name that is not ASCII")

    def text(self, size: int) -> str:
        try:
            return self.take(size).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            self.refuse("a string that is not valid UTF-8")

    # -- the stack ----------------------------------------------------------------
    def push(self, value) -> None:
        self.stack.append(value)

    def pop(self):
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            self.refuse("an opcode needs a value and the stack is empty")
        return self.stack.pop()

    def top(self):
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            self.refuse("an opcode needs a value and the stack is empty")
        return self.stack[-1]

    def pop_mark(self) -> list:
        if not self.marks:
            self.refuse("an opcode needs a MARK and there is none")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def target(self, kind: type):
        if not self.stack or not isinstance(self.stack[-1], kind):
            self.refuse(f"an opcode expects a {kind.__name__} below its items")
        return self.stack[-1]

    def key(self, value):
        if type(value) not in KEY_TYPES:
            self.refuse(f"a dict key of type {type(value).__name__} (str, bytes, numbers only)")
        return value

    # -- the memo -----------------------------------------------------------------
    def put(self, index: int) -> None:
        if index in self.memo or index > len(self.memo) + 1:
            self.refuse(f"memo index {index} for a memo of {len(self.memo)} entries is forged")
        value = self.top()
        self.memo[index] = value
        if isinstance(value, _PendingArray):
            value.memo_keys.append(index)

    def get(self, index: int) -> None:
        if index not in self.memo:
            self.refuse(f"memo index {index} was never stored")
        self.push(self.memo[index])

    # -- calls ----------------------------------------------------------------------
    def reduce(self) -> None:
        args, func = self.pop(), self.pop()
        if not isinstance(func, _Global) or not isinstance(args, tuple):
            self.refuse("REDUCE of something other than an admitted global and a tuple")
        self.push(_BUILDERS[func.name](self, args))

    def build(self) -> None:
        state, obj = self.pop(), self.top()
        if isinstance(obj, _DType) and isinstance(state, tuple):
            return  # a uint8 dtype's state (byte order, fields, ...) has nothing to choose
        if not isinstance(obj, _PendingArray):
            self.refuse(f"BUILD on a {type(obj).__name__}; only numpy arrays are built")
        if not (isinstance(state, tuple) and len(state) == 5 and _is(state[0], 1)):
            self.refuse("an array state that is not numpy's (1, shape, dtype, fortran, data)")
        _, shape, dtype, fortran, data = state
        if not isinstance(dtype, _DType) or type(fortran) is not bool:
            self.refuse("an array state whose dtype or Fortran flag is not numpy's")
        array = self.array(data, shape, "F" if fortran else "C")
        self.stack[-1] = array
        for index in obj.memo_keys:
            if self.memo[index] is obj:
                self.memo[index] = array

    def array(self, data, shape, order: str) -> np.ndarray:
        if not (
            isinstance(shape, tuple)
            and len(shape) <= MAX_DIMS
            and all(type(s) is int and s >= 0 for s in shape)
        ):
            self.refuse(f"an array shape that is not a tuple of at most {MAX_DIMS} sizes")
        if not isinstance(data, bytes | bytearray) or len(data) != math.prod(shape):
            self.refuse(f"array data that does not hold the {math.prod(shape)} values declared")
        return np.array(np.frombuffer(data, dtype=np.uint8).reshape(shape, order=order))


def _is(value, *options) -> bool:
    """``value in options``, comparing only values of the same plain type (an ndarray argument
    would compare elementwise, and a bool must not pass for an int of another meaning)."""
    return any(type(value) is type(option) and value == option for option in options)


def _reconstruct(machine: _Machine, args: tuple):
    """``_reconstruct(ndarray, (0,), b"b")``: numpy's empty array before BUILD fills it."""
    if not (
        len(args) == 3
        and isinstance(args[0], _Global)
        and args[0].name == "ndarray"
        and isinstance(args[1], tuple)
        and len(args[1]) == 1
        and _is(args[1][0], 0)
        and _is(args[2], b"b", "b")
    ):
        machine.refuse("_reconstruct with arguments numpy never writes")
    return _PendingArray()


def _dtype(machine: _Machine, args: tuple):
    """``numpy.dtype("u1", align, copy)``; any other dtype is refused."""
    flags = (0, 1, False, True)  # align and copy: ints from Python 2, bools from Python 3
    if not (len(args) == 3 and _is(args[0], "u1", b"u1") and all(_is(a, *flags) for a in args[1:])):
        name = args[0] if args and isinstance(args[0], str | bytes) else "?"
        machine.refuse(f"dtype {name[:16]!r}: only uint8 arrays are allowed")
    return _DType()


def _frombuffer(machine: _Machine, args: tuple):
    """numpy's protocol-5 array pickle: ``_frombuffer(buffer, dtype, shape, order)``."""
    if len(args) != 4 or not isinstance(args[1], _DType) or not _is(args[3], "C", "F"):
        machine.refuse("_frombuffer with arguments numpy never writes for a uint8 array")
    return machine.array(args[0], args[2], args[3])


def _encode(machine: _Machine, args: tuple):
    """``_codecs.encode(text, "latin1")``: how Python 3 pickles bytes at protocol 2."""
    if len(args) != 2 or not isinstance(args[0], str) or not _is(args[1], "latin1", "latin-1"):
        machine.refuse("_codecs.encode with arguments other than (str, 'latin1')")
    try:
        return args[0].encode("latin1")
    except UnicodeEncodeError:
        machine.refuse("_codecs.encode of characters beyond latin-1")


def _bytes(machine: _Machine, args: tuple):
    """``bytes()``: how Python 3 pickles empty bytes at protocol 2."""
    if args:
        machine.refuse("bytes() with arguments")
    return b""


_BUILDERS = {
    "reconstruct": _reconstruct,
    "dtype": _dtype,
    "frombuffer": _frombuffer,
    "encode": _encode,
    "bytes": _bytes,
    "ndarray": lambda machine, args: machine.refuse("numpy.ndarray may only be an argument"),
}


def _check_plain(result, machine: _Machine) -> None:
    """Walks the result once (shared objects visited once) for anything left half-built."""
    seen, todo = set(), [result]
    while todo:
        value = todo.pop()
        if isinstance(value, LEAF_TYPES):
            continue
        if not isinstance(value, list | tuple | dict):
            machine.refuse(f"the result holds an unfinished {type(value).__name__.lstrip('_')}")
        if id(value) in seen:
            continue
        seen.add(id(value))
        todo.extend(value.values() if isinstance(value, dict) else value)


def _global(machine: _Machine, module: str, name: str) -> None:
    kind = GLOBALS.get((module, name))
    if kind is None:
        machine.refuse(
            f"refers to {module[:64]}.{name[:64]}; only plain containers, bytes, strings, "
            "numbers and uint8 numpy arrays are allowed"
        )
    machine.push(_Global(kind))


def _stack_global(machine: _Machine) -> None:
    name, module = machine.pop(), machine.pop()
    if not isinstance(module, str) or not isinstance(name, str):
        machine.refuse("STACK_GLOBAL of something other than two strings")
    _global(machine, module, name)


def _proto(machine: _Machine) -> None:
    version = machine.take(1)[0]
    if not 2 <= version <= 5:
        machine.refuse(f"protocol {version}; protocols 2 to 5 are read")


def _frame(machine: _Machine) -> None:
    size = machine.unpack("<Q")
    if size > len(machine.raw) - machine.pos:
        machine.refuse(f"a frame of {size} bytes where {len(machine.raw) - machine.pos} remain")


def _tuple(machine: _Machine, count: int) -> None:
    items = [machine.pop() for _ in range(count)]
    machine.push(tuple(reversed(items)))


def _setitems(machine: _Machine) -> None:
    items = machine.pop_mark()
    if len(items) % 2:
        machine.refuse("SETITEMS with an odd number of items")
    target = machine.target(dict)
    for i in range(0, len(items), 2):
        target[machine.key(items[i])] = items[i + 1]


def _setitem(machine: _Machine) -> None:
    value, key = machine.pop(), machine.pop()
    machine.target(dict)[machine.key(key)] = value


def _appends(machine: _Machine) -> None:
    items = machine.pop_mark()
    machine.target(list).extend(items)


def _append(machine: _Machine) -> None:
    value = machine.pop()
    machine.target(list).append(value)


def _long1(machine: _Machine) -> int:
    return int.from_bytes(machine.take(machine.unpack("<B")), "little", signed=True)


def _length(machine: _Machine, fmt: str) -> int:
    size = machine.unpack(fmt)
    if size < 0:
        machine.refuse(f"a negative length {size}")
    return size


_STOP = object()
# Opcode byte -> handler; names as in pickletools. Absent: everything that calls or imports
# (INST, OBJ, NEWOBJ, PERSID, EXT*), sets, out-of-band buffers, text-mode opcodes, LONG4.
_HANDLERS = {
    b"\x80": _proto,  # PROTO
    b"\x95": _frame,  # FRAME
    b".": lambda m: _STOP,  # STOP
    b"(": lambda m: m.marks.append(len(m.stack)),  # MARK
    b"}": lambda m: m.push({}),  # EMPTY_DICT
    b"]": lambda m: m.push([]),  # EMPTY_LIST
    b")": lambda m: m.push(()),  # EMPTY_TUPLE
    b"t": lambda m: m.push(tuple(m.pop_mark())),  # TUPLE
    b"\x85": lambda m: _tuple(m, 1),  # TUPLE1
    b"\x86": lambda m: _tuple(m, 2),  # TUPLE2
    b"\x87": lambda m: _tuple(m, 3),  # TUPLE3
    b"s": _setitem,  # SETITEM
    b"u": _setitems,  # SETITEMS
    b"a": _append,  # APPEND
    b"e": _appends,  # APPENDS
    b"N": lambda m: m.push(None),  # NONE
    b"\x88": lambda m: m.push(True),  # NEWTRUE
    b"\x89": lambda m: m.push(False),  # NEWFALSE
    b"K": lambda m: m.push(m.unpack("<B")),  # BININT1
    b"M": lambda m: m.push(m.unpack("<H")),  # BININT2
    b"J": lambda m: m.push(m.unpack("<i")),  # BININT
    b"\x8a": lambda m: m.push(_long1(m)),  # LONG1
    b"G": lambda m: m.push(m.unpack(">d")),  # BINFLOAT
    b"U": lambda m: m.push(m.take(m.unpack("<B"))),  # SHORT_BINSTRING (Python 2 str)
    b"T": lambda m: m.push(m.take(_length(m, "<i"))),  # BINSTRING (Python 2 str)
    b"C": lambda m: m.push(m.take(m.unpack("<B"))),  # SHORT_BINBYTES
    b"B": lambda m: m.push(m.take(m.unpack("<I"))),  # BINBYTES
    b"\x8e": lambda m: m.push(m.take(m.unpack("<Q"))),  # BINBYTES8
    b"\x96": lambda m: m.push(bytearray(m.take(m.unpack("<Q")))),  # BYTEARRAY8
    b"\x8c": lambda m: m.push(m.text(m.unpack("<B"))),  # SHORT_BINUNICODE
    b"X": lambda m: m.push(m.text(m.unpack("<I"))),  # BINUNICODE
    b"\x8d": lambda m: m.push(m.text(m.unpack("<Q"))),  # BINUNICODE8
    b"c": lambda m: _global(m, m.line(), m.line()),  # GLOBAL
    b"\x93": _stack_global,  # STACK_GLOBAL
    b"R": lambda m: m.reduce(),  # REDUCE
    b"b": lambda m: m.build(),  # BUILD
    b"q": lambda m: m.put(m.unpack("<B")),  # BINPUT
    b"r": lambda m: m.put(m.unpack("<I")),  # LONG_BINPUT
    b"\x94": lambda m: m.put(len(m.memo)),  # MEMOIZE
    b"h": lambda m: m.get(m.unpack("<B")),  # BINGET
    b"j": lambda m: m.get(m.unpack("<I")),  # LONG_BINGET
}
_OPCODES = {code[0]: handler for code, handler in _HANDLERS.items()}
