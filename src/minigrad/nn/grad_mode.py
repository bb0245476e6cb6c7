"""When forwards keep what their backward needs: ``no_grad()``, and outermost calls.

Per thread: whether forwards keep contexts (False inside ``no_grad()``), whether a module
call is in progress, and a count of outermost calls (``model(x)`` from user code), by which
eval mode keeps the contexts of the latest call only.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_state = threading.local()


def is_grad_enabled() -> bool:
    """False inside ``no_grad()``: forwards then keep nothing for a backward."""
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Forwards inside this block keep no context (inference; no backward possible).

    Like ``torch.no_grad()``: memory use is that of the forward alone. Per thread.
    """
    previous = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = previous


def in_call() -> bool:
    """True while a module call (``module(x)``) is in progress in this thread."""
    return getattr(_state, "in_call", False)


def current_call() -> int | None:
    """The number of the outermost call in progress, or None outside any call."""
    return _state.calls if in_call() else None


@contextlib.contextmanager
def outermost_call() -> Iterator[None]:
    """Marks an outermost module call: numbered, and nested calls see ``in_call()``."""
    _state.in_call = True
    _state.calls = getattr(_state, "calls", 0) + 1
    try:
        yield
    finally:
        _state.in_call = False
