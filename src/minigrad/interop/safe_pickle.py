"""A pickle interpreter that builds plain data and calls only functions its caller lists.

``pickle.load`` imports and calls whatever a file names. This is a separate, small stack
machine over pickle opcodes (protocols 2 to 5): it never imports a module and never calls
anything a file names. A global is looked up in the caller's table, whose values are inert
tokens or ``Function`` records of the caller's own functions (the only things REDUCE may
apply); persistent ids and BUILD go to the caller's hooks. Every other global, every opcode
that builds arbitrary objects (INST, OBJ, NEWOBJ, the extension registry, ...) and every
malformed operand is a ``PickleRefused`` naming it and its byte offset.

Bounds: every length is checked against the bytes that remain, the stack and the memo hold
at most ``MAX_ITEMS`` entries, and dict keys must be str or int (hashing a nested tuple that
a file built from shared references can take exponential time).
"""

from __future__ import annotations

import inspect
import struct
from collections.abc import Callable
from dataclasses import dataclass

MAX_ITEMS = 1 << 20


class PickleRefused(ValueError):
    """A pickle that uses something outside what the caller allows, or is malformed."""


@dataclass(frozen=True)
class Function:
    """A global that REDUCE may apply: ``function(*args)`` of the caller's choosing."""

    name: str
    function: Callable


def _refuse_build(obj, state) -> None:
    raise PickleRefused(f"BUILD (setting the state of a {type(obj).__name__}) is not allowed")


# Opcodes that push a constant, a fixed-size number or a length-prefixed string.
_CONSTANTS = {b"N": lambda: None, b"\x88": lambda: True, b"\x89": lambda: False,
              b")": tuple, b"]": list, b"}": dict}
_NUMBERS = {b"J": "<i", b"K": "<B", b"M": "<H", b"G": ">d"}
_STRINGS = {b"\x8c": "<B", b"X": "<I", b"\x8d": "<Q"}
# Everything else it accepts, by pickletools' names; each has an op_<NAME> method.
_OPCODES = {code.encode("latin1"): name for code, name in {
    "\x80": "PROTO", "\x95": "FRAME", ".": "STOP", "(": "MARK", "0": "POP", "1": "POP_MARK",
    "2": "DUP", "\x8a": "LONG1", "\x8b": "LONG4", "t": "TUPLE", "\x85": "TUPLE1",
    "\x86": "TUPLE2", "\x87": "TUPLE3", "l": "LIST", "a": "APPEND", "e": "APPENDS",
    "d": "DICT", "s": "SETITEM", "u": "SETITEMS", "q": "BINPUT", "r": "LONG_BINPUT",
    "\x94": "MEMOIZE", "h": "BINGET", "j": "LONG_BINGET", "c": "GLOBAL",
    "\x93": "STACK_GLOBAL", "R": "REDUCE", "Q": "BINPERSID", "b": "BUILD",
}.items()}


