"""Fixed schedules: step, multi-step, exponential, constant, linear and polynomial.

Each ``get_lr`` updates the current ``group["lr"]`` with torch's recursive formula, so
these schedules compose with outside changes (``ChainedScheduler``) exactly as torch's
do; each ``_closed_form_lr`` gives the lr from ``base_lrs`` alone, which ``SequentialLR``
uses when it hands over at a milestone.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from minigrad.checks import check_int, check_number
from minigrad.optim.lr_scheduler.base import LRScheduler
from minigrad.optim.optimizer import Optimizer


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
        check_int(self.step_size, "StepLR: step_size", minimum=1)
        check_number(self.gamma, "StepLR: gamma", minimum=0)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


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

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1):
        if isinstance(milestones, (str, bytes, dict)) or not isinstance(milestones, Iterable):
            raise ValueError(
                "MultiStepLR: milestones must be a sequence of epoch indices (integers >= 0), "
                f"got {milestones!r}"
            )
        self.milestones = list(milestones)
        self.gamma = gamma
        self._check_hyperparameters()  # before sorting: names the position the user gave
        self.milestones.sort()
        self._check_hyperparameters()
        super().__init__(optimizer)

    def _check_hyperparameters(self) -> None:
        for index, milestone in enumerate(self.milestones):
            check_int(milestone, f"MultiStepLR: milestones[{index}]", minimum=0)
        check_number(self.gamma, "MultiStepLR: gamma", minimum=0)

    def get_lr(self) -> list[float]:
        times = self.milestones.count(self.last_epoch)
        if times == 0:
            return self._current_lrs()
        return [lr * self.gamma**times for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        passed = bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma**passed for base in self.base_lrs]


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
        check_number(self.gamma, "ExponentialLR: gamma", minimum=0)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """Multiplies the lr by ``factor`` for epochs ``0 .. total_iters - 1``, then restores it.

    With ``lr=1, factor=0.5, total_iters=2`` the lr of epochs 0..3 is 0.5, 0.5, 1, 1.

    Args:
        optimizer: the optimizer to schedule.
        factor: the factor applied before ``total_iters``, in (0, 1] (default 1/3).
        total_iters: the epoch at which the factor is undone (integer >= 1, default 5).
    """

    _hyperparameters = ("factor", "total_iters")

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5):
        self.factor = factor
        self.total_iters = total_iters
        self._check_hyperparameters()
        super().__init__(optimizer)

    def _check_hyperparameters(self) -> None:
        # Above 0: the lr is divided by the factor at total_iters.
        check_number(self.factor, "ConstantLR: factor", above=0, maximum=1)
        check_int(self.total_iters, "ConstantLR: total_iters", minimum=1)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._current_lrs()]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return [lr * (1.0 / self.factor) for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        factor = self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor)
        return [base * factor for base in self.base_lrs]


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
        check_number(self.start_factor, "LinearLR: start_factor", above=0, maximum=1)
        check_number(self.end_factor, "LinearLR: end_factor", minimum=0, maximum=1)
        check_int(self.total_iters, "LinearLR: total_iters", minimum=1)

    def get_lr(self) -> list[float]:
        t, start, end = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return [lr * start for lr in self._current_lrs()]
        if self._is_initial or t > self.total_iters:
            return self._current_lrs()
        ratio = 1.0 + (end - start) / (self.total_iters * start + (t - 1) * (end - start))
        return [lr * ratio for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        start, end, total = self.start_factor, self.end_factor, self.total_iters
        factor = start + (end - start) * min(total, self.last_epoch) / total
        return [base * factor for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decays the lr to 0 along ``initial_lr * (1 - t / total_iters) ** power``, then keeps 0.

    Args:
        optimizer: the optimizer to schedule.
        total_iters: the epoch at which the lr reaches 0 (integer >= 1, default 5).
        power: the power of the polynomial (>= 0, default 1: linear decay).
    """

    _hyperparameters = ("total_iters", "power")

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0):
        self.total_iters = total_iters
        self.power = power
        self._check_hyperparameters()
        super().__init__(optimizer)

    def _check_hyperparameters(self) -> None:
        check_int(self.total_iters, "PolynomialLR: total_iters", minimum=1)
        check_number(self.power, "PolynomialLR: power", minimum=0)

    def get_lr(self) -> list[float]:
        t, total = self.last_epoch, self.total_iters
        if self._is_initial or t > total:
            return self._current_lrs()
        decay = ((1.0 - t / total) / (1.0 - (t - 1) / total)) ** self.power
        return [lr * decay for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        remaining = 1.0 - min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * remaining**self.power for base in self.base_lrs]
