"""Schedulers made of schedulers: one after another (SequentialLR) or all at once (Chained).

The usual recipe, a linear warm-up into a cosine decay::

    warmup = LinearLR(optimizer, start_factor=0.1, total_iters=5)
    cosine = CosineAnnealingLR(optimizer, T_max=95)
    scheduler = SequentialLR(optimizer, [warmup, cosine], milestones=[5])

Their state dicts hold the children's, and loading is all or nothing across children.
"""

from __future__ import annotations

import contextlib
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from typing import Any

from minigrad.checks import check_int
from minigrad.optim.lr_scheduler.base import (
    LRScheduler,
    checked_optimizer,
    plain_tree,
    restored_on_error,
    track_optimizer_steps,
)
from minigrad.optim.lr_scheduler.plateau import ReduceLROnPlateau
from minigrad.optim.optimizer import Optimizer


def _checked_children(owner: str, schedulers: Any, optimizer: Optimizer | None) -> list:
    """The schedulers as a list, all stepping ``optimizer`` (default: the first one's)."""
    if isinstance(schedulers, LRScheduler) or not isinstance(schedulers, Sequence):
        raise TypeError(f"{owner}: schedulers must be a list of schedulers, "
                        f"got {type(schedulers).__name__}")
    if not schedulers:
        raise ValueError(f"{owner} expects at least one scheduler, got none")
    for index, scheduler in enumerate(schedulers):
        if not isinstance(scheduler, LRScheduler):
            raise TypeError(f"{owner}: schedulers[{index}] must be a minigrad scheduler, "
                            f"got {type(scheduler).__name__}")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{owner} does not support ReduceLROnPlateau (schedulers[{index}]): "
                             "its step needs a metric")
    optimizer = schedulers[0].optimizer if optimizer is None else optimizer
    for index, scheduler in enumerate(schedulers):
        if scheduler.optimizer is not optimizer:
            raise ValueError(f"{owner}: schedulers[{index}] ({type(scheduler).__name__}) steps "
                             "another optimizer; all must step the same one")
    return list(schedulers)


def _with_descendants(schedulers: list) -> list:
    """The schedulers and, for composite ones, their children, recursively."""
    found = []
    for scheduler in schedulers:
        found.append(scheduler)
        found += _with_descendants(getattr(scheduler, "_schedulers", []))
    return found


@contextlib.contextmanager
def _children_restored_on_error(schedulers: list, optimizer: Optimizer) -> Iterator[None]:
    """If the block raises, the schedulers' attributes (nested ones too) and the groups are
    put back."""
    everyone = _with_descendants(schedulers)
    saved = [dict(vars(scheduler)) for scheduler in everyone]
    with restored_on_error(optimizer):
        try:
            yield
        except BaseException:
            for scheduler, attributes in zip(everyone, saved, strict=True):
                vars(scheduler).clear()
                vars(scheduler).update(attributes)
            raise


