"""Argument checks, one spelling for every owner: the name, what was expected, what came.

    check_int(0, "Linear: in_features", minimum=1)
        ValueError: Linear: in_features must be an int >= 1, got 0
    check_number(-0.1, "SGD: lr", minimum=0)
        ValueError: SGD: lr must be a number >= 0, got -0.1
    check_bool("no", "Conv2d: bias")
        TypeError: Conv2d: bias must be True or False, got 'no'
    check_choice("up", "EarlyStopping: mode", ("min", "max"))
        ValueError: EarlyStopping: mode must be 'min' or 'max', got 'up'

``name`` carries its owner, separated by ``": "`` (``"SGD: lr"``, ``"Dropout: p"``). As in
torch's constructors, a value of the wrong type (``"3"`` for an int, ``2.0`` for an int,
``1`` for a bool) is a ``TypeError``; a value of the right type that is out of bounds, NaN
or not one of the choices is a ``ValueError``. Numpy scalars count as the Python type they
hold, and a bool is not a number: ``True`` passed as a size is a mistake, not a 1.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

# Longer reprs (an array passed as a learning rate) are cut so the sentence stays readable.
_MAX_SHOWN = 80


def check_int(value: Any, name: str, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """``value`` as a Python int if it is an integer (numpy's too; not a bool) in bounds.

    Args:
        value: the argument to check.
        name: owner and argument, e.g. ``"Linear: in_features"``.
        minimum: smallest allowed value (inclusive), or None.
        maximum: largest allowed value (inclusive), or None.

    Raises:
        TypeError: ``value`` is not an integer, e.g. ``"Linear: in_features must be an int
            >= 1, got 2.0"``.
        ValueError: ``value`` is out of bounds, e.g. ``"... must be an int >= 1, got 0"``.
    """
    expected = _expected("an int", _bounds(minimum=minimum, maximum=maximum))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(_sentence(name, expected, value))
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(_sentence(name, expected, value))
    return int(value)


def check_number(value: Any, name: str, *, minimum: float | None = None,
                 maximum: float | None = None, above: float | None = None,
                 below: float | None = None, finite: bool = False) -> float:
    """``value`` as a Python float if it is a real number (not a bool, never NaN) in bounds.

    Args:
        value: the argument to check.
        name: owner and argument, e.g. ``"SGD: lr"``.
        minimum: ``value >= minimum`` is required (or None).
        maximum: ``value <= maximum`` is required (or None).
        above: ``value > above`` is required (or None): an exclusive ``minimum``.
        below: ``value < below`` is required (or None): an exclusive ``maximum``.
        finite: refuse +-inf too (NaN is always refused).

    Raises:
        TypeError: ``value`` is not a real number, e.g. ``"SGD: lr must be a number >= 0,
            got '0.1'"``.
        ValueError: ``value`` is NaN, infinite with ``finite``, or out of bounds, e.g.
            ``"Adam: betas[0] must be a number >= 0 and < 1, got 1.0"``.
    """
    kind = "a finite number" if finite else "a number"
    expected = _expected(kind, _bounds(minimum=minimum, above=above, maximum=maximum,
                                       below=below))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(_sentence(name, expected, value))
    number = float(value)
    in_bounds = ((minimum is None or number >= minimum) and (maximum is None or number <= maximum)
                 and (above is None or number > above) and (below is None or number < below))
    if math.isnan(number) or (finite and math.isinf(number)) or not in_bounds:
        raise ValueError(_sentence(name, expected, value))
    return number


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a Python bool if it is one (numpy's too).

    A string such as ``"False"`` or an int such as ``0`` is refused: taken for its truth value
    it would silently mean the opposite of what was meant, or hide a misplaced argument.

    Raises:
        TypeError: ``"<name> must be True or False, got <value>"``.
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(_sentence(name, "True or False", value))
    return bool(value)


def check_choice(value: Any, name: str, choices: Iterable[T]) -> T:
    """The choice equal to ``value`` (so a numpy string comes back as the str it matches).

    Raises:
        TypeError: ``value`` has none of the choices' types (``3`` where a str is expected).
        ValueError: ``value`` is none of them, e.g. ``"EarlyStopping: mode must be 'min' or
            'max', got 'up'"``.
    """
    choices = tuple(choices)
    expected = _alternatives(choices)
    if not isinstance(value, tuple({type(choice) for choice in choices})):
        raise TypeError(_sentence(name, expected, value))
    for choice in choices:
        if value == choice:
            return choice
    raise ValueError(_sentence(name, expected, value))


def _bounds(**limits: float | None) -> list[str]:
    symbols = {"minimum": ">=", "above": ">", "maximum": "<=", "below": "<"}
    return [f"{symbols[key]} {limit}" for key, limit in limits.items() if limit is not None]


def _expected(kind: str, bounds: list[str]) -> str:
    return " ".join([kind, " and ".join(bounds)]) if bounds else kind


def _alternatives(choices: tuple) -> str:
    names = [repr(_plain(choice)) for choice in choices]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _sentence(name: str, expected: str, value: Any) -> str:
    return f"{name} must be {expected}, got {_shown(value)}"


def _shown(value: Any) -> str:
    """``repr`` of the value a user typed: a numpy scalar as its Python value, cut if long."""
    text = repr(_plain(value))
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + "..."


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
