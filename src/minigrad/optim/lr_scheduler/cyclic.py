"""CyclicLR (triangular waves, stepped per batch) and the momentum cycling it shares.

The cyclic schedules (this one and OneCycleLR) by default move the momentum against the
lr: ``group["momentum"]`` for SGD and RMSprop, ``betas[0]`` for Adam and AdamW. As
torch's, they write ``max_momentum`` and ``base_momentum`` into the parameter groups,
where the optimizer's ``state_dict`` saves them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from minigrad.checks import check_bool, check_choice, check_number
from minigrad.optim.lr_scheduler.base import (
    LRScheduler,
    checked_optimizer,
    per_group,
    restored_on_error,
)
from minigrad.optim.lr_scheduler.lambda_lr import (
    checked_function_states,
    function_state,
    restore_function_state,
)
from minigrad.optim.optimizer import Optimizer


class MomentumCycle(LRScheduler):
    """Base of the schedulers that move momentum (or beta1) opposite to the lr."""

    cycle_momentum: bool
    use_beta1: bool

    def _momentum_bounds(self, optimizer: Optimizer, base: Any, top: Any) -> tuple[list, list]:
        """Checks ``cycle_momentum`` and the bounds; returns them one per group."""
        owner = type(self).__name__
        check_bool(self.cycle_momentum, f"{owner}: cycle_momentum")
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum and not self.use_beta1 and "momentum" not in optimizer.defaults:
            raise ValueError(
                f"{owner}: cycle_momentum=True needs an optimizer with momentum or betas; "
                f"{type(optimizer).__name__} has neither (pass cycle_momentum=False)"
            )
        return per_group(owner, "base_momentum", base, optimizer), per_group(
            owner, "max_momentum", top, optimizer)

    def _check_momentums(self, bases: Sequence, tops: Sequence) -> None:
        owner = type(self).__name__
        check_bool(self.cycle_momentum, f"{owner}: cycle_momentum")
        check_bool(self.use_beta1, f"{owner}: use_beta1")
        for name, values in (("base_momentum", bases), ("max_momentum", tops)):
            for index, value in enumerate(values):
                check_number(value, f"{owner}: {name}[{index}]", minimum=0, **self._momentum_top())

    def _momentum_top(self) -> dict[str, float]:
        """The upper bound of a momentum: 1 at most; beta1 below 1, as Adam requires."""
        return {"below": 1} if self.use_beta1 else {"maximum": 1}

    def _write_momentum_bounds(self, bases: Sequence, tops: Sequence) -> None:
        """Starts every group at its ``max_momentum`` and records both bounds in it."""
        if not self.cycle_momentum:
            return
        for group, base, top in zip(self.optimizer.param_groups, bases, tops, strict=True):
            self._set_momentum(group, top)
            group["max_momentum"] = top
            group["base_momentum"] = base

    def _set_momentum(self, group: dict, momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def _momentums(self) -> list[float]:
        raise NotImplementedError

    def _apply(self, lrs: Sequence) -> list[float]:
        """As ``LRScheduler._apply``, and the momenta: every value is checked before any write."""
        momentums = self._momentums() if self.cycle_momentum else []
        owner, name = type(self).__name__, "beta1" if self.use_beta1 else "momentum"
        for index, momentum in enumerate(momentums):
            # A custom scale_fn can push the momentum out of range; Adam needs beta1 < 1.
            check_number(momentum, f"{owner} (parameter group {index}, step {self.last_epoch}): "
                         f"{name}", minimum=0, **self._momentum_top())
        lrs = super()._apply(lrs)
        for group, momentum in zip(self.optimizer.param_groups, momentums):
            self._set_momentum(group, momentum)
        return lrs


class CyclicLR(MomentumCycle):
    """Cycles the lr between ``base_lr`` and ``max_lr`` (Smith's cyclical learning rates).

    A cycle is ``step_size_up`` steps up, then ``step_size_down`` steps down; with ``x``
    the position in the cycle, the lr is ``base_lr + (max_lr - base_lr) * height(x) *
    scale``, where ``scale`` is 1 ("triangular"), halves every cycle ("triangular2") or is
    ``gamma**step`` ("exp_range"), or is ``scale_fn(cycle)`` / ``scale_fn(step)``
    (``scale_mode`` "cycle" / "iterations"). Momentum moves the opposite way, from
    ``max_momentum`` down to ``base_momentum``. Step it after every batch.

    Args:
        optimizer: the optimizer to schedule (the groups' lr is set to ``base_lr``).
        base_lr: lower bound, one number or one per group.
        max_lr: upper bound, one number or one per group.
        step_size_up: steps in the rising half (> 0, default 2000).
        step_size_down: steps in the falling half (>= 0; default ``step_size_up``).
        mode: "triangular", "triangular2" or "exp_range" (ignored with ``scale_fn``).
        gamma: the base of "exp_range" (>= 0).
        scale_fn: custom scale, a function of the cycle (from 1) or of the step.
        scale_mode: "cycle" or "iterations", for ``scale_fn``.
        cycle_momentum: cycle momentum / beta1 too (default True).
        base_momentum, max_momentum: the momentum bounds, one number or one per group.
    """

    _hyperparameters = ("max_lrs", "total_size", "step_ratio", "mode", "gamma", "scale_mode",
                        "cycle_momentum", "use_beta1", "base_momentums", "max_momentums")

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float | Sequence[float],
        max_lr: float | Sequence[float],
        step_size_up: float = 2000,
        step_size_down: float | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.8,
        max_momentum: float | Sequence[float] = 0.9,
    ):
        owner = "CyclicLR"
        checked_optimizer(optimizer, owner)
        base_lrs = per_group(owner, "base_lr", base_lr, optimizer)
        for index, lr in enumerate(base_lrs):
            check_number(lr, f"{owner}: base_lr[{index}]", minimum=0)
        self.max_lrs = per_group(owner, "max_lr", max_lr, optimizer)
        self._set_cycle_size(step_size_up, step_size_down)
        if scale_fn is not None and not callable(scale_fn):
            raise ValueError(f"{owner}: scale_fn must be callable or None, "
                             f"got {type(scale_fn).__name__}")
        self._scale_fn_custom = scale_fn
        self.mode, self.gamma, self.scale_mode = mode, gamma, scale_mode
        if scale_fn is None:
            check_choice(mode, f"{owner}: mode", ("triangular", "triangular2", "exp_range"))
            self.scale_mode = "iterations" if mode == "exp_range" else "cycle"
        self.cycle_momentum = cycle_momentum
        bounds = self._momentum_bounds(optimizer, base_momentum, max_momentum)
        self.base_momentums, self.max_momentums = bounds
        self._check_hyperparameters()
        self.optimizer = optimizer
        with restored_on_error(optimizer):
            for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = lr
            self._write_momentum_bounds(self.base_momentums, self.max_momentums)
            # As torch: the first step uses the groups' initial_lr, later ones base_lr.
            super().__init__(optimizer)
        self.base_lrs = base_lrs

    def _set_cycle_size(self, up: Any, down: Any) -> None:
        check_number(up, "CyclicLR: step_size_up", above=0)
        if down is not None:
            check_number(down, "CyclicLR: step_size_down", minimum=0)
        up = float(up)
        down = float(down) if down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size

    def _check_hyperparameters(self) -> None:
        owner = "CyclicLR"
        for index, lr in enumerate(self.max_lrs):
            check_number(lr, f"{owner}: max_lr[{index}]", minimum=0)
        check_number(self.total_size, f"{owner}: total_size", minimum=0)
        check_number(self.step_ratio, f"{owner}: step_ratio", minimum=0, maximum=1)
        if self.total_size == 0 or self.step_ratio == 0:
            raise ValueError(f"{owner}: the rising half of the cycle must be > 0 steps")
        check_number(self.gamma, f"{owner}: gamma", minimum=0)
        check_choice(self.scale_mode, f"{owner}: scale_mode", ("cycle", "iterations"))
        self._check_momentums(self.base_momentums, self.max_momentums)

    def scale_fn(self, x: float) -> float:
        """The amplitude scale at cycle (or step) ``x``: ``scale_fn`` if given, else ``mode``'s."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def _height(self) -> tuple[float, float]:
        """The position in the cycle as a height in [0, 1], and the argument of ``scale_fn``."""
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            height = x / self.step_ratio
        else:
            height = (x - 1) / (self.step_ratio - 1)
        return height, cycle if self.scale_mode == "cycle" else self.last_epoch

    def get_lr(self) -> list[float]:
        height, where = self._height()
        return [
            base_lr + (max_lr - base_lr) * height * self.scale_fn(where)
            for base_lr, max_lr in zip(self.base_lrs, self.max_lrs, strict=True)
        ]

    def _momentums(self) -> list[float]:
        height, where = self._height()
        return [
            top - (top - base) * height * self.scale_fn(where)
            for base, top in zip(self.base_momentums, self.max_momentums, strict=True)
        ]

    def state_dict(self) -> dict[str, Any]:
        """As ``LRScheduler.state_dict``, plus ``scale_fn``: None, or a callable object's state."""
        return {**super().state_dict(), "scale_fn": function_state(self._scale_fn_custom)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the state and a callable ``scale_fn`` object's ``__dict__``."""
        if not isinstance(state_dict, dict):
            super().load_state_dict(state_dict)  # raises, naming what came
        saved = checked_function_states("CyclicLR", "scale_fn",
                                        [state_dict.get("scale_fn")], 1)[0]
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "scale_fn"})
        restore_function_state(self._scale_fn_custom, saved)
