"""A pickle interpreter that builds plain data and calls only what its caller admits.

A pickle is a program: ``pickle.load`` imports and calls whatever a file names, and even a
restricted ``pickle.Unpickler`` lets a 9-byte file grow its C memo to gigabytes (a
``LONG_BINPUT`` with a huge index). So untrusted bytes never reach ``pickle``: this stack
machine interprets the opcodes that Python 2's cPickle and Python 3 write at protocols 2 to
5 for dicts, lists, tuples, strings, bytes and numbers, and refuses everything else with a
``PickleRefused`` naming the opcode, its byte offset and the problem:

- it never imports anything and calls nothing a file names: a global is looked up in the
  caller's table, whose values are inert tokens or ``Function`` records of the caller's own
  functions (the only things REDUCE applies); persistent ids and BUILD go to the caller's
  hooks, and BUILD never touches an admitted global (no pickle can change one for the rest
  of the process); INST, OBJ, NEWOBJ, the extension registry, sets, out-of-band buffers,
  the text-mode opcodes and LONG4 are refused;
- every length field is checked against the bytes that remain before anything is read;
- a memo index may not exceed the memo's size (picklers number entries 0, 1, 2, ...;
  Python 2's cPickle from 1), and the memo is a dict, so no index allocates anything; the
  stack, the marks and the memo hold at most ``MAX_ITEMS`` entries;
- the caller may cap the number of opcodes; each costs O(1) amortised time and memory, so
  a load is bounded by that cap plus the input's size;
- dict keys must be strings, bytes, numbers or None (hashing a forged tuple of tuples that
  share their items is exponential in its depth);
- the pickle starts with PROTO, and STOP must be its last byte and leave exactly one value.
"""

from __future__ import annotations

import inspect
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_ITEMS = 1 << 20
MAX_LINE = 256  # module and attribute names of a GLOBAL opcode
KEY_TYPES = (str, bytes, int, float, bool, type(None))


class PickleRefused(ValueError):
    """A pickle that uses something outside what the caller admits, or is malformed."""


@dataclass(frozen=True)
class Function:
    """A global that REDUCE may apply: ``function(*args)`` of the caller's choosing.

    The function may raise ``PickleRefused`` for arguments it does not accept; the machine
    adds where in the pickle the call was.
    """

    name: str
    function: Callable
    signature: inspect.Signature = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "signature", inspect.signature(self.function))


def refuse_build(obj, state) -> None:
    """The default BUILD hook: no object's state may be set."""
    raise PickleRefused(f"BUILD (setting the state of a {type(obj).__name__}) is not allowed")


