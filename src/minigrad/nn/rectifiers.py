"""LeakyReLU, ELU and SiLU: elementwise, any shape, output dtype = input dtype.

Each forward saves what its backward needs with ``save_for_backward``, so one instance may
be called several times in one forward (backward calls then run in reverse order).
"""

from __future__ import annotations

import numbers

import numpy as np

from minigrad.nn.module import Module
from minigrad.nn.validation import check_float_input, check_grad_shape

ANY_SHAPE = tuple(range(0, 9))


def _real(value, layer: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{layer} {name} must be a real number, got {value!r}")
    return float(value)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows: split by sign
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x (torch: the slope also applies at x = 0)."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = _real(negative_slope, "LeakyReLU", "negative_slope")

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, ANY_SHAPE, "an array")
        positive = x > 0
        self.save_for_backward(positive)
        return np.where(positive, x, x * self.negative_slope)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (positive,) = self.pop_saved()
        check_grad_shape(self, dy, positive.shape)
        return np.where(positive, dy, dy * self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1); the derivative at x = 0 is alpha, as in torch."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = _real(alpha, "ELU", "alpha")

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, ANY_SHAPE, "an array")
        self.save_for_backward(x)
        # expm1 of the clipped input: exact near 0 and no overflow warning for large x
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.pop_saved()
        check_grad_shape(self, dy, x.shape)
        return np.where(x > 0, dy, dy * (self.alpha * np.exp(np.minimum(x, 0))))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class SiLU(Module):
    """x * sigmoid(x) (also called swish); finite for inputs of any magnitude."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, ANY_SHAPE, "an array")
        sigmoid = _sigmoid(x)
        self.save_for_backward(x, sigmoid)
        return x * sigmoid

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, sigmoid = self.pop_saved()
        check_grad_shape(self, dy, x.shape)
        # d/dx x s(x) = s (1 + x (1 - s))
        return dy * (sigmoid * (1 + x * (1 - sigmoid)))
