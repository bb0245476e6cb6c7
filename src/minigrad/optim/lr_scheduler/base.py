"""LRScheduler: the base class (``initial_lr``, the epoch-0 step, state dicts) and its helpers."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from minigrad.optim.optimizer import Optimizer, plain


def check_int(owner: str, name: str, value: Any, low: int) -> None:
    """Raises ``ValueError`` unless ``value`` is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")


def plain_tree(value: Any) -> Any:
    """Python scalars and lists from what a file may hand back (numpy scalars, 1-d arrays)."""
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim > 0):
        return [plain_tree(v) for v in value]
    return plain(value)


class LRScheduler:
    """Base class: sets ``initial_lr``, takes the epoch-0 step, saves and loads state.

    Subclasses implement ``get_lr()``: the learning rates for epoch ``last_epoch``.

    Attributes:
        optimizer: the optimizer whose ``param_groups[i]["lr"]`` this scheduler sets.
        base_lrs: each group's ``initial_lr``.
        last_epoch: index of the current epoch; 0 after construction, +1 per ``step()``.
    """

    # Attributes saved by state_dict besides the running state (the constructor arguments).
    _hyperparameters: tuple[str, ...] = ()
    _running_state: tuple[str, ...] = ("last_epoch", "base_lrs", "_last_lr")

    def __init__(self, optimizer: Optimizer):
        self.optimizer = checked_optimizer(optimizer, type(self).__name__)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each group for epoch ``last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_lr")

    def step(self) -> None:
        """Ends an epoch: ``last_epoch += 1`` and sets every group's lr for the new epoch.

        Call it once per epoch, after that epoch's ``optimizer.step()`` calls.
        """
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group as set by the most recent step (or the constructor)."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def _check_hyperparameters(self) -> None:
        """Subclasses raise ``ValueError`` here for out-of-range constructor arguments."""

    def _validate(self) -> None:
        """Raises ``ValueError`` if an attribute is out of range (used after loading too)."""
        self._check_hyperparameters()
        owner = type(self).__name__
        groups = len(self.optimizer.param_groups)
        check_int(owner, "last_epoch", self.last_epoch, 0)
        for name in ("base_lrs", "_last_lr"):
            if name in self._running_state and len(getattr(self, name)) != groups:
                raise ValueError(
                    f"{owner}: {name} has {len(getattr(self, name))} entries, "
                    f"the optimizer has {groups} parameter groups"
                )

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state as plain data (numbers, strings, lists, None).

        Everything but the optimizer (and, for ``LambdaLR``, the functions).
        """
        names = self._running_state + self._hyperparameters
        return {name: _copy(getattr(self, name)) for name in names}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores a state saved by ``state_dict``; does not touch the optimizer's lrs.

        Raises ``ValueError`` naming missing or unexpected keys or a bad value; on error
        nothing is changed.
        """
        owner = type(self).__name__
        names = self._running_state + self._hyperparameters
        missing = [k for k in names if k not in state_dict]
        unexpected = [k for k in state_dict if k not in names]
        if missing or unexpected:
            raise ValueError(
                f"{owner}.load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        previous = {name: getattr(self, name) for name in names}
        self.__dict__.update({name: plain_tree(state_dict[name]) for name in names})
        try:
            self._validate()
        except ValueError:
            self.__dict__.update(previous)
            raise

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hyperparameters)
        return f"{type(self).__name__}({settings}, last_epoch={self.last_epoch})"


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def checked_optimizer(optimizer: Any, owner: str) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{owner} expects a minigrad.optim.Optimizer, got {type(optimizer).__name__}"
        )
    return optimizer


