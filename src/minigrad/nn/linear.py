"""Linear, Flatten and Identity."""

from __future__ import annotations

import numpy as np

from minigrad.checks import check_bool, check_int
from minigrad.nn import init
from minigrad.nn.module import DEFAULT_DTYPE, Module, Parameter, as_float_dtype
from minigrad.nn.validation import (
    check_dtype_matches,
    check_float_input,
    check_grad_shape,
    describe,
    normalized_dim,
)


class Linear(Module):
    """y = x @ weight.T + bias.

    Shapes: x (*, in_features) -> y (*, out_features); weight (out_features, in_features),
    bias (out_features,). Initialised like torch: kaiming_uniform(a=sqrt(5)) and U(+-1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype=DEFAULT_DTYPE, generator: np.random.Generator | None = None):
        super().__init__()
        self.in_features = check_int(in_features, "Linear: in_features", minimum=1)
        self.out_features = check_int(out_features, "Linear: out_features", minimum=1)
        dt = as_float_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dt))
        bias = check_bool(bias, "Linear: bias")
        self.bias = Parameter(np.empty(self.out_features, dtype=dt)) if bias else None
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> Linear:
        init.default_init_(self.weight, self.bias, generator)
        return self

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, tuple(range(1, 9)), f"(*, {self.in_features})")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear(in_features={self.in_features}) got input of shape "
                             f"{x.shape}; expected (*, {self.in_features})")
        check_dtype_matches(self, x, self.weight.data.dtype)
        self.save_for_backward(x)
        y = x @ self.weight.data.T
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        saved = (x,) = self.pop_saved()
        check_grad_shape(self, dy, x.shape[:-1] + (self.out_features,), saved)
        x2 = x.reshape(-1, self.in_features)
        dy2 = dy.reshape(-1, self.out_features)
        self.weight.grad += dy2.T @ x2
        if self.bias is not None:
            self.bias.grad += dy2.sum(axis=0)
        return dy @ self.weight.data

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Flattens dims ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C*H*W) by default.

    As in torch, a dim outside [-ndim, ndim) or a start after the end is an error (never
    wrapped around).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = check_int(start_dim, "Flatten: start_dim")
        self.end_dim = check_int(end_dim, "Flatten: end_dim")

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, tuple(range(1, 9)), "an array")
        start = normalized_dim(self, "start_dim", self.start_dim, x.ndim)
        end = normalized_dim(self, "end_dim", self.end_dim, x.ndim)
        if start > end:
            raise ValueError(f"{describe(self)}: start_dim must not come after end_dim, got "
                             f"dims {start} and {end} of a {x.ndim}-D input")
        y = x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])
        self.save_for_backward(x.shape, y.shape)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        saved = (shape, out_shape) = self.pop_saved()
        check_grad_shape(self, dy, out_shape, saved)
        return dy.reshape(shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged; its backward returns ``dy`` whatever the forward was,
    so it keeps no context."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy
