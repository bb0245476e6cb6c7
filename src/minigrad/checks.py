"""Argument checks with one spelling each: the name, what was expected, what came.

    check_int(0, "epochs", minimum=1)            ValueError: epochs must be an int >= 1, got 0
    check_choice("up", "mode", ("min", "max"))   ValueError: mode must be 'min' or 'max', got 'up'

The Trainer, the callbacks, the data loaders and the benchmarks use them; ``name`` may carry
its owner (``"EarlyStopping: patience"``).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def check_int(value, name: str, minimum: int | None = None) -> int:
    """``value`` as an int if it is an integer (numpy's too; a bool is not) >= ``minimum``.

    Raises:
        ValueError: ``"<name> must be an int >= <minimum>, got <value>"``.
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or (minimum is not None and value < minimum)):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{name} must be an int{bound}, got {value!r}")
    return int(value)


def check_choice(value: T, name: str, choices: Sequence) -> T:
    """``value`` if it is one of ``choices``.

    Raises:
        ValueError: ``"<name> must be 'a', 'b' or 'c', got <value>"``.
    """
    if value not in choices:
        raise ValueError(f"{name} must be {_alternatives(choices)}, got {value!r}")
    return value


def _alternatives(choices: Sequence) -> str:
    names = [repr(choice) for choice in choices]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
