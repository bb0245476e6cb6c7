"""Argument checks shared by the optimizers and schedulers: one sentence per bad value.

Each raises ``ValueError`` naming the owner, the argument, what is allowed and what came.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """Returns the Python scalar held by a numpy scalar or 0-d array, else ``value`` unchanged.

    State dicts that went through a file (``.npz``) may come back with numpy scalars;
    the update rules want Python numbers so that float32 arrays are never promoted.
    """
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return value.item()
    return value


def check_number(owner: str, name: str, value: Any, low: float = 0.0, high: float | None = None,
                 high_inclusive: bool = True) -> None:
    """Raises ``ValueError`` unless ``value`` is a real number in ``[low, high]``.

    With ``high_inclusive=False`` the interval is ``[low, high)``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}")
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if not value >= low or too_high:  # `not >=` also rejects NaN
        upper = "" if high is None else f" and {'<=' if high_inclusive else '<'} {high}"
        raise ValueError(f"{owner}: {name} must be >= {low}{upper}, got {value!r}")


def check_int(owner: str, name: str, value: Any, low: int) -> None:
    """Raises ``ValueError`` unless ``value`` is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")


def check_bool(owner: str, name: str, value: Any) -> None:
    """Raises ``ValueError`` unless ``value`` is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{owner}: {name} must be True or False, got {value!r}")


def check_choice(owner: str, name: str, value: Any, choices: Sequence[str]) -> None:
    """Raises ``ValueError`` unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        allowed = " or ".join(repr(c) for c in choices)
        raise ValueError(f"{owner}: {name} must be {allowed}, got {value!r}")
