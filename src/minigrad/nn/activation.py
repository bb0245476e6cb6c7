"""Elementwise activations (ReLU and its smooth and leaky kin) and (log-)softmax.

Any input shape; each keeps the input dtype. Each forward saves what its backward needs
with ``save_for_backward``, so one instance may be called several times in one forward.
"""

from __future__ import annotations

import numpy as np

from minigrad import parallel
from minigrad.checks import check_bool, check_choice, check_int, check_number
from minigrad.kernels import activation as kernels
from minigrad.kernels import relu
from minigrad.nn.layout import is_channels_last
from minigrad.nn.module import Module, is_grad_enabled
from minigrad.nn.validation import check_float_input, check_grad_shape, normalized_dim


class _Elementwise(Module):
    """Checks input; ``backward`` pops the context (its first entry shaped like the
    output) and hands its values to ``_backward(dy, *values)``.

    None keeps its output for backward: the output is the caller's to modify in place
    (``out += skip``), so what backward needs is kept in arrays of its own (a mask, a
    slope) or, where only the output will do (Softmax), the caller gets a copy.
    """

    def _check(self, x):
        return check_float_input(self, x, tuple(range(0, 9)), "an array")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        saved = self.pop_saved()
        check_grad_shape(self, dy, saved[0].shape, saved)
        return self._backward(dy, *saved)


def _element_strides(a: np.ndarray) -> tuple[int, ...]:
    return tuple(stride // a.itemsize for stride in a.strides)


class ReLU(_Elementwise):
    """max(x, 0). ``inplace`` is accepted as in torch (and shown in the repr, as
    torchvision's ResNets print ``ReLU(inplace=True)``), but the output is always a new
    array: without torch's version counters, overwriting an input that another layer keeps
    for its backward would go unnoticed.
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool(inplace, "ReLU: inplace")

    # Arrays from this size on go through one-pass kernels split over the threads; the
    # two numpy passes are faster below it (no dispatch)
    SPLIT_SIZE = 1 << 16

    def forward(self, x):
        self._check(x)
        if x.size < self.SPLIT_SIZE or not (x.flags.c_contiguous or is_channels_last(x)):
            y = np.maximum(x, 0)
            if is_grad_enabled():
                self.save_for_backward(x > 0)
            return y
        # empty_like keeps x's memory order (a channels-last x stays channels-last), so the
        # arrays flattened in memory order pair up element for element
        y = np.empty_like(x)
        flat_x, flat_y = x.ravel(order="K"), y.ravel(order="K")
        if not is_grad_enabled():  # no backward: no mask
            parallel.split(lambda a, b: relu.forward_only(flat_x[a:b], flat_y[a:b]), x.size,
                           x.size)
            return y
        positive = np.empty_like(x, dtype=np.bool_)
        flat_p = positive.ravel(order="K")
        parallel.split(lambda a, b: relu.forward(flat_x[a:b], flat_y[a:b], flat_p[a:b]),
                       x.size, x.size)
        self.save_for_backward(positive)
        return y

    def _backward(self, dy, positive):
        if dy.size < self.SPLIT_SIZE or _element_strides(dy) != _element_strides(positive):
            return dy * positive
        dx = np.empty_like(dy)
        flat_dy, flat_p, flat_dx = (a.ravel(order="K") for a in (dy, positive, dx))
        parallel.split(lambda a, b: relu.backward(flat_dy[a:b], flat_p[a:b], flat_dx[a:b]),
                       dy.size, dy.size)
        return dx

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in the input's dtype, finite for inputs of any magnitude."""
    # exp of a non-positive number never overflows: split by sign
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)


class Sigmoid(_Elementwise):
    def forward(self, x):
        y = sigmoid(self._check(x))
        if is_grad_enabled():
            self.save_for_backward(y * (1 - y))
        return y

    def _backward(self, dy, slope):
        return dy * slope


class Tanh(_Elementwise):
    def forward(self, x):
        y = np.tanh(self._check(x))
        if is_grad_enabled():
            self.save_for_backward(1 - y * y)
        return y

    def _backward(self, dy, slope):
        return dy * slope


