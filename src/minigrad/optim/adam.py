"""Adam (L2 weight decay) and AdamW (decoupled weight decay), with AMSGrad: torch's rules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.checks import check_bool, check_number
from minigrad.optim.optimizer import Optimizer, lerp_


class Adam(Optimizer):
    """Adam, step for step the same arithmetic as ``torch.optim.Adam``.

    For each parameter ``p`` with gradient ``g``, at step ``t`` (1 on the first step)::

        g = -g if maximize else g
        g = g + weight_decay * p                      # L2 penalty (Adam), if weight_decay != 0
        m = m + (1 - beta1) * (g - m)                 # first moment
        v = beta2 * v + (1 - beta2) * g * g           # second moment
        if amsgrad:
            v_max = max(v_max, v)                     # the largest v so far normalises
        denom = sqrt(v or v_max) / sqrt(1 - beta2**t) + eps   # eps added AFTER bias correction
        p = p - lr / (1 - beta1**t) * m / denom

    Args:
        params: Parameters, ``(name, Parameter)`` pairs, or a list of group dicts (see
            ``Optimizer``).
        lr: learning rate.
        betas: decay rates ``(beta1, beta2)`` of the first and second moments, each in [0, 1).
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty coefficient (Adam adds it to the gradient).
        amsgrad: normalise by the running maximum of the second moment (Reddi et al.).
        maximize: ascend the objective instead of descending it (keyword only, as in torch).

    State per parameter: ``step`` (int, steps taken), ``exp_avg`` and ``exp_avg_sq``
    (the moments, shaped like ``p``), and with ``amsgrad`` ``max_exp_avg_sq``.
    """

    _state_array_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _state_keys = ("step", "exp_avg", "exp_avg_sq")
    _optional_state_keys = ("max_exp_avg_sq",)
    # AdamW sets this: decay shrinks the weights instead of entering the gradient.
    _decoupled_weight_decay = False

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        if isinstance(betas, (str, bytes)) or not isinstance(betas, (tuple, list, np.ndarray)):
            raise ValueError(f"{type(self).__name__}: betas must be a tuple (beta1, beta2), "
                             f"got {betas!r}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any], owner: str) -> None:
        super()._check_hyperparameters(group, owner)
        check_number(group["eps"], f"{owner}: eps", minimum=0)
        betas = group["betas"]
        if not isinstance(betas, tuple) or len(betas) != 2:
            raise ValueError(f"{owner}: betas must be a tuple (beta1, beta2), got {betas!r}")
        for index, beta in enumerate(betas):
            check_number(beta, f"{owner}: betas[{index}]", minimum=0, below=1)
        check_bool(group["amsgrad"], f"{owner}: amsgrad")
        check_bool(group["maximize"], f"{owner}: maximize")

    def _required_state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self._state_keys + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def step(self) -> None:
        """Updates every parameter in place from its ``.grad``."""
        for group in self.param_groups:
            # Python floats keep float32 arrays float32 (a numpy float64 scalar would not).
            hyper = {
                "lr": float(group["lr"]),
                "beta1": float(group["betas"][0]),
                "beta2": float(group["betas"][1]),
                "eps": float(group["eps"]),
                "weight_decay": float(group["weight_decay"]),
                "amsgrad": bool(group["amsgrad"]),
            }
            for p in group["params"]:
                grad = -p.grad if group["maximize"] else p.grad
                self._update(p, grad, **hyper)

    def _state(self, p, amsgrad: bool) -> dict[str, Any]:
        """``p``'s state, created on its first step (and ``max_exp_avg_sq`` once amsgrad is on)."""
        state = self.state.get(p)
        if not state:
            state = self.state[p] = {
                "step": 0,
                "exp_avg": np.zeros_like(p.data),
                "exp_avg_sq": np.zeros_like(p.data),
            }
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = np.zeros_like(p.data)
        return state

    def _update(self, p, grad: np.ndarray, lr: float, beta1: float, beta2: float, eps: float,
                weight_decay: float, amsgrad: bool) -> None:
        state = self._state(p, amsgrad)
        state["step"] += 1
        step = state["step"]
        if weight_decay != 0:
            if self._decoupled_weight_decay:
                p.data *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * p.data
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        lerp_(exp_avg, grad, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        if amsgrad:
            second_moment = state["max_exp_avg_sq"]
            np.maximum(second_moment, exp_avg_sq, out=second_moment)
        else:
            second_moment = exp_avg_sq
        step_size = lr / (1 - beta1**step)
        denom = np.sqrt(second_moment) / (1 - beta2**step) ** 0.5
        denom += eps
        p.data += (-step_size * exp_avg) / denom


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, the same arithmetic as ``torch.optim.AdamW``.

    Before the Adam update (which then sees the raw gradient), the weights shrink::

        p = p * (1 - lr * weight_decay)

    Args:
        params: Parameters, ``(name, Parameter)`` pairs, or a list of group dicts (see
            ``Optimizer``). Put biases and norm weights in a group with ``weight_decay=0``
            to exempt them from decay.
        lr: learning rate.
        betas: decay rates ``(beta1, beta2)`` of the first and second moments, each in [0, 1).
        eps: added to the denominator for numerical stability.
        weight_decay: decoupled decay coefficient (default 1e-2, as torch).
        amsgrad: normalise by the running maximum of the second moment.
        maximize: ascend the objective instead of descending it (keyword only).
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