class SafeUnpickler:
    """Interprets one pickle held in memory.

    Args:
        data: the pickle's bytes.
        allowed_globals: ``(module, name) -> value`` pushed for GLOBAL / STACK_GLOBAL; a
            ``Function`` value is callable through REDUCE, anything else is an inert token.
        persistent_load: maps a BINPERSID id to the object it stands for.
        build: ``build(obj, state)`` for BUILD; by default BUILD is refused.
    """

    def __init__(self, data: bytes, allowed_globals: dict[tuple[str, str], object],
                 persistent_load: Callable[[object], object],
                 build: Callable[[object, object], None] = _refuse_build):
        self.data = bytes(data)
        self.allowed_globals = allowed_globals
        self.persistent_load = persistent_load
        self.build = build
        self.pos = 0
        self.at = 0
        self.stack: list = []
        self.marks: list[list] = []
        self.memo: dict[int, object] = {}

    def load(self):
        """Runs to STOP; returns the one object left on the stack.

        Raises:
            PickleRefused: a refused opcode, global or operand, or a malformed pickle.
        """
        while True:
            self.at = self.pos  # where the current opcode starts, for messages
            code = self._read(1)
            if code in _CONSTANTS:
                self.stack.append(_CONSTANTS[code]())
            elif code in _NUMBERS:
                self.stack.append(self._unpack(_NUMBERS[code]))
            elif code in _STRINGS:
                self.stack.append(self._text(self._unpack(_STRINGS[code])))
            elif code == b".":
                if self.marks or len(self.stack) != 1:
                    raise PickleRefused("pickle stops with a malformed stack")
                return self.stack[0]
            elif code in _OPCODES:
                getattr(self, f"op_{_OPCODES[code]}")()
            else:
                raise PickleRefused(f"pickle opcode {_opcode_name(code)} at byte {self.at} is "
                                    "not allowed")
            if len(self.stack) > MAX_ITEMS or len(self.marks) > MAX_ITEMS:
                raise PickleRefused(f"pickle stack grows past {MAX_ITEMS} entries")

    # -- reading ------------------------------------------------------------------
    def _read(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise PickleRefused(f"pickle ends early: {n} bytes wanted at byte {self.pos}")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def _unpack(self, fmt: str):
        return struct.unpack(fmt, self._read(struct.calcsize(fmt)))[0]

    def _text(self, n: int) -> str:
        try:
            return self._read(n).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise PickleRefused(f"pickle string at byte {self.at} is not UTF-8") \
                from None

    def _line(self) -> str:
        end = self.data.find(b"\n", self.pos, self.pos + 256)
        if end < 0:
            raise PickleRefused(f"GLOBAL name at byte {self.at} is not a short line")
        return self._text(end + 1 - self.pos)[:-1]

    # -- stack helpers --------------------------------------------------------------
    def _pop(self):
        if not self.stack:
            raise PickleRefused(f"pickle pops an empty stack at byte {self.at}")
        return self.stack.pop()

    def _top(self, kind: type, opcode: str):
        if not self.stack or not isinstance(self.stack[-1], kind):
            raise PickleRefused(f"{opcode} at byte {self.at} needs a {kind.__name__} "
                                "below it")
        return self.stack[-1]

    def _pop_mark(self) -> list:
        if not self.marks:
            raise PickleRefused(f"pickle closes a MARK it never opened at byte {self.at}")
        items, self.stack = self.stack, self.marks.pop()
        return items

    def _set_items(self, target: dict, items: list) -> None:
        if len(items) % 2:
            raise PickleRefused(f"SETITEMS at byte {self.at} has an odd number of items")
        for key, value in zip(items[::2], items[1::2]):
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise PickleRefused(f"dict key of type {type(key).__name__} at byte "
                                    f"{self.at}; only str and int keys are accepted")
            target[key] = value

    def _memo_put(self, index: int) -> None:
        if not self.stack:
            raise PickleRefused(f"pickle memoizes an empty stack at byte {self.at}")
        if len(self.memo) >= MAX_ITEMS and index not in self.memo:
            raise PickleRefused(f"pickle memo grows past {MAX_ITEMS} entries")
        self.memo[index] = self.stack[-1]

    def _memo_get(self, index: int) -> None:
        if index not in self.memo:
            raise PickleRefused(f"pickle refers to memo entry {index}, never stored")
        self.stack.append(self.memo[index])

    def _global(self, module, name) -> None:
        if not (isinstance(module, str) and isinstance(name, str)):
            raise PickleRefused(f"STACK_GLOBAL at byte {self.at} needs two strings")
        if (module, name) not in self.allowed_globals:
            raise PickleRefused(f"the pickle refers to {module[:100]}.{name[:100]} at byte "
                                f"{self.at}, which is not allowed")
        self.stack.append(self.allowed_globals[module, name])

    # -- opcodes ------------------------------------------------------------------
    def op_PROTO(self):
        if self._read(1)[0] > 5:
            raise PickleRefused("pickle protocol above 5")

    def op_FRAME(self):
        # frames only group opcodes for buffered reading; the whole pickle is in memory
        if self._unpack("<Q") > len(self.data) - self.pos:
            raise PickleRefused(f"FRAME at byte {self.at} runs past the end")

    def op_MARK(self):
        self.marks.append(self.stack)
        self.stack = []

    def op_POP(self):
        self._pop()

    def op_POP_MARK(self):
        self._pop_mark()

    def op_DUP(self):
        self.stack.append(self._top(object, "DUP"))

    def op_LONG1(self):
        self.stack.append(int.from_bytes(self._read(self._read(1)[0]), "little", signed=True))

    def op_LONG4(self):
        self.stack.append(int.from_bytes(self._read(self._unpack("<I")), "little",
                                         signed=True))

    # (the _pop_mark() calls come first: they replace self.stack)
    def op_TUPLE(self):
        items = self._pop_mark()
        self.stack.append(tuple(items))

    def op_TUPLE1(self):
        self.stack.append((self._pop(),))

    def op_TUPLE2(self):
        second, first = self._pop(), self._pop()
        self.stack.append((first, second))

    def op_TUPLE3(self):
        third, second, first = self._pop(), self._pop(), self._pop()
        self.stack.append((first, second, third))

    def op_LIST(self):
        items = self._pop_mark()
        self.stack.append(items)

    def op_APPEND(self):
        value = self._pop()
        self._top(list, "APPEND").append(value)

    def op_APPENDS(self):
        items = self._pop_mark()
        self._top(list, "APPENDS").extend(items)

    def op_DICT(self):
        items = self._pop_mark()
        self.stack.append({})
        self._set_items(self.stack[-1], items)

    def op_SETITEM(self):
        value, key = self._pop(), self._pop()
        self._set_items(self._top(dict, "SETITEM"), [key, value])

    def op_SETITEMS(self):
        items = self._pop_mark()
        self._set_items(self._top(dict, "SETITEMS"), items)

    def op_BINPUT(self):
        self._memo_put(self._read(1)[0])

    def op_LONG_BINPUT(self):
        self._memo_put(self._unpack("<I"))

    def op_MEMOIZE(self):
        self._memo_put(len(self.memo))

    def op_BINGET(self):
        self._memo_get(self._read(1)[0])

    def op_LONG_BINGET(self):
        self._memo_get(self._unpack("<I"))

    def op_GLOBAL(self):
        module = self._line()
        self._global(module, self._line())

    def op_STACK_GLOBAL(self):
        name, module = self._pop(), self._pop()
        self._global(module, name)

    def op_REDUCE(self):
        args, function = self._pop(), self._pop()
        if not isinstance(function, Function):
            raise PickleRefused(f"REDUCE at byte {self.at} applies a "
                                f"{type(function).__name__}, not an allowed function")
        if not isinstance(args, tuple):
            raise PickleRefused(f"REDUCE at byte {self.at}: arguments are not a tuple")
        try:
            inspect.signature(function.function).bind(*args)
        except TypeError:
            raise PickleRefused(f"{function.name} called with {len(args)} arguments") \
                from None
        self.stack.append(function.function(*args))

    def op_BINPERSID(self):
        self.stack.append(self.persistent_load(self._pop()))

    def op_BUILD(self):
        state = self._pop()
        self.build(self._top(object, "BUILD"), state)


def _opcode_name(code: bytes) -> str:
    import pickletools  # only its table of opcode names, for the message

    names = {op.code.encode("latin1"): op.name for op in pickletools.opcodes}
    return names.get(code, f"0x{code.hex()}")