class SafeUnpickler:
    """Interprets one pickle held in memory.

    Args:
        data: the pickle's bytes; nothing may follow its STOP opcode.
        allowed_globals: ``(module, name) -> value`` pushed for GLOBAL / STACK_GLOBAL; a
            ``Function`` value is callable through REDUCE, anything else is an inert
            (immutable) token.
        persistent_load: maps a BINPERSID id to the object it stands for; None refuses
            persistent ids.
        build: ``build(obj, state)`` for BUILD: sets ``obj``'s state in place (returning
            None) or returns the object that takes ``obj``'s place on the stack and in the
            memo. By default BUILD is refused.
        max_opcodes: the most opcodes to execute (bounds time and memory); None: as many
            as the pickle has bytes.
    """

    def __init__(self, data: bytes, allowed_globals: dict[tuple[str, str], object],
                 persistent_load: Callable[[object], object] | None = None,
                 build: Callable[[object, object], object] = refuse_build, *,
                 max_opcodes: int | None = None):
        self.data = bytes(data)
        self.allowed_globals = allowed_globals
        self.persistent_load = persistent_load
        self.build = build
        self.max_opcodes = len(self.data) if max_opcodes is None else max_opcodes
        self._admitted = {id(value): f"{module}.{name}"
                          for (module, name), value in allowed_globals.items()}
        self.pos = 0
        self.at = 0  # offset of the opcode being executed, for messages
        self.opcode = "PROTO"
        self.stack: list = []
        self.marks: list[int] = []  # stack lengths at each open MARK
        self.memo: dict[int, object] = {}
        self._memo_keys: dict[int, list[int]] = {}  # id(value) -> its memo indices

    def load(self):
        """Runs to STOP; returns the one object left on the stack.

        Raises:
            PickleRefused: a refused opcode, global or operand, or a malformed pickle.
        """
        data = self.data
        if data[:1] != b"\x80":
            raise PickleRefused("the pickle does not start with a PROTO opcode (protocols 2 "
                                "to 5 are read)")
        for _ in range(self.max_opcodes):
            self.at = self.pos
            if self.pos >= len(data):
                raise PickleRefused(f"the pickle ends without a STOP opcode (at byte {self.at})")
            code = data[self.pos]
            self.pos += 1
            if code == 0x2E:  # STOP
                self.opcode = "STOP"
                return self._finish()
            entry = _OPCODES.get(code)
            if entry is None or (code == 0x51 and self.persistent_load is None):  # BINPERSID
                raise PickleRefused(f"pickle opcode {_opcode_name(code)} at byte {self.at} is "
                                    f"not allowed (opcode {bytes([code])!r})")
            self.opcode, handler = entry
            handler(self)
            if len(self.stack) > MAX_ITEMS or len(self.marks) > MAX_ITEMS:
                self.refuse(f"the pickle stack grows past {MAX_ITEMS} entries")
        raise PickleRefused(f"the pickle runs more than {self.max_opcodes} opcodes for "
                            f"{len(data)} bytes")

    def refuse(self, reason: str):
        raise PickleRefused(f"{self.opcode} at byte {self.at}: {reason}")

    def _finish(self):
        if self.pos != len(self.data):
            self.refuse(f"{len(self.data) - self.pos} bytes follow the end of the pickle")
        if self.marks or len(self.stack) != 1:
            self.refuse("the pickle stops with a malformed stack: STOP must leave exactly one "
                        "value and no open MARK")
        return self.stack[0]

    # -- reading the input ----------------------------------------------------------
    def take(self, size: int) -> bytes:
        remain = len(self.data) - self.pos
        if size > remain:
            self.refuse(f"needs {size} bytes, but the pickle ends early: {remain} remain")
        self.pos += size
        return self.data[self.pos - size:self.pos]

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def length(self, fmt: str) -> int:
        size = self.unpack(fmt)
        if size < 0:
            self.refuse(f"a negative length {size}")
        return size

    def text(self, size: int) -> str:
        try:
            return self.take(size).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            self.refuse("a string that is not valid UTF-8")

    def line(self) -> str:
        end = self.data.find(b"\n", self.pos, self.pos + MAX_LINE + 1)
        if end < 0:
            self.refuse(f"its name is not a short line (longer than {MAX_LINE} bytes or "
                        "without its newline)")
        try:
            return self.take(end - self.pos + 1)[:-1].decode("ascii")
        except UnicodeDecodeError:
            self.refuse("a GLOBAL name that is not ASCII")

    # -- the stack --------------------------------------------------------------------
    def push(self, value) -> None:
        self.stack.append(value)

    def pop(self):
        if len(self.stack) <= self._floor():
            self.refuse("pops an empty stack")
        return self.stack.pop()

    def top(self):
        if len(self.stack) <= self._floor():
            self.refuse("needs a value and the stack is empty")
        return self.stack[-1]

    def _floor(self) -> int:
        """Where the current frame starts: no opcode reaches below its open MARK."""
        return self.marks[-1] if self.marks else 0

    def pop_mark(self) -> list:
        if not self.marks:
            self.refuse("needs a MARK: the pickle closes a MARK it never opened")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def target(self, kind: type):
        """The container below an opcode's items, which must be a ``kind``."""
        if len(self.stack) <= self._floor() or not isinstance(self.stack[-1], kind):
            self.refuse(f"needs a {kind.__name__} below its items")
        return self.stack[-1]

    def set_items(self, items: list) -> None:
        if len(items) % 2:
            self.refuse("an odd number of dict items")
        target = self.target(dict)
        for key, value in zip(items[::2], items[1::2]):
            if type(key) not in KEY_TYPES:
                self.refuse(f"a dict key of type {type(key).__name__} (str, bytes, numbers "
                            "and None only)")
            target[key] = value

    # -- the memo ---------------------------------------------------------------------
    def put(self, index: int) -> None:
        if index in self.memo or index > len(self.memo) + 1:
            self.refuse(f"memo index {index} for a memo of {len(self.memo)} entries is forged")
        if len(self.memo) >= MAX_ITEMS:
            self.refuse(f"the pickle memo grows past {MAX_ITEMS} entries")
        value = self.top()
        self.memo[index] = value
        self._memo_keys.setdefault(id(value), []).append(index)

    def get(self, index: int) -> None:
        if index not in self.memo:
            self.refuse(f"refers to memo entry {index}, never stored")
        self.push(self.memo[index])

    # -- globals and calls ------------------------------------------------------------
    def global_(self, module, name) -> None:
        if not (isinstance(module, str) and isinstance(name, str)):
            self.refuse("needs two strings, a module and a name")
        if (module, name) not in self.allowed_globals:
            raise PickleRefused(f"the pickle refers to {module[:100]}.{name[:100]} at byte "
                                f"{self.at}, which is not allowed")
        self.push(self.allowed_globals[module, name])

    def reduce(self) -> None:
        args, function = self.pop(), self.pop()
        if not isinstance(function, Function):
            raise PickleRefused(f"REDUCE at byte {self.at} applies a "
                                f"{type(function).__name__}, not an allowed function")
        if not isinstance(args, tuple):
            self.refuse("its arguments are not a tuple")
        try:
            function.signature.bind(*args)
        except TypeError:
            self.refuse(f"{function.name} called with {len(args)} arguments")
        self.push(self._hook(function.function, *args))

    def persistent_id(self) -> None:
        self.push(self._hook(self.persistent_load, self.pop()))

    def build_state(self) -> None:
        state, obj = self.pop(), self.top()
        if id(obj) in self._admitted:
            self.refuse(f"sets the state of the global {self._admitted[id(obj)]}; a global is "
                        "never changed")
        built = self._hook(self.build, obj, state)
        if built is not None and built is not obj:
            self.stack[-1] = built
            for index in self._memo_keys.pop(id(obj), ()):
                if self.memo[index] is obj:
                    self.memo[index] = built
                    self._memo_keys.setdefault(id(built), []).append(index)

    def _hook(self, hook: Callable, *args):
        """Runs a caller's function; its refusal is told with where in the pickle it was."""
        try:
            return hook(*args)
        except PickleRefused as err:
            self.refuse(str(err))


