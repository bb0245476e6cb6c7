"""LRScheduler: the base class (``initial_lr``, the epoch-0 step, state dicts) and its helpers."""

from __future__ import annotations

import contextlib
import copy
import functools
import numbers
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from minigrad.checks import check_int
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.state_dict import plain

# torch's text, word for word, so that a search for it finds torch's explanation.
STEP_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
    "In PyTorch 1.1.0 and later, you should call them in the opposite order: "
    "`optimizer.step()` before `lr_scheduler.step()`.  Failure to do this "
    "will result in PyTorch skipping the first value of the learning rate schedule. "
    "See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)
STEP_OVERRIDDEN_WARNING = (
    "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
    "initialization. Please, make sure to call `optimizer.step()` before "
    "`lr_scheduler.step()`. See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)


def plain_tree(value: Any) -> Any:
    """Python scalars, lists and dicts from what a file may hand back (numpy scalars, arrays)."""
    if isinstance(value, dict):
        return {key: plain_tree(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim > 0):
        return [plain_tree(v) for v in value]
    return plain(value)


def per_group(owner: str, name: str, value: Any, optimizer: Optimizer) -> list:
    """``value`` repeated for every parameter group, or ``value`` itself if it is one per group."""
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(
                f"{owner}: {name} has {len(value)} entries, the optimizer has {groups} "
                "parameter groups (give one per group, or a single number)"
            )
        return [plain(v) for v in value]
    return [plain(value)] * groups


def checked_optimizer(optimizer: Any, owner: str) -> Optimizer:
    """``optimizer``, or a ``TypeError`` if it is not a minigrad Optimizer."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{owner} expects a minigrad.optim.Optimizer, got {type(optimizer).__name__}"
        )
    return optimizer


class LRScheduler:
    """Base class: sets ``initial_lr``, takes the epoch-0 step, saves and loads state.

    Subclasses implement ``get_lr()``: the learning rates for epoch ``last_epoch``. A
    subclass with a closed form (the lr as a function of ``base_lrs`` and the epoch)
    implements ``_closed_form_lr()`` too: ``SequentialLR`` uses it when it hands over to
    the scheduler at a milestone, as torch does.

    Construction is all or nothing: a constructor that raises (a bad argument, a
    ``lr_lambda`` that fails or gives a negative lr) leaves every parameter group as it was.

    Attributes:
        optimizer: the optimizer whose ``param_groups[i]["lr"]`` this scheduler sets.
        base_lrs: each group's ``initial_lr``.
        last_epoch: index of the current epoch; 0 after construction, +1 per ``step()``.
    """

    # Attributes saved by state_dict besides the running state (the constructor arguments).
    _hyperparameters: tuple[str, ...] = ()
    _running_state: tuple[str, ...] = ("last_epoch", "base_lrs", "_last_lr")
    # True only during the constructor's step (torch's ``_is_initial``).
    _is_initial = False

    def __init__(self, optimizer: Optimizer):
        self.optimizer = checked_optimizer(optimizer, type(self).__name__)
        with restored_on_error(optimizer):
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
            self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
            self.last_epoch = -1
            self._initial_step()
        track_optimizer_steps(optimizer)

    def _initial_step(self) -> None:
        """The constructor's step to epoch 0 (torch's ``_initial_step``)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rate of each group for epoch ``last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_lr")

    def step(self) -> None:
        """Ends an epoch: ``last_epoch += 1`` and sets every group's lr for the new epoch.

        Call it once per epoch, after that epoch's ``optimizer.step()`` calls. Warns
        (``UserWarning``, torch's text) at the first call if the optimizer has not stepped yet.
        """
        self._warn_about_step_order()
        self._advance(self.last_epoch + 1, self.get_lr)
        self._step_count += 1

    def _warn_about_step_order(self) -> None:
        if self._step_count != 1:
            return
        if not getattr(self.optimizer.step, "_tracked_by_scheduler", False):
            warnings.warn(STEP_OVERRIDDEN_WARNING, UserWarning, stacklevel=3)
        elif not getattr(self.optimizer, "_step_called", False):
            warnings.warn(STEP_ORDER_WARNING, UserWarning, stacklevel=3)

    def _jump_to(self, epoch: int) -> None:
        """Sets ``last_epoch = epoch`` and its lrs, by the closed form where there is one.

        torch's ``_update_lr(epoch)``: ``SequentialLR`` calls it with 0 at a milestone.
        """
        closed_form = getattr(self, "_closed_form_lr", None)
        self._advance(epoch, closed_form or self.get_lr)

    def _advance(self, epoch: int, compute) -> None:
        """Moves to ``epoch`` and writes the lrs ``compute()`` gives, or changes nothing."""
        previous = self.last_epoch
        self.last_epoch = epoch
        try:
            lrs = self._apply(compute())
        except BaseException:
            self.last_epoch = previous
            raise
        self._last_lr = lrs

    def _apply(self, lrs: Sequence) -> list[float]:
        """Checks every lr first, then writes each group's; returns the lrs written.

        A value that is not a number >= 0 is a ``ValueError`` naming the group and the
        epoch, and nothing is written.
        """
        owner = type(self).__name__
        lrs = [plain(lr) for lr in lrs]
        for index, lr in enumerate(lrs):
            if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr >= 0:
                raise ValueError(
                    f"{owner}: the lr of parameter group {index} at epoch {self.last_epoch} "
                    f"would be {lr!r}; a learning rate must be a number >= 0"
                )
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        return lrs

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group as set by the most recent step (or the constructor)."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def _check_hyperparameters(self) -> None:
        """Subclasses check their arguments here (``minigrad.checks``: ``ValueError`` out of
        range, ``TypeError`` of the wrong type)."""

    def _validate(self) -> None:
        """Raises ``ValueError`` / ``TypeError`` for a bad attribute (used after loading too)."""
        self._check_hyperparameters()
        owner = type(self).__name__
        groups = len(self.optimizer.param_groups)
        check_int(self.last_epoch, f"{owner}: last_epoch", minimum=0)
        for name in ("base_lrs", "_last_lr"):
            if name in self._running_state and len(getattr(self, name)) != groups:
                raise ValueError(
                    f"{owner}: {name} has {len(getattr(self, name))} entries, "
                    f"the optimizer has {groups} parameter groups"
                )

    def _state_names(self) -> tuple[str, ...]:
        return self._running_state + self._hyperparameters

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state as plain data (numbers, strings, lists, dicts, None).

        Everything but the optimizer (and user functions: see ``LambdaLR``).
        """
        return {name: copy.deepcopy(getattr(self, name)) for name in self._state_names()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores a state saved by ``state_dict``; does not touch the optimizer's lrs.

        Raises ``ValueError`` naming missing or unexpected keys or a bad value (``TypeError``
        for a value of the wrong type); on error nothing is changed.
        """
        owner = type(self).__name__
        if not isinstance(state_dict, dict):
            raise ValueError(f"{owner}.load_state_dict: expected a dict (from state_dict()), "
                             f"got {type(state_dict).__name__}")
        names = self._state_names()
        missing = [k for k in names if k not in state_dict]
        unexpected = [k for k in state_dict if k not in names]
        if missing or unexpected:
            raise ValueError(
                f"{owner}.load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        previous = {name: getattr(self, name) for name in names}
        self.__dict__.update({k: plain_tree(v) for k, v in state_dict.items()})
        try:
            self._validate()
        except (ValueError, TypeError):
            self.__dict__.update(previous)
            raise
        # torch saves its step counter; it equals last_epoch + 1 in a run that only steps.
        self._step_count = self.last_epoch + 1

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hyperparameters)
        return f"{type(self).__name__}({settings}, last_epoch={self.last_epoch})"


@contextlib.contextmanager
def restored_on_error(optimizer: Optimizer) -> Iterator[None]:
    """Context manager: if the block raises, every parameter group is put back as it was."""
    saved = [dict(group) for group in optimizer.param_groups]
    try:
        yield
    except BaseException:
        for group, before in zip(optimizer.param_groups, saved, strict=True):
            group.clear()
            group.update(before)
        raise


class _StepTracker:
    """``optimizer.step`` once a scheduler watches it: records the call, then steps.

    A callable object rather than a closure, so that ``copy.deepcopy(optimizer)`` gives a
    copy whose ``step`` steps the copy.
    """

    _tracked_by_scheduler = True

    def __init__(self, optimizer: Optimizer, step):
        self.optimizer = optimizer
        # A bound method is kept as its function, called with the optimizer it belongs to.
        self.function = getattr(step, "__func__", None)
        self.step = step if self.function is None else None
        functools.update_wrapper(self, self.function or step)

    def __call__(self, *args, **kwargs):
        self.optimizer._step_called = True
        if self.function is None:  # a step set on the instance: call it as it is
            return self.step(*args, **kwargs)
        return self.function(self.optimizer, *args, **kwargs)


def track_optimizer_steps(optimizer: Optimizer) -> None:
    """Wraps ``optimizer.step`` (once) so that it records a call, as torch's schedulers do.

    ``_tracked_by_scheduler`` marks the wrapper, so a ``step`` replaced later is noticed
    (torch's "overridden" warning).
    """
    if not getattr(optimizer.step, "_tracked_by_scheduler", False):
        optimizer.step = _StepTracker(optimizer, optimizer.step)
