"""Cosine schedules: one long annealing (``CosineAnnealingLR``) and warm restarts (SGDR)."""

from __future__ import annotations

import math

from minigrad.checks import check_int, check_number
from minigrad.optim.lr_scheduler.base import LRScheduler
from minigrad.optim.optimizer import Optimizer


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
        check_int(self.T_max, "CosineAnnealingLR: T_max", minimum=1)
        check_number(self.eta_min, "CosineAnnealingLR: eta_min", minimum=0)

    def get_lr(self) -> list[float]:
        t, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
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

    def _closed_form_lr(self) -> list[float]:
        eta_min, t = self.eta_min, self.last_epoch
        return [
            eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
            for base_lr in self.base_lrs
        ]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing that restarts at ``initial_lr`` every ``T_i`` epochs (SGDR).

    The lr is ``eta_min + (initial_lr - eta_min) * (1 + cos(pi T_cur / T_i)) / 2``, where
    ``T_cur`` counts the epochs since the last restart and the period starts at ``T_0``
    and is multiplied by ``T_mult`` at every restart. With ``T_0=2, T_mult=2`` restarts
    happen at epochs 2, 6, 14, ...

    ``step()`` advances one epoch; ``step(epoch)`` jumps to ``epoch``, which may be
    fractional, e.g. ``scheduler.step(epoch + batch / batches_per_epoch)`` after every
    batch. As in torch, this scheduler never warns about the call order.

    Args:
        optimizer: the optimizer to schedule.
        T_0: the first period, in epochs (integer >= 1).
        T_mult: the factor by which the period grows at each restart (integer >= 1).
        eta_min: the lowest learning rate (>= 0).

    Attributes:
        T_i: the current period. T_cur: epochs since the last restart (a float after a
        fractional ``step(epoch)``).
    """

    _hyperparameters = ("T_0", "T_mult", "eta_min")
    _running_state = ("last_epoch", "base_lrs", "_last_lr", "T_i", "T_cur")

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0):
        self.T_0 = self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = 0
        self._check_hyperparameters()
        super().__init__(optimizer)

    def _check_hyperparameters(self) -> None:
        owner = "CosineAnnealingWarmRestarts"
        check_int(self.T_0, f"{owner}: T_0", minimum=1)
        check_int(self.T_mult, f"{owner}: T_mult", minimum=1)
        check_number(self.eta_min, f"{owner}: eta_min", minimum=0)

    def _validate(self) -> None:
        super()._validate()
        check_int(self.T_i, "CosineAnnealingWarmRestarts: T_i", minimum=1)
        check_number(self.T_cur, "CosineAnnealingWarmRestarts: T_cur", minimum=0)

    def get_lr(self) -> list[float]:
        eta_min = self.eta_min
        return [
            eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
            for base_lr in self.base_lrs
        ]

    def step(self, epoch: float | None = None) -> None:
        """Advances one epoch, or jumps to ``epoch`` (a number >= 0, possibly fractional)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            self._jump_to_epoch(epoch)
        self._advance(math.floor(epoch), self.get_lr)

    def _jump_to_epoch(self, epoch: float) -> None:
        """Sets ``T_i`` and ``T_cur`` for ``epoch`` by torch's closed form."""
        check_number(epoch, "CosineAnnealingWarmRestarts: epoch", minimum=0)
        if epoch < self.T_0:
            self.T_i, self.T_cur = self.T_0, epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:
            # The restart index n solves T_0 (T_mult**n - 1) / (T_mult - 1) <= epoch.
            n = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
            self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
            self.T_i = self.T_0 * self.T_mult**n
