"""Stochastic gradient descent with momentum, dampening, weight decay and Nesterov: torch's rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from minigrad.checks import check_bool, check_number
from minigrad.optim.optimizer import Optimizer


class SGD(Optimizer):
    """SGD, step for step the same arithmetic as ``torch.optim.SGD``.

    For each parameter ``p`` with gradient ``g``::

        g = -g if maximize else g
        g = g + weight_decay * p                       # L2 penalty, if weight_decay != 0
        if momentum != 0:
            buf = g                                    # first step: the buffer IS the gradient
            buf = momentum * buf + (1 - dampening) * g # later steps
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g

    Note that the first step copies the gradient into the buffer without dampening,
    exactly as torch does.

    Args:
        params: Parameters, or a list of group dicts (see ``Optimizer``).
        lr: learning rate.
        momentum: momentum factor (0 disables the buffer).
        dampening: dampening of the gradient added to the buffer after the first step.
        weight_decay: L2 penalty coefficient, added to the gradient.
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: ascend the objective instead of descending it (keyword only, as in torch).

    State per parameter (only when momentum != 0): ``momentum_buffer``, shaped like ``p``.
    """

    _state_array_keys = ("momentum_buffer",)
    _state_keys = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any], owner: str) -> None:
        super()._check_hyperparameters(group, owner)
        check_number(group["momentum"], f"{owner}: momentum", minimum=0)
        check_number(group["dampening"], f"{owner}: dampening", minimum=0)
        check_bool(group["nesterov"], f"{owner}: nesterov")
        check_bool(group["maximize"], f"{owner}: maximize")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{owner}: nesterov=True needs momentum > 0 and dampening == 0, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def step(self) -> None:
        """Updates every parameter in place from its ``.grad``."""
        for group in self.param_groups:
            # Python floats keep float32 arrays float32 (a numpy float64 scalar would not).
            lr = float(group["lr"])
            momentum = float(group["momentum"])
            dampening = float(group["dampening"])
            weight_decay = float(group["weight_decay"])
            for p in group["params"]:
                grad = -p.grad if group["maximize"] else p.grad
                if weight_decay != 0:
                    grad = grad + weight_decay * p.data
                if momentum != 0:
                    grad = self._momentum(p, grad, momentum, dampening, bool(group["nesterov"]))
                p.data -= lr * grad

    def _momentum(self, p, grad, momentum: float, dampening: float, nesterov: bool):
        """Updates ``p``'s momentum buffer with ``grad`` and returns the direction to step along."""
        state = self.state.setdefault(p, {})
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = grad.copy()
        else:
            buf *= momentum
            buf += (1 - dampening) * grad
        return grad + momentum * buf if nesterov else buf
