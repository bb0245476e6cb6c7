"""Learning-rate schedulers with torch's semantics, stepped once per epoch.

Every scheduler writes ``group["lr"]`` of its optimizer's parameter groups. Except for
``ReduceLROnPlateau``, the constructor records ``group["initial_lr"]`` (kept if already
there, as torch does), sets ``last_epoch = 0`` and sets the epoch-0 learning rates; each
``step()`` then advances ``last_epoch`` by one and sets that epoch's rates. The
recursive schedules (StepLR, ExponentialLR, CosineAnnealingLR, ...) update the current
``group["lr"]`` with torch's formulas, so they compose with outside changes exactly as
torch's do.

Resuming: build the optimizer and the scheduler as for a fresh run, then call
``optimizer.load_state_dict`` (which restores the lrs) and ``scheduler.load_state_dict``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad.optim.optimizer import Optimizer, check_number, plain


def _check_int(owner: str, name: str, value: Any, low: int) -> None:
    """Raises ``ValueError`` unless ``value`` is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")


def _plain_tree(value: Any) -> Any:
    """Python scalars and lists from what a file may hand back (numpy scalars, 1-d arrays)."""
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim > 0):
        return [_plain_tree(v) for v in value]
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
        self.optimizer = _checked_optimizer(optimizer, type(self).__name__)
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
        _check_int(owner, "last_epoch", self.last_epoch, 0)
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
        self.__dict__.update({name: _plain_tree(state_dict[name]) for name in names})
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


def _checked_optimizer(optimizer: Any, owner: str) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{owner} expects a minigrad.optim.Optimizer, got {type(optimizer).__name__}"
        )
    return optimizer


class StepLR(LRScheduler):
    """Multiplies the lr by ``gamma`` at every epoch that is a positive multiple of ``step_size``.

    With ``lr=1, step_size=3, gamma=0.1`` the lr of epochs 0..6 is 1, 1, 1, 0.1, 0.1, 0.1, 0.01.

    Args:
        optimizer: the optimizer to schedule.
        step_size: period of the decay, in epochs (integer >= 1).
        gamma: multiplicative factor (>= 0).
    """

    _hyperparameters = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = step_size
        self.gamma = gamma
        self._check_hyperparameters()
        super().__init__(optimizer)

    def _check_hyperparameters(self) -> None:
        _check_int("StepLR", "step_size", self.step_size, 1)
        check_number("StepLR", "gamma", self.gamma)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class MultiStepLR(LRScheduler):
    """Multiplies the lr by ``gamma`` at each epoch listed in ``milestones``.

    An epoch listed n times multiplies by ``gamma**n``. With ``milestones=[2, 4]`` and
    ``gamma=0.1`` the lr of epochs 0..4 is lr, lr, 0.1 lr, 0.1 lr, 0.01 lr.

    Args:
        optimizer: the optimizer to schedule.
        milestones: epoch indices (integers >= 0), in any order.
        gamma: multiplicative factor (>= 0).
    """

    _hyperparameters = ("milestones", "gamma")

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1):
        self.milestones = sorted(milestones)
        self.gamma = gamma
        self._check_hyperparameters()
        super().__init__(optimizer)

    def _check_hyperparameters(self) -> None:
        for index, milestone in enumerate(self.milestones):
            _check_int("MultiStepLR", f"milestones[{index}]", milestone, 0)
        check_number("MultiStepLR", "gamma", self.gamma)

    def get_lr(self) -> list[float]:
        times = self.milestones.count(self.last_epoch)
        if times == 0:
            return self._current_lrs()
        return [lr * self.gamma**times for lr in self._current_lrs()]


