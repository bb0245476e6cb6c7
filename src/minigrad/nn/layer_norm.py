"""LayerNorm and GroupNorm: per-sample normalisation, the same in training and in eval.

Both normalise with the biased variance over their axes, ``x_hat = (x - mean) / sqrt(var +
eps)``, then apply a per-element (LayerNorm) or per-channel (GroupNorm) affine map. Neither
keeps running statistics, so train and eval modes compute the same thing.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from minigrad.nn import init
from minigrad.nn.module import DEFAULT_DTYPE, Module, Parameter, as_float_dtype
from minigrad.nn.validation import (
    check_dtype_matches,
    check_float_input,
    check_grad_shape,
    describe,
)


def _normalise(x: np.ndarray, axes: tuple[int, ...], eps: float):
    """Returns (x_hat, 1 / std) with the statistics over ``axes`` (kept as size-1 dims)."""
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = np.square(centred).mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    return centred * inv_std, inv_std


def _normalise_backward(dx_hat: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray,
                        axes: tuple[int, ...]) -> np.ndarray:
    """dL/dx from dL/dx_hat: (g - mean(g) - x_hat * mean(g * x_hat)) / std over ``axes``."""
    mean_grad = dx_hat.mean(axis=axes, keepdims=True)
    mean_projection = (dx_hat * x_hat).mean(axis=axes, keepdims=True)
    return (dx_hat - mean_grad - x_hat * mean_projection) * inv_std


def _check_eps(layer: str, eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise ValueError(f"{layer} eps must be a non-negative number, got {eps!r}")
    return float(eps)


class LayerNorm(Module):
    """Normalises over the last ``len(normalized_shape)`` dims of each sample, as torch.

    Shapes: x (*, *normalized_shape) -> y of the same shape; weight and bias
    ``normalized_shape`` (weight 1, bias 0 initially), absent when ``elementwise_affine`` is
    False; ``bias=False`` drops only the bias (torch 2.x).
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype=DEFAULT_DTYPE):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) \
            else normalized_shape
        if (isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or not shape
                or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool)
                           and n >= 1 for n in shape)):
            raise ValueError("LayerNorm normalized_shape must be a positive int or a non-empty "
                             f"sequence of positive ints, got {normalized_shape!r}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps = _check_eps("LayerNorm", eps)
        self.elementwise_affine = bool(elementwise_affine)
        dt = as_float_dtype(dtype)
        affine, shape = self.elementwise_affine, self.normalized_shape
        self.weight = Parameter(np.empty(shape, dt)) if affine else None
        self.bias = Parameter(np.empty(shape, dt)) if affine and bias else None
        self.reset_parameters()

    def reset_parameters(self, generator=None) -> LayerNorm:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)
        return self

    def forward(self, x: np.ndarray) -> np.ndarray:
        k = len(self.normalized_shape)
        expected = "(*, " + ", ".join(map(str, self.normalized_shape)) + ")"
        check_float_input(self, x, tuple(range(k, 9)), expected)
        if x.shape[x.ndim - k:] != self.normalized_shape:
            raise ValueError(f"{describe(self)} expected input of shape {expected}, "
                             f"got input of shape {x.shape}")
        if self.weight is not None:
            check_dtype_matches(self, x, self.weight.data.dtype)
        axes = tuple(range(x.ndim - k, x.ndim))
        x_hat, inv_std = _normalise(x, axes, self.eps)
        self.save_for_backward(x_hat, inv_std)
        y = x_hat if self.weight is None else x_hat * self.weight.data
        return y if self.bias is None else y + self.bias.data

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x_hat, inv_std = self.pop_saved()
        check_grad_shape(self, dy, x_hat.shape)
        k = len(self.normalized_shape)
        batch_axes = tuple(range(x_hat.ndim - k))
        if self.bias is not None:
            self.bias.grad += dy.sum(axis=batch_axes)
        if self.weight is None:
            dx_hat = dy
        else:
            self.weight.grad += (dy * x_hat).sum(axis=batch_axes)
            dx_hat = dy * self.weight.data
        axes = tuple(range(x_hat.ndim - k, x_hat.ndim))
        return _normalise_backward(dx_hat, x_hat, inv_std, axes)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Splits the C channels into ``num_groups`` groups and normalises each group of each
    sample over its channels and spatial positions, as torch.

    Shapes: x (N, C, *) -> y of the same shape; weight and bias (C,) (weight 1, bias 0
    initially), absent when ``affine`` is False; ``bias=False`` drops only the bias.
    ``GroupNorm(1, C)`` normalises each sample over (C, *); ``GroupNorm(C, C)`` each channel.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, *, bias: bool = True, dtype=DEFAULT_DTYPE):
        super().__init__()
        for name, value in (("num_groups", num_groups), ("num_channels", num_channels)):
            if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                    or value < 1):
                raise ValueError(f"GroupNorm {name} must be a positive int, got {value!r}")
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = int(num_groups)
        self.num_channels = int(num_channels)
        self.eps = _check_eps("GroupNorm", eps)
        self.affine = bool(affine)
        dt = as_float_dtype(dtype)
        self.weight = Parameter(np.empty(self.num_channels, dt)) if self.affine else None
        self.bias = Parameter(np.empty(self.num_channels, dt)) if self.affine and bias \
            else None
        self.reset_parameters()

    def reset_parameters(self, generator=None) -> GroupNorm:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)
        return self

    def forward(self, x: np.ndarray) -> np.ndarray:
        expected = f"(N, {self.num_channels}, *)"
        check_float_input(self, x, tuple(range(2, 9)), expected)
        if x.shape[1] != self.num_channels:
            raise ValueError(f"{describe(self)} expected input of shape {expected}, "
                             f"got input of shape {x.shape}")
        if self.weight is not None:
            check_dtype_matches(self, x, self.weight.data.dtype)
        # (N, C, *) -> (N, G, C/G * prod(*)): each row of a sample is one group
        grouped = x.reshape(self._grouped_shape(x.shape))
        x_hat, inv_std = _normalise(grouped, (2,), self.eps)
        x_hat = x_hat.reshape(x.shape)
        self.save_for_backward(x_hat, inv_std)
        view = (1, -1) + (1,) * (x.ndim - 2)
        y = x_hat if self.weight is None else x_hat * self.weight.data.reshape(view)
        return y if self.bias is None else y + self.bias.data.reshape(view)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x_hat, inv_std = self.pop_saved()
        check_grad_shape(self, dy, x_hat.shape)
        axes = (0,) + tuple(range(2, dy.ndim))
        if self.bias is not None:
            self.bias.grad += dy.sum(axis=axes)
        if self.weight is None:
            dx_hat = dy
        else:
            self.weight.grad += (dy * x_hat).sum(axis=axes)
            dx_hat = dy * self.weight.data.reshape((1, -1) + (1,) * (dy.ndim - 2))
        grouped = self._grouped_shape(dy.shape)
        dx = _normalise_backward(dx_hat.reshape(grouped), x_hat.reshape(grouped), inv_std, (2,))
        return dx.reshape(dy.shape)

    def _grouped_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        # explicit sizes (not -1): an empty batch must reshape too
        return shape[0], self.num_groups, math.prod(shape[1:]) // self.num_groups

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")
