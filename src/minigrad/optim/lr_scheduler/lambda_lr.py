"""Schedules given by user functions of the epoch index, and how their state is saved.

As in torch, a plain function or lambda is not saved: pass the same one when resuming.
A callable *object* (an instance with ``__call__``) has its ``__dict__`` saved and
restored, so a stateful schedule object survives a resume.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable, Sequence
from typing import Any

from minigrad.optim.lr_scheduler.base import LRScheduler, checked_optimizer
from minigrad.optim.optimizer import Optimizer


def function_state(function: Callable | None) -> dict | None:
    """What torch saves for a user function: None for a function, else its ``__dict__``."""
    if function is None or isinstance(function, types.FunctionType):
        return None
    attributes = getattr(function, "__dict__", None)
    return None if attributes is None else copy.deepcopy(attributes)


def checked_function_states(owner: str, name: str, saved: Any, count: int) -> list:
    """``saved`` as a list of ``count`` entries, each None or a dict, else a ``ValueError``."""
    if not isinstance(saved, (list, tuple)) or len(saved) != count:
        raise ValueError(f"{owner}.load_state_dict: {name} must be a list of {count} entries "
                         f"(None or a dict), got {saved!r}")
    for index, entry in enumerate(saved):
        if entry is not None and not isinstance(entry, dict):
            raise ValueError(f"{owner}.load_state_dict: {name}[{index}] must be None or a dict, "
                             f"got {type(entry).__name__}")
    return list(saved)


def restore_function_state(function: Callable | None, saved: dict | None) -> None:
    """Updates ``function.__dict__`` with a saved entry (nothing for None), as torch does."""
    if saved is not None and function is not None:
        vars(function).update(copy.deepcopy(saved))


class _FunctionSchedule(LRScheduler):
    """Shared by LambdaLR and MultiplicativeLR: one function per group, saved as torch does."""

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]]):
        owner = type(self).__name__
        groups = len(checked_optimizer(optimizer, owner).param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(lambdas) != groups:
            raise ValueError(
                f"{owner}: got {len(lambdas)} lr_lambdas for {groups} parameter groups"
            )
        for index, function in enumerate(lambdas):
            if not callable(function):
                raise ValueError(
                    f"{owner}: lr_lambda {index} must be callable, got {type(function).__name__}"
                )
        self.lr_lambdas = lambdas
        super().__init__(optimizer)

    def state_dict(self) -> dict[str, Any]:
        """The running state, plus ``lr_lambdas``: None per function, ``__dict__`` per object."""
        return {**super().state_dict(),
                "lr_lambdas": [function_state(f) for f in self.lr_lambdas]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the running state and any callable object's ``__dict__``.

        A state dict without ``lr_lambdas`` (saved by an older minigrad) is accepted.
        """
        owner = type(self).__name__
        if not isinstance(state_dict, dict):
            super().load_state_dict(state_dict)  # raises, naming what came
        saved = state_dict.get("lr_lambdas", [None] * len(self.lr_lambdas))
        saved = checked_function_states(owner, "lr_lambdas", saved, len(self.lr_lambdas))
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "lr_lambdas"})
        for function, entry in zip(self.lr_lambdas, saved, strict=True):
            restore_function_state(function, entry)


class LambdaLR(_FunctionSchedule):
    """Sets the lr of epoch ``t`` to ``initial_lr * lr_lambda(t)``.

    Args:
        optimizer: the optimizer to schedule.
        lr_lambda: a function of the epoch index, or a list with one per parameter group.
            Functions are not part of ``state_dict`` (pass the same ones when resuming);
            a callable object's ``__dict__`` is.
    """

    def get_lr(self) -> list[float]:
        return [
            base_lr * function(self.last_epoch)
            for function, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)
        ]


class MultiplicativeLR(_FunctionSchedule):
    """Multiplies the lr by ``lr_lambda(t)`` at every step ``t >= 1``; epoch 0 keeps the lr.

    With ``lr_lambda = lambda t: 0.9`` this is ``ExponentialLR(gamma=0.9)``. As torch's, it
    multiplies the current ``group["lr"]``, so it composes with other schedulers.

    Args:
        optimizer: the optimizer to schedule.
        lr_lambda: a function of the epoch index giving the factor, or a list with one
            per parameter group (saved as for ``LambdaLR``).
    """

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [
            group["lr"] * function(self.last_epoch)
            for function, group in zip(self.lr_lambdas, self.optimizer.param_groups, strict=True)
        ]