class ExponentialLR(LRScheduler):
    """Multiplies the lr by ``gamma`` at every step: epoch ``t`` has ``initial_lr * gamma**t``.

    Args:
        optimizer: the optimizer to schedule.
        gamma: multiplicative factor (>= 0).
    """

    _hyperparameters = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float):
        self.gamma = gamma
        self._check_hyperparameters()
        super().__init__(optimizer)

    def _check_hyperparameters(self) -> None:
        check_number("ExponentialLR", "gamma", self.gamma)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``initial_lr`` down to ``eta_min`` over ``T_max`` epochs.

    Epoch ``t`` approximates ``eta_min + (initial_lr - eta_min) * (1 + cos(pi t / T_max)) / 2``,
    computed with torch's recursive update of the current lr (so values equal torch's to
    the last bits). Past ``T_max`` the schedule does not stop: it rises back along the
    cosine, reaching ``initial_lr`` at ``2 T_max``, and so on.

    Args:
        optimizer: the optimizer to schedule.
        T_max: half period, in epochs (integer >= 1).
        eta_min: the lowest learning rate (>= 0).
    """

    _hyperparameters = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        self.T_max = T_max
        self.eta_min = eta_min
        self._check_hyperparameters()
        super().__init__(optimizer)

    def _check_hyperparameters(self) -> None:
        _check_int("CosineAnnealingLR", "T_max", self.T_max, 1)
        check_number("CosineAnnealingLR", "eta_min", self.eta_min)

    def get_lr(self) -> list[float]:
        t, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        if t == 0:
            return self._current_lrs()
        if (t - 1 - period) % (2 * period) == 0:
            # Leaving the minimum: the ratio below would divide by 1 + cos(pi) = 0.
            return [
                lr + (base_lr - eta_min) * (1 - math.cos(math.pi / period)) / 2
                for lr, base_lr in zip(self._current_lrs(), self.base_lrs, strict=True)
            ]
        return [
            (1 + math.cos(math.pi * t / period))
            / (1 + math.cos(math.pi * (t - 1) / period))
            * (lr - eta_min)
            + eta_min
            for lr in self._current_lrs()
        ]


class LinearLR(LRScheduler):
    """Scales the lr linearly from ``start_factor * initial_lr`` to ``end_factor * initial_lr``.

    Epoch 0 has ``start_factor * initial_lr``; the factor moves linearly to ``end_factor``,
    reached at epoch ``total_iters``, and stays there (a common warm-up).

    Args:
        optimizer: the optimizer to schedule.
        start_factor: factor at epoch 0, in (0, 1].
        end_factor: factor from epoch ``total_iters`` on, in [0, 1].
        total_iters: number of epochs of the ramp (integer >= 1).
    """

    _hyperparameters = ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5):
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        self._check_hyperparameters()
        super().__init__(optimizer)

    def _check_hyperparameters(self) -> None:
        check_number("LinearLR", "start_factor", self.start_factor, high=1.0)
        if self.start_factor == 0:
            raise ValueError("LinearLR: start_factor must be > 0 and <= 1.0, got 0")
        check_number("LinearLR", "end_factor", self.end_factor, high=1.0)
        _check_int("LinearLR", "total_iters", self.total_iters, 1)

    def get_lr(self) -> list[float]:
        t, start, end = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return [lr * start for lr in self._current_lrs()]
        if t > self.total_iters:
            return self._current_lrs()
        ratio = 1.0 + (end - start) / (self.total_iters * start + (t - 1) * (end - start))
        return [lr * ratio for lr in self._current_lrs()]


class LambdaLR(LRScheduler):
    """Sets the lr of epoch ``t`` to ``initial_lr * lr_lambda(t)``.

    Args:
        optimizer: the optimizer to schedule.
        lr_lambda: a function of the epoch index, or a list with one per parameter group.
            The functions are not part of ``state_dict``: pass the same ones when resuming.
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]]):
        groups = len(_checked_optimizer(optimizer, "LambdaLR").param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(lambdas) != groups:
            raise ValueError(
                f"LambdaLR: got {len(lambdas)} lr_lambdas for {groups} parameter groups"
            )
        for index, function in enumerate(lambdas):
            if not callable(function):
                raise ValueError(
                    f"LambdaLR: lr_lambda {index} must be callable, got {type(function).__name__}"
                )
        self.lr_lambdas = lambdas
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [
            base_lr * function(self.last_epoch)
            for function, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)
        ]


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
        self.optimizer = _checked_optimizer(optimizer, "ReduceLROnPlateau")
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
        if self.mode not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {self.mode!r}")
        if self.threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"{owner}: threshold_mode must be 'rel' or 'abs', got {self.threshold_mode!r}"
            )
        check_number(owner, "factor", self.factor, high=1.0, high_inclusive=False)
        if self.factor == 0:
            raise ValueError(f"{owner}: factor must be > 0 and < 1.0, got {self.factor!r}")
        _check_int(owner, "patience", self.patience, 0)
        _check_int(owner, "cooldown", self.cooldown, 0)
        check_number(owner, "threshold", self.threshold)
        check_number(owner, "eps", self.eps)
        for index, min_lr in enumerate(self.min_lrs):
            check_number(owner, f"min_lr[{index}]", min_lr)

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
        current = float(metrics)
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
