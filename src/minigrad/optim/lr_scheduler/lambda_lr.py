"""Schedules given by user functions of the epoch index."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from minigrad.optim.lr_scheduler.base import LRScheduler, checked_optimizer
from minigrad.optim.optimizer import Optimizer


class LambdaLR(LRScheduler):
    """Sets the lr of epoch ``t`` to ``initial_lr * lr_lambda(t)``.

    Args:
        optimizer: the optimizer to schedule.
        lr_lambda: a function of the epoch index, or a list with one per parameter group.
            The functions are not part of ``state_dict``: pass the same ones when resuming.
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]]):
        groups = len(checked_optimizer(optimizer, "LambdaLR").param_groups)
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


