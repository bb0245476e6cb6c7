"""Cosine annealing: the lr follows half a cosine from ``initial_lr`` down to ``eta_min``."""

from __future__ import annotations

import math

from minigrad.optim.lr_scheduler.base import LRScheduler, check_int
from minigrad.optim.optimizer import Optimizer, check_number


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
        check_int("CosineAnnealingLR", "T_max", self.T_max, 1)
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


