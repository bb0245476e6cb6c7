"""MSELoss, L1Loss, SmoothL1Loss and HuberLoss: elementwise losses of ``d = output - target``.

``loss = fn(output, target)`` (same shapes) returns a float for ``reduction="mean"`` (over
all elements) or ``"sum"``, or the per-element losses for ``"none"``; ``fn.backward(dy=1)``
returns dL/doutput. At d = 0 the L1 slope is 0, as in torch.
"""

from __future__ import annotations

import numpy as np

from minigrad.checks import check_number
from minigrad.nn.loss_reduction import ReducedLoss, same_shape_target
from minigrad.nn.module import is_grad_enabled


class MSELoss(ReducedLoss):
    """d^2: the mean (or sum, or per element with "none") of squared differences."""

    def forward(self, output: np.ndarray, target: np.ndarray):
        difference = output - same_shape_target(self, output, target)
        slope = difference * output.dtype.type(2) if is_grad_enabled() else None
        return self._reduce(np.square(difference), slope)


class L1Loss(ReducedLoss):
    """|output - target|."""

    def __init__(self, *, reduction: str = "mean"):
        super().__init__(reduction)

    def forward(self, output: np.ndarray, target: np.ndarray):
        difference = output - same_shape_target(self, output, target)
        return self._reduce(np.abs(difference), np.sign(difference))


class SmoothL1Loss(ReducedLoss):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; ``beta=0`` is the L1 loss.

    Quadratic near 0 with slope d / beta, linear (slope +-1) beyond beta.
    """

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = check_number(beta, "SmoothL1Loss: beta", minimum=0)

    def forward(self, output: np.ndarray, target: np.ndarray):
        difference = output - same_shape_target(self, output, target)
        size, sign = np.abs(difference), np.sign(difference)
        if self.beta == 0:
            return self._reduce(size, sign)
        small = size < self.beta
        losses = np.where(small, 0.5 * difference * difference / self.beta, size - 0.5 * self.beta)
        return self._reduce(losses, np.where(small, difference / self.beta, sign))


class HuberLoss(ReducedLoss):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta): SmoothL1Loss times beta.

    Slope d near 0, +-delta beyond delta.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = check_number(delta, "HuberLoss: delta", above=0)

    def forward(self, output: np.ndarray, target: np.ndarray):
        difference = output - same_shape_target(self, output, target)
        size = np.abs(difference)
        small = size < self.delta
        losses = np.where(small, 0.5 * difference * difference,
                          self.delta * (size - 0.5 * self.delta))
        return self._reduce(losses, np.where(small, difference,
                                             self.delta * np.sign(difference)))
