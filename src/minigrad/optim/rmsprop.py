"""RMSprop (Hinton's; centered per Graves), with momentum: torch's update rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.checks import check_bool, check_number
from minigrad.optim.optimizer import Optimizer, lerp_


class RMSprop(Optimizer):
    """RMSprop, step for step the same arithmetic as ``torch.optim.RMSprop``.

    For each parameter ``p`` with gradient ``g``::

        g = -g if maximize else g
        g = g + weight_decay * p                      # L2 penalty, if weight_decay != 0
        v = alpha * v + (1 - alpha) * g * g           # square_avg
        if centered:
            m = m + (1 - alpha) * (g - m)             # grad_avg
            avg = sqrt(v - m * m) + eps               # the variance, not the raw second moment
        else:
            avg = sqrt(v) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg            # momentum_buffer, starts at 0
            p = p - lr * buf
        else:
            p = p - lr * g / avg

    Args:
        params: Parameters, ``(name, Parameter)`` pairs, or a list of group dicts (see
            ``Optimizer``).
        lr: learning rate (default 1e-2, as torch).
        alpha: smoothing constant of the squared-gradient average, in [0, 1].
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty coefficient, added to the gradient.
        momentum: momentum factor (0 disables the buffer).
        centered: divide by the estimated variance of the gradient instead of its second
            moment.
        maximize: ascend the objective instead of descending it (keyword only).

    State per parameter: ``step`` (int), ``square_avg``, ``momentum_buffer`` (when
    momentum > 0) and ``grad_avg`` (when centered), shaped like ``p``.
    """

    _state_array_keys = ("square_avg", "momentum_buffer", "grad_avg")
    _state_keys = ("step", "square_avg")
    _optional_state_keys = ("momentum_buffer", "grad_avg")

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any], owner: str) -> None:
        super()._check_hyperparameters(group, owner)
        # torch only asks alpha >= 0; above 1 the average would weigh g*g negatively.
        check_number(group["alpha"], f"{owner}: alpha", minimum=0, maximum=1)
        check_number(group["eps"], f"{owner}: eps", minimum=0)
        check_number(group["momentum"], f"{owner}: momentum", minimum=0)
        check_bool(group["centered"], f"{owner}: centered")
        check_bool(group["maximize"], f"{owner}: maximize")

    def _required_state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        momentum = ("momentum_buffer",) if group["momentum"] > 0 else ()
        return self._state_keys + momentum + (("grad_avg",) if group["centered"] else ())

    def step(self) -> None:
        """Updates every parameter in place from its ``.grad``."""
        for group in self.param_groups:
            # Python floats keep float32 arrays float32 (a numpy float64 scalar would not).
            lr, alpha = float(group["lr"]), float(group["alpha"])
            eps, weight_decay = float(group["eps"]), float(group["weight_decay"])
            momentum = float(group["momentum"])
            for p in group["params"]:
                grad = -p.grad if group["maximize"] else p.grad
                if weight_decay != 0:
                    grad = grad + weight_decay * p.data
                avg = self._denominator(p, grad, alpha, eps, bool(group["centered"]))
                if momentum > 0:
                    buf = self._buffer(p, "momentum_buffer")
                    buf *= momentum
                    buf += grad / avg
                    p.data -= lr * buf
                else:
                    p.data -= lr * (grad / avg)

    def _buffer(self, p, key: str) -> np.ndarray:
        """``p``'s state array ``key``, zeros when first needed."""
        state = self.state.setdefault(p, {"step": 0, "square_avg": np.zeros_like(p.data)})
        if key not in state:
            state[key] = np.zeros_like(p.data)
        return state[key]

    def _denominator(self, p, grad: np.ndarray, alpha: float, eps: float,
                     centered: bool) -> np.ndarray:
        """Updates the running averages of ``p`` and returns ``sqrt(...) + eps``."""
        square_avg = self._buffer(p, "square_avg")
        self.state[p]["step"] += 1
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if centered:
            grad_avg = self._buffer(p, "grad_avg")
            lerp_(grad_avg, grad, 1 - alpha)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += eps
        return avg
