"""What ``fit`` and ``evaluate`` accept as loaders, and what a loader must yield.

A loader is any iterable of ``(x, y)`` batches: a ``minigrad.data.DataLoader``, a list, an
object whose ``__iter__`` is a generator function. It needs no ``__len__`` (the progress
bar then counts batches without a total). An iterator (a generator object) is exhausted
by one pass, so it can feed one epoch only; that is checked when ``fit`` starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def batch_count(loader) -> int | None:
    """The loader's number of batches, or None for one without ``__len__`` (a generator)."""
    try:
        return len(loader)
    except TypeError:
        return None


def check_loader(loader, name: str, epochs: int = 1) -> None:
    """Refuses what is no iterable of batches, one whose length says it has none, and an
    iterator given to a run of more than one epoch (it would be empty from epoch 2 on).

    Raises:
        TypeError: ``loader`` is None or not iterable (``name`` leads the message).
        ValueError: ``len(loader) == 0``, or ``loader`` is an iterator and ``epochs > 1``.
    """
    if loader is None or not isinstance(loader, Iterable) or isinstance(loader, (str, bytes)):
        raise TypeError(f"{name} must be an iterable of (x, y) batches (such as a "
                        f"minigrad.data.DataLoader or a list), got {type(loader).__name__}")
    if batch_count(loader) == 0:
        raise ValueError(f"{name} has no batches (its len() is 0: fewer samples than a batch "
                         "with drop_last, or an empty list)")
    if epochs > 1 and isinstance(loader, Iterator):
        raise ValueError(
            f"{name} is an iterator ({type(loader).__name__}), exhausted after one pass, but "
            f"fit(epochs={epochs}) may need {epochs} passes; pass a re-iterable (a list of "
            "batches, a DataLoader, an object whose __iter__ starts a new pass) or epochs=1")


def batch_pair(item, source: str, batch: int) -> tuple:
    """``item`` unpacked as the ``(x, y)`` pair a loader must yield.

    Raises:
        TypeError: naming ``source`` and the 1-based ``batch`` when ``item`` is no pair.
    """
    try:
        x, y = item
    except (TypeError, ValueError):
        size = f" of length {len(item)}" if isinstance(item, (tuple, list)) else ""
        raise TypeError(f"{source} must yield (x, y) pairs; batch {batch} is a "
                        f"{type(item).__name__}{size}") from None
    return x, y