def _tuple(machine: SafeUnpickler, count: int) -> None:
    items = [machine.pop() for _ in range(count)]
    machine.push(tuple(reversed(items)))


def _frame(machine: SafeUnpickler) -> None:
    # frames only group opcodes for buffered reading; the whole pickle is in memory
    size = machine.unpack("<Q")
    remain = len(machine.data) - machine.pos
    if size > remain:
        machine.refuse(f"a frame of {size} bytes where {remain} remain")


def _proto(machine: SafeUnpickler) -> None:
    version = machine.take(1)[0]
    if not 2 <= version <= 5:
        machine.refuse(f"pickle protocol {version}; protocols 2 to 5 are read")


def _dict(machine: SafeUnpickler) -> None:
    items = machine.pop_mark()
    machine.push({})
    machine.set_items(items)


def _setitem(machine: SafeUnpickler) -> None:
    value, key = machine.pop(), machine.pop()
    machine.set_items([key, value])


def _append(machine: SafeUnpickler) -> None:
    value = machine.pop()
    machine.target(list).append(value)


def _appends(machine: SafeUnpickler) -> None:
    items = machine.pop_mark()
    machine.target(list).extend(items)


def _stack_global(machine: SafeUnpickler) -> None:
    name, module = machine.pop(), machine.pop()
    machine.global_(module, name)


def _long1(machine: SafeUnpickler) -> int:
    return int.from_bytes(machine.take(machine.unpack("<B")), "little", signed=True)