class GELU(_Elementwise):
    """x * Phi(x) (``approximate="none"``, torch's default) or its tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = check_choice(approximate, "GELU: approximate", ("none", "tanh"))

    def forward(self, x):
        x = np.ascontiguousarray(self._check(x))
        if self.approximate == "tanh":
            # numpy's SIMD tanh; Python-float constants keep float32 as float32
            t = np.multiply(x, x)
            t *= kernels.TANH_SCALE * kernels.TANH_CUBIC
            t += kernels.TANH_SCALE
            t *= x
            np.tanh(t, out=t)
            self.save_for_backward(x, t)
            y = t + 1
            y *= x
            y *= 0.5
            return y
        y = np.empty_like(x)
        if self.training and is_grad_enabled():
            # The derivative shares the cdf with the output: computing it here costs one
            # erf less than in backward, which becomes one multiply.
            self.save_for_backward(x, self._gelu_and_slope(x, y))
        else:
            kernels.gelu_erf(x.dtype)[0](x, y)
            self.save_for_backward(x, None)
        return y

    @staticmethod
    def _gelu_and_slope(x, y):
        slope = np.empty_like(x)
        kernels.gelu_erf(x.dtype)[1](x, y, slope)
        return slope

    def _backward(self, dy, x, kept):
        dy = np.ascontiguousarray(dy, dtype=x.dtype)
        if self.approximate == "tanh":
            # dy * (0.5 (1 + t) + 0.5 x (1 - t^2) s (1 + 3 c x^2)), in place: every fresh
            # temporary of this size costs page faults
            t = kept
            slope = np.multiply(x, x)
            slope *= 3 * kernels.TANH_CUBIC
            slope += 1
            slope *= 0.5 * kernels.TANH_SCALE
            dx = np.multiply(t, t)
            np.subtract(1, dx, out=dx)
            dx *= x
            dx *= slope
            np.multiply(t, 0.5, out=slope)
            dx += slope
            dx += 0.5
            dx *= dy
            return dx
        slope = kept
        if slope is None:  # forward ran in eval mode
            slope = self._gelu_and_slope(x, np.empty_like(x))
        return dy * slope

    def extra_repr(self) -> str:
        return f"approximate='{self.approximate}'"


class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope * x (torch: the slope also applies at x = 0)."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = check_number(negative_slope, "LeakyReLU: negative_slope")

    def forward(self, x):
        positive = self._check(x) > 0
        if is_grad_enabled():
            self.save_for_backward(positive)
        return np.where(positive, x, x * self.negative_slope)

    def _backward(self, dy, positive):
        return np.where(positive, dy, dy * self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(_Elementwise):
    """x if x > 0 else alpha * (exp(x) - 1); the derivative at x = 0 is alpha, as in torch."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = check_number(alpha, "ELU: alpha")

    def forward(self, x):
        self._check(x)
        if is_grad_enabled():
            self.save_for_backward(x)
        # expm1 of the clipped input: exact near 0 and no overflow warning for large x
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def _backward(self, dy, x):
        return np.where(x > 0, dy, dy * (self.alpha * np.exp(np.minimum(x, 0))))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class SiLU(_Elementwise):
    """x * sigmoid(x) (also called swish); finite for inputs of any magnitude."""

    def forward(self, x):
        s = sigmoid(self._check(x))
        if is_grad_enabled():
            self.save_for_backward(x, s)
        return x * s

    def _backward(self, dy, x, s):
        # d/dx x s(x) = s (1 + x (1 - s))
        return dy * (s * (1 + x * (1 - s)))


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Numerically stable log-softmax: finite for logits of any magnitude."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(_Elementwise):
    """exp(x) / sum(exp(x)) along ``dim``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = check_int(dim, f"{type(self).__name__}: dim")

    def _check(self, x):
        super()._check(x)
        normalized_dim(self, "dim", self.dim, max(x.ndim, 1))
        return x

    def forward(self, x):
        y = np.exp(log_softmax(self._check(x), self.dim))
        if not is_grad_enabled():
            return y
        self.save_for_backward(y)
        return y.copy()  # backward needs the output itself: the caller gets a copy

    def _backward(self, dy, y):
        return y * (dy - (dy * y).sum(axis=self.dim, keepdims=True))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``dim``, computed stably."""

    def forward(self, x):
        y = log_softmax(self._check(x), self.dim)
        if is_grad_enabled():
            self.save_for_backward(np.exp(y))
        return y

    def _backward(self, dy, probabilities):
        return dy - probabilities * dy.sum(axis=self.dim, keepdims=True)