class _Composite(LRScheduler):
    """Shared by SequentialLR and ChainedScheduler: children, their state, all-or-nothing."""

    _schedulers: list
    _own_state: tuple[str, ...] = ()

    def get_lr(self) -> list[float]:
        raise NotImplementedError(f"{type(self).__name__} has no get_lr of its own; "
                                  "use get_last_lr()")

    def state_dict(self) -> dict[str, Any]:
        """Its own state, and each child's under ``_schedulers`` (torch's key)."""
        own = {name: plain_tree(getattr(self, name)) for name in self._own_state}
        return {**own, "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores its own state and every child's; on error nothing is changed."""
        owner = type(self).__name__
        if not isinstance(state_dict, dict):
            raise ValueError(f"{owner}.load_state_dict: expected a dict (from state_dict()), "
                             f"got {type(state_dict).__name__}")
        names = (*self._own_state, "_schedulers")
        missing = [k for k in names if k not in state_dict]
        unexpected = [k for k in state_dict if k not in names]
        if missing or unexpected:
            raise ValueError(
                f"{owner}.load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        children = state_dict["_schedulers"]
        if not isinstance(children, (list, tuple)) or len(children) != len(self._schedulers):
            raise ValueError(f"{owner}.load_state_dict: _schedulers must hold "
                             f"{len(self._schedulers)} state dicts, got {children!r}")
        previous = {name: getattr(self, name) for name in self._own_state}
        try:
            with _children_restored_on_error(self._schedulers, self.optimizer):
                self.__dict__.update({k: plain_tree(state_dict[k]) for k in self._own_state})
                self._validate()
                for scheduler, child_state in zip(self._schedulers, children, strict=True):
                    scheduler.load_state_dict(child_state)
        except BaseException:
            self.__dict__.update(previous)
            raise

    def _validate(self) -> None:
        groups = len(self.optimizer.param_groups)
        if len(self._last_lr) != groups:
            raise ValueError(f"{type(self).__name__}: _last_lr has {len(self._last_lr)} entries, "
                             f"the optimizer has {groups} parameter groups")

    def __repr__(self) -> str:
        children = ", ".join(repr(s) for s in self._schedulers)
        return f"{type(self).__name__}([{children}])"


class SequentialLR(_Composite):
    """Runs ``schedulers[i]`` from epoch ``milestones[i - 1]`` to ``milestones[i]``.

    At each milestone the next scheduler restarts from its own epoch 0: its closed-form
    lr at 0 where it has one (the lr from ``initial_lr``; LinearLR gives
    ``start_factor * initial_lr``), else its ``get_lr`` at 0, exactly as torch does.
    Children must be plain schedulers (no ``ReduceLROnPlateau``, no composite).

    Args:
        optimizer: the optimizer all the schedulers step.
        schedulers: the schedulers, in order (at least one).
        milestones: the epochs at which to switch, strictly increasing integers >= 1,
            one fewer than the schedulers.
    """

    _own_state = ("last_epoch", "_milestones", "_last_lr")

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int]):
        owner = "SequentialLR"
        self.optimizer = checked_optimizer(optimizer, owner)
        self._schedulers = _checked_children(owner, schedulers, optimizer)
        for index, scheduler in enumerate(self._schedulers):
            if isinstance(scheduler, _Composite):
                raise ValueError(f"{owner}: schedulers[{index}] is a {type(scheduler).__name__}; "
                                 "nest plain schedulers only")
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
            raise ValueError(f"{owner}: milestones must be a list of epochs, got {milestones!r}")
        if len(milestones) != len(self._schedulers) - 1:
            raise ValueError(f"{owner}: {len(self._schedulers)} schedulers need "
                             f"{len(self._schedulers) - 1} milestones, got {len(milestones)}")
        self._milestones = list(milestones)
        self.last_epoch = 0
        self._check_milestones()
        with _children_restored_on_error(self._schedulers, optimizer):
            # Undo what the children's constructors did, then start the first one again.
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"]
            for scheduler in self._schedulers:
                scheduler.last_epoch -= 1
            first = self._schedulers[bisect_right(self._milestones, 0)]
            first._initial_step()
        self._last_lr = first.get_last_lr()
        track_optimizer_steps(optimizer)

    def _check_milestones(self) -> None:
        previous = 0
        for index, milestone in enumerate(self._milestones):
            check_int(milestone, f"SequentialLR: milestones[{index}]", minimum=previous + 1)
            previous = milestone

    def _validate(self) -> None:
        super()._validate()
        check_int(self.last_epoch, "SequentialLR: last_epoch", minimum=0)
        if len(self._milestones) != len(self._schedulers) - 1:
            raise ValueError(f"SequentialLR: _milestones has {len(self._milestones)} entries "
                             f"for {len(self._schedulers)} schedulers")
        self._check_milestones()

    def step(self) -> None:
        """Advances one epoch: the current child steps, or the next one starts at a milestone."""
        index = bisect_right(self._milestones, self.last_epoch + 1)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch + 1:
            scheduler._jump_to(0)
        else:
            scheduler.step()
        self.last_epoch += 1
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """Steps every scheduler at each ``step()``, in order: their effects multiply.

    For example ``ConstantLR(factor=0.1, total_iters=2)`` chained with
    ``ExponentialLR(gamma=0.9)`` gives ``0.1 * 0.9**t`` for t < 2, then ``0.9**t``.
    Schedulers whose ``get_lr`` reads the current lr (all but LambdaLR, CyclicLR,
    OneCycleLR, CosineAnnealingWarmRestarts) chain this way.

    Args:
        schedulers: the schedulers (at least one), all on the same optimizer.
        optimizer: that optimizer; by default the first scheduler's.
    """

    _own_state = ("_last_lr",)

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None):
        owner = "ChainedScheduler"
        if optimizer is not None:
            checked_optimizer(optimizer, owner)
        self._schedulers = _checked_children(owner, schedulers, optimizer)
        self.optimizer = self._schedulers[0].optimizer
        self._last_lr = self._current_lrs()

    def step(self) -> None:
        """Steps every scheduler in order; if one fails, none has moved."""
        with _children_restored_on_error(self._schedulers, self.optimizer):
            for scheduler in self._schedulers:
                scheduler.step()
        self._last_lr = self._current_lrs()
