"""OneCycleLR: the 1cycle policy (warm up to ``max_lr``, then anneal far below), per batch.

As torch's, it writes ``initial_lr``, ``max_lr`` and ``min_lr`` (and the momentum bounds)
into the parameter groups, and reads them back at every step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from minigrad.checks import check_bool, check_choice, check_int, check_number
from minigrad.optim.lr_scheduler.base import checked_optimizer, per_group, restored_on_error
from minigrad.optim.lr_scheduler.cyclic import MomentumCycle
from minigrad.optim.optimizer import Optimizer


class OneCycleLR(MomentumCycle):
    """The 1cycle policy: warm up from ``max_lr / div_factor`` to ``max_lr``, then anneal.

    Over ``total_steps`` steps (or ``epochs * steps_per_epoch``), the lr rises for the
    first ``pct_start`` of the steps from ``initial_lr = max_lr / div_factor`` to
    ``max_lr``, then falls to ``min_lr = initial_lr / final_div_factor``, along a cosine
    or a line (``anneal_strategy``). With ``three_phase=True`` it falls back to
    ``initial_lr`` over as many steps as it rose, then to ``min_lr``. Momentum moves the
    other way, between ``max_momentum`` and ``base_momentum``. Step it after every batch.

    After ``total_steps`` steps (the cycle's last update done) the lr is ``min_lr`` and
    momentum its final value; torch extrapolates the last phase at that step instead,
    which with linear annealing gives a negative lr. Stepping further is a ``ValueError``.

    Args:
        optimizer: the optimizer to schedule.
        max_lr: the peak lr, one number or one per group.
        total_steps: the length of the cycle (integer >= 1); or give ``epochs`` and
            ``steps_per_epoch``.
        pct_start: the fraction of the steps spent rising, in [0, 1] (default 0.3).
        anneal_strategy: "cos" (default) or "linear".
        cycle_momentum: cycle momentum / beta1 too (default True).
        base_momentum, max_momentum: the momentum bounds (defaults 0.85, 0.95).
        div_factor: ``initial_lr = max_lr / div_factor`` (> 0, default 25).
        final_div_factor: ``min_lr = initial_lr / final_div_factor`` (> 0, default 1e4).
        three_phase: the three-phase schedule of the original paper (default False).
    """

    _hyperparameters = ("total_steps", "pct_start", "anneal_strategy", "three_phase",
                        "cycle_momentum", "use_beta1")

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ):
        owner = "OneCycleLR"
        checked_optimizer(optimizer, owner)
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        self.pct_start, self.anneal_strategy = pct_start, anneal_strategy
        self.three_phase, self.cycle_momentum = three_phase, cycle_momentum
        max_lrs = per_group(owner, "max_lr", max_lr, optimizer)
        for index, lr in enumerate(max_lrs):
            check_number(lr, f"{owner}: max_lr[{index}]", minimum=0)
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            check_number(value, f"{owner}: {name}", above=0)
        bases, tops = self._momentum_bounds(optimizer, base_momentum, max_momentum)
        self._check_momentums(bases, tops)
        self._check_hyperparameters()
        self.optimizer = optimizer
        with restored_on_error(optimizer):
            for group, peak in zip(optimizer.param_groups, max_lrs, strict=True):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
            self._write_momentum_bounds(bases, tops)
            super().__init__(optimizer)

    def _check_hyperparameters(self) -> None:
        owner = "OneCycleLR"
        check_int(self.total_steps, f"{owner}: total_steps", minimum=1)
        check_number(self.pct_start, f"{owner}: pct_start", minimum=0, maximum=1)
        check_choice(self.anneal_strategy, f"{owner}: anneal_strategy", ("cos", "linear"))
        check_bool(self.three_phase, f"{owner}: three_phase")
        check_bool(self.cycle_momentum, f"{owner}: cycle_momentum")
        check_bool(self.use_beta1, f"{owner}: use_beta1")

    def _validate(self) -> None:
        super()._validate()
        if self.last_epoch > self.total_steps:
            raise ValueError(f"OneCycleLR: last_epoch {self.last_epoch} is past total_steps "
                             f"{self.total_steps}")

    def _phases(self) -> list[tuple[float, str, str, str, str]]:
        """(last step, start lr key, end lr key, start momentum key, end momentum key)."""
        steps, pct = self.total_steps, self.pct_start
        rise = (float(pct * steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum")
        if not self.three_phase:
            return [rise, (steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        return [rise,
                (float(2 * pct * steps) - 2, "max_lr", "initial_lr", "base_momentum",
                 "max_momentum"),
                (steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]

    def _phase(self) -> tuple[tuple[float, str, str, str, str], float]:
        """The phase the current step falls in, and the fraction of it done."""
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times, but total_steps is "
                             f"{self.total_steps}; the cycle is over")
        phases, start = self._phases(), 0.0
        if step == self.total_steps:
            # The step after the last update: torch extrapolates the last phase there,
            # which for linear annealing gives a negative lr; we hold its end values.
            return phases[-1], 1.0
        for index, phase in enumerate(phases):
            end = phase[0]
            if step <= end or index == len(phases) - 1:
                if end == start:
                    raise ValueError(
                        f"OneCycleLR: step {step} falls in a phase of zero length "
                        f"(total_steps={self.total_steps}, pct_start={self.pct_start}); "
                        "change pct_start so that each phase spans at least one step"
                    )
                return phase, (step - start) / (end - start)
            start = end
        raise AssertionError("unreachable: the last phase always matches")

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        (_, start, end, _, _), pct = self._phase()
        return [self._anneal(g[start], g[end], pct) for g in self.optimizer.param_groups]

    def _momentums(self) -> list[float]:
        (_, _, _, start, end), pct = self._phase()
        return [self._anneal(g[start], g[end], pct) for g in self.optimizer.param_groups]


def _total_steps(total_steps: Any, epochs: Any, steps_per_epoch: Any) -> int:
    """``total_steps``, else ``epochs * steps_per_epoch``, checked as torch does."""
    if total_steps is not None:
        check_int(total_steps, "OneCycleLR: total_steps", minimum=1)
        return total_steps
    if epochs is None or steps_per_epoch is None:
        raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
    check_int(epochs, "OneCycleLR: epochs", minimum=1)
    check_int(steps_per_epoch, "OneCycleLR: steps_per_epoch", minimum=1)
    return epochs * steps_per_epoch
