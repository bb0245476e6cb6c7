"""ReduceLROnPlateau: lower the lr when a monitored metric stops improving."""

from __future__ import annotations

import math
from collections.abc import Sequence

from minigrad.checks import check_choice, check_int, check_number
from minigrad.optim.lr_scheduler.base import LRScheduler, checked_optimizer
from minigrad.optim.optimizer import Optimizer


class ReduceLROnPlateau(LRScheduler):
    """Multiplies the lr by ``factor`` when a metric has stopped improving; torch's rules.

    Call ``step(metric)`` once per epoch with the monitored value (e.g. validation loss).
    Each call:

    1. The epoch *improves* if ``metric`` beats ``best`` by more than the threshold:
       ``metric < best * (1 - threshold)`` (mode "min", threshold_mode "rel"),
       ``metric < best - threshold`` ("min", "abs"), ``metric > best * (1 + threshold)``
       ("max", "rel") or ``metric > best + threshold`` ("max", "abs"). Equal values and NaN
       never improve; the first call always does (``best`` starts at +inf or -inf). On
       improvement ``best = metric`` and ``num_bad_epochs = 0``, else ``num_bad_epochs += 1``.
    2. During cooldown (``cooldown`` calls after a reduction) ``num_bad_epochs`` is reset to 0.
    3. If ``num_bad_epochs > patience``, each group's lr becomes ``max(lr * factor, min_lr)``
       (skipped for a group when that lowers it by no more than ``eps``), cooldown starts
       and ``num_bad_epochs = 0``.

    So ``patience`` counts the non-improving epochs that are tolerated: the lr drops at the
    call for the ``(patience + 1)``-th consecutive epoch without improvement. With
    ``patience=2`` and losses ``1.0, 1.0, 1.0, 1.0`` the lr drops at the 4th call.

    Args:
        optimizer: the optimizer to schedule.
        mode: "min" (the metric should decrease) or "max" (it should increase).
        factor: the lr is multiplied by this, in (0, 1).
        patience: non-improving epochs tolerated before a reduction (integer >= 0).
        threshold: smallest improvement that counts, relative or absolute (>= 0).
        threshold_mode: "rel" or "abs" (see above).
        cooldown: epochs after a reduction during which bad epochs are not counted
            (integer >= 0).
        min_lr: lower bound on the lr: one number for all groups, or a list, one per group.
        eps: reductions smaller than this are skipped (>= 0).

    Attributes:
        best: best metric seen so far. num_bad_epochs: consecutive non-improving epochs
        counted so far. cooldown_counter: cooldown epochs left. last_epoch: calls so far.
    """

    _hyperparameters = ("mode", "factor", "patience", "threshold", "threshold_mode",
                        "cooldown", "min_lrs", "default_min_lr", "eps")
    _running_state = ("last_epoch", "_last_lr", "best", "num_bad_epochs", "cooldown_counter")

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0.0,
        eps: float = 1e-8,
    ):
        self.optimizer = checked_optimizer(optimizer, "ReduceLROnPlateau")
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(
                    f"ReduceLROnPlateau: min_lr has {len(min_lr)} entries, the optimizer has "
                    f"{groups} parameter groups (give one per group, or a single number)"
                )
            self.default_min_lr, self.min_lrs = None, list(min_lr)
        else:
            self.default_min_lr, self.min_lrs = min_lr, [min_lr] * groups
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self._check_hyperparameters()
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = self._current_lrs()

    def _check_hyperparameters(self) -> None:
        owner = "ReduceLROnPlateau"
        check_choice(self.mode, f"{owner}: mode", ("min", "max"))
        check_choice(self.threshold_mode, f"{owner}: threshold_mode", ("rel", "abs"))
        check_number(self.factor, f"{owner}: factor", above=0, below=1)
        check_int(self.patience, f"{owner}: patience", minimum=0)
        check_int(self.cooldown, f"{owner}: cooldown", minimum=0)
        check_number(self.threshold, f"{owner}: threshold", minimum=0)
        check_number(self.eps, f"{owner}: eps", minimum=0)
        for index, min_lr in enumerate(self.min_lrs):
            check_number(min_lr, f"{owner}: min_lr[{index}]", minimum=0)

    @property
    def in_cooldown(self) -> bool:
        """True while bad epochs are not being counted after a reduction."""
        return self.cooldown_counter > 0

    def is_better(self, metric: float, best: float) -> bool:
        """Whether ``metric`` counts as an improvement over ``best`` (see the class docstring)."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return metric < best * (1.0 - self.threshold)
        if self.mode == "min":
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (self.threshold + 1.0)
        return metric > best + self.threshold

    def step(self, metrics: float) -> None:
        """Ends an epoch whose monitored value is ``metrics`` (see the class docstring)."""
        current = _metric_value(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"ReduceLROnPlateau: the optimizer now has {len(groups)} parameter groups "
                    f"but min_lr has {len(self.min_lrs)} entries; set min_lrs to match"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr


def _metric_value(metrics) -> float:
    """The monitored value as a float: a number or a one-element array (a str is refused)."""
    try:
        if isinstance(metrics, (str, bytes)):
            raise TypeError
        return float(metrics)
    except (TypeError, ValueError):
        raise ValueError(
            "ReduceLROnPlateau.step: metrics must be a number (the monitored value, e.g. the "
            f"validation loss), got {metrics!r}"
        ) from None