# Opcode byte -> (name as in pickletools, handler). STOP is the loop's own.
_OPCODES = {code[0]: entry for code, entry in {
    b"\x80": ("PROTO", _proto),
    b"\x95": ("FRAME", _frame),
    b"(": ("MARK", lambda m: m.marks.append(len(m.stack))),
    b"0": ("POP", lambda m: m.pop()),
    b"1": ("POP_MARK", lambda m: m.pop_mark()),
    b"2": ("DUP", lambda m: m.push(m.top())),
    b"}": ("EMPTY_DICT", lambda m: m.push({})),
    b"]": ("EMPTY_LIST", lambda m: m.push([])),
    b")": ("EMPTY_TUPLE", lambda m: m.push(())),
    b"t": ("TUPLE", lambda m: m.push(tuple(m.pop_mark()))),
    b"\x85": ("TUPLE1", lambda m: _tuple(m, 1)),
    b"\x86": ("TUPLE2", lambda m: _tuple(m, 2)),
    b"\x87": ("TUPLE3", lambda m: _tuple(m, 3)),
    b"l": ("LIST", lambda m: m.push(m.pop_mark())),
    b"d": ("DICT", _dict),
    b"s": ("SETITEM", _setitem),
    b"u": ("SETITEMS", lambda m: m.set_items(m.pop_mark())),
    b"a": ("APPEND", _append),
    b"e": ("APPENDS", _appends),
    b"N": ("NONE", lambda m: m.push(None)),
    b"\x88": ("NEWTRUE", lambda m: m.push(True)),
    b"\x89": ("NEWFALSE", lambda m: m.push(False)),
    b"K": ("BININT1", lambda m: m.push(m.unpack("<B"))),
    b"M": ("BININT2", lambda m: m.push(m.unpack("<H"))),
    b"J": ("BININT", lambda m: m.push(m.unpack("<i"))),
    b"\x8a": ("LONG1", lambda m: m.push(_long1(m))),
    b"G": ("BINFLOAT", lambda m: m.push(m.unpack(">d"))),
    # Python 2's str: bytes, as pickle.loads(raw, encoding="bytes") gives them
    b"U": ("SHORT_BINSTRING", lambda m: m.push(m.take(m.unpack("<B")))),
    b"T": ("BINSTRING", lambda m: m.push(m.take(m.length("<i")))),
    b"C": ("SHORT_BINBYTES", lambda m: m.push(m.take(m.unpack("<B")))),
    b"B": ("BINBYTES", lambda m: m.push(m.take(m.unpack("<I")))),
    b"\x8e": ("BINBYTES8", lambda m: m.push(m.take(m.unpack("<Q")))),
    b"\x96": ("BYTEARRAY8", lambda m: m.push(bytearray(m.take(m.unpack("<Q"))))),
    b"\x8c": ("SHORT_BINUNICODE", lambda m: m.push(m.text(m.unpack("<B")))),
    b"X": ("BINUNICODE", lambda m: m.push(m.text(m.unpack("<I")))),
    b"\x8d": ("BINUNICODE8", lambda m: m.push(m.text(m.unpack("<Q")))),
    b"c": ("GLOBAL", lambda m: m.global_(m.line(), m.line())),
    b"\x93": ("STACK_GLOBAL", _stack_global),
    b"R": ("REDUCE", lambda m: m.reduce()),
    b"Q": ("BINPERSID", lambda m: m.persistent_id()),
    b"b": ("BUILD", lambda m: m.build_state()),
    b"q": ("BINPUT", lambda m: m.put(m.unpack("<B"))),
    b"r": ("LONG_BINPUT", lambda m: m.put(m.unpack("<I"))),
    b"\x94": ("MEMOIZE", lambda m: m.put(len(m.memo))),
    b"h": ("BINGET", lambda m: m.get(m.unpack("<B"))),
    b"j": ("LONG_BINGET", lambda m: m.get(m.unpack("<I"))),
}.items()}


def _opcode_name(code: int) -> str:
    """pickletools' name of an opcode the machine refuses, for the message."""
    import pickletools  # only its table of opcode names

    names = {op.code.encode("latin1")[0]: op.name for op in pickletools.opcodes}
    return names.get(code, f"0x{code:02x}")
