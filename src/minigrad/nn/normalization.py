"""Normalisation layers: BatchNorm1d/2d (batch statistics, with torch's running-statistics
semantics), LayerNorm and GroupNorm (per-sample statistics, the same in train and eval).

Each normalises with the biased variance over its axes, ``x_hat = (x - mean) / sqrt(var +
eps)``, then applies a per-channel (BatchNorm, GroupNorm) or per-element (LayerNorm) affine
map: ``y = weight * x_hat + bias``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from minigrad import parallel
from minigrad.checks import check_bool, check_int, check_number
from minigrad.kernels import normalization as kernels
from minigrad.nn import batch_norm_rows as rows
from minigrad.nn import init, layout
from minigrad.nn.module import DEFAULT_DTYPE, Module, Parameter, as_float_dtype, is_grad_enabled
from minigrad.nn.validation import (
    check_dtype_matches,
    check_float_input,
    check_grad_shape,
    describe,
)


class _Normalization(Module):
    """The affine map's parameters: weight (ones) and bias (zeros) of one shape, either or
    both absent; ``_affine_backward`` adds their gradients and returns dL/dx_hat."""

    def _init_affine(self, shape, dtype, affine: bool, bias: bool) -> None:
        dt = as_float_dtype(dtype)
        self.weight = Parameter(np.ones(shape, dt)) if affine else None
        self.bias = Parameter(np.zeros(shape, dt)) if affine and bias else None

    def reset_parameters(self, generator=None) -> _Normalization:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)
        return self

    def _affine_backward(self, dy: np.ndarray, x_hat: np.ndarray, axes: tuple[int, ...],
                         view: tuple[int, ...]) -> np.ndarray:
        """Adds dL/dweight, dL/dbias (summed over ``axes``); returns dL/dx_hat, the
        parameters broadcast to the input through ``view``."""
        if self.bias is not None:
            self.bias.grad += dy.sum(axis=axes)
        if self.weight is None:
            return dy
        self.weight.grad += (dy * x_hat).sum(axis=axes)
        return dy * self.weight.data.reshape(view)


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


class _BatchNorm(_Normalization):
    """Normalises each channel over the batch (and spatial) axes.

    Training: uses the batch mean and biased variance, and updates
    ``running = (1 - momentum) * running + momentum * batch`` with the UNBIASED batch
    variance (momentum=None: cumulative average), counting ``num_batches_tracked``.
    Eval: uses the running statistics. Exactly torch's semantics. ``bias=False`` (torch
    2.x's keyword) keeps the learnable scale but no shift.
    """

    _ndims: tuple[int, ...] = ()
    _shape_text = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *,
                 bias: bool = True, dtype=DEFAULT_DTYPE):
        super().__init__()
        name = type(self).__name__
        self.num_features = check_int(num_features, f"{name}: num_features", minimum=1)
        self.eps = check_number(eps, f"{name}: eps", minimum=0)
        self.momentum = None if momentum is None else check_number(
            momentum, f"{name}: momentum", minimum=0, maximum=1)
        self.affine = check_bool(affine, f"{name}: affine")
        self.track_running_stats = check_bool(track_running_stats,
                                              f"{name}: track_running_stats")
        self._init_affine(num_features, dtype, self.affine, check_bool(bias, f"{name}: bias"))
        dt = as_float_dtype(dtype)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dt))
            self.register_buffer("running_var", np.ones(num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def reset_parameters(self, generator=None) -> _BatchNorm:
        super().reset_parameters(generator)
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.set_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        return self

    def _axes_and_view(self, x: np.ndarray):
        check_float_input(self, x, self._ndims, self._shape_text.format(C=self.num_features))
        if x.shape[1] != self.num_features:
            raise ValueError(f"{describe(self)} expected input of shape "
                             f"{self._shape_text.format(C=self.num_features)}, "
                             f"got input of shape {x.shape}")
        dtype = self.weight.data.dtype if self.affine else (
            self.running_mean.dtype if self.track_running_stats else x.dtype)
        check_dtype_matches(self, x, dtype)
        axes = (0,) + tuple(range(2, x.ndim))
        view = (1, -1) + (1,) * (x.ndim - 2)
        return axes, view

    def forward(self, x: np.ndarray) -> np.ndarray:
        axes, view = self._axes_and_view(x)
        planes = self._planes(x)
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            count = x.size // self.num_features
            if count < 2 and self.training:
                raise ValueError(f"{describe(self)} needs more than 1 value per channel in "
                                 f"training, got input of shape {x.shape}")
            mean, var = self._batch_statistics(x, planes, axes)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, count)
        else:
            mean, var = self.running_mean, self.running_var
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype, copy=False)
        if planes is not None and planes.ndim == 2 and not is_grad_enabled():
            return self._output_only(x, planes, mean, inv_std)  # no x_hat to keep
        x_hat, y = self._normalize(x, planes, mean, inv_std, view)
        self.save_for_backward(x_hat, inv_std, use_batch_stats, axes, view)
        return y

    @staticmethod
    def _planes(x):
        """(N, C, L) view of an (N, C, ...) array with spatial dims, or (N*H*W, C) rows of a
        channels-last one (``nn.layout``: what the Winograd convolution hands on), else
        None (then numpy does the work: for (N, C) a per-channel loop would stride across
        the batch)."""
        if x.ndim <= 2:
            return None
        if layout.is_channels_last(x) and not x.flags.c_contiguous:
            return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
        return np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)

    @staticmethod
    def _shaped_like(planes, x):
        """An array laid out as ``planes`` back in the shape of ``x``."""
        if planes.ndim == 2:
            return layout.from_channels_last(planes.reshape(x.shape[0], x.shape[2],
                                                            x.shape[3], x.shape[1]))
        return planes.reshape(x.shape)

    def _batch_statistics(self, x, planes, axes):
        """Per-channel batch mean and biased variance."""
        if planes is None:
            mean = x.mean(axis=axes)
            return mean, np.square(x - mean).mean(axis=axes)
        if planes.ndim == 2:
            return rows.statistics(planes, x.dtype)
        mean = np.empty(self.num_features, x.dtype)
        var = np.empty(self.num_features, x.dtype)
        parallel.split(lambda a, b: kernels.mean_and_variance(planes, mean, var, a, b),
                       self.num_features, planes.size)
        return mean, var

    def _normalize(self, x, planes, mean, inv_std, view):
        """(x_hat, y): the normalised input (kept for backward) and the layer's output."""
        if planes is None:
            x_hat = (x - mean.reshape(view)) * inv_std.reshape(view)
            if not self.affine:  # the output is the caller's: x_hat must stay unaliased
                return x_hat, x_hat.copy()
            y = x_hat * self.weight.data.reshape(view)
            if self.bias is not None:
                y += self.bias.data.reshape(view)
            return x_hat, y
        weight = self.weight.data if self.affine else np.ones(self.num_features, x.dtype)
        bias = self.bias.data if self.bias is not None else np.zeros(self.num_features, x.dtype)
        mean = mean.astype(x.dtype, copy=False)
        if planes.ndim == 2:
            x_hat, y = rows.normalize(planes, mean, inv_std, weight, bias)
        else:
            x_hat, y = np.empty_like(planes), np.empty_like(planes)
            parallel.split(lambda a, b: kernels.normalize(planes[a:b], mean, inv_std, weight,
                                                          bias, x_hat[a:b], y[a:b]),
                           len(planes), planes.size)
        return self._shaped_like(x_hat, x), self._shaped_like(y, x)

    def _output_only(self, x, planes, mean, inv_std):
        """The output of channels-last rows in one pass, x_hat never written."""
        scale = inv_std if not self.affine else (inv_std * self.weight.data).astype(x.dtype)
        bias = self.bias.data if self.bias is not None else np.zeros(self.num_features, x.dtype)
        y = rows.output_only(planes, mean.astype(x.dtype, copy=False), scale, bias)
        return self._shaped_like(y, x)

    def _update_running_stats(self, mean, var, count):
        tracked = self.num_batches_tracked + 1
        self.set_buffer("num_batches_tracked", np.array(tracked, dtype=np.int64))
        factor = 1.0 / float(tracked) if self.momentum is None else self.momentum
        unbiased = var * (count / (count - 1))
        self.running_mean[...] = (1 - factor) * self.running_mean + factor * mean
        self.running_var[...] = (1 - factor) * self.running_var + factor * unbiased

    def backward(self, dy: np.ndarray) -> np.ndarray:
        saved = (x_hat, inv_std, use_batch_stats, axes, view) = self.pop_saved()
        check_grad_shape(self, dy, x_hat.shape, saved)
        if use_batch_stats and x_hat.ndim > 2:
            return self._backward_planes(dy, x_hat, inv_std)
        dx_hat = self._affine_backward(dy, x_hat, axes, view)
        if not use_batch_stats:
            return dx_hat * inv_std.reshape(view)
        return _normalise_backward(dx_hat, x_hat, inv_std.reshape(view), axes)

    def _backward_planes(self, dy, x_hat, inv_std):
        """Batch-statistics backward of (N, C, L) data or channels-last rows in two passes
        (kernels)."""
        h3 = self._planes(x_hat)
        if h3.ndim == 2:
            dy3 = layout.to_channels_last(dy.astype(x_hat.dtype, copy=False)).reshape(h3.shape)
            sum_dy, sum_dy_x_hat = rows.gradient_sums(dy3, h3)
        else:
            dy3 = np.ascontiguousarray(dy, dtype=x_hat.dtype).reshape(h3.shape)
            sum_dy = np.empty(self.num_features, np.float64)
            sum_dy_x_hat = np.empty(self.num_features, np.float64)
            parallel.split(lambda a, b: kernels.gradient_sums(dy3, h3, sum_dy, sum_dy_x_hat,
                                                              a, b), self.num_features,
                           dy3.size)
        if self.affine:
            self.weight.grad += sum_dy_x_hat.astype(x_hat.dtype)
        if self.bias is not None:
            self.bias.grad += sum_dy.astype(x_hat.dtype)
        weight = self.weight.data if self.affine else 1.0
        count = h3.size // self.num_features
        scale, mean_dy, mean_dy_x_hat = ((weight * inv_std).astype(x_hat.dtype),
                                         (sum_dy / count).astype(x_hat.dtype),
                                         (sum_dy_x_hat / count).astype(x_hat.dtype))
        if h3.ndim == 2:
            dx = rows.input_gradient(dy3, h3, scale, mean_dy, mean_dy_x_hat)
        else:
            dx = np.empty_like(dy3)
            parallel.split(lambda a, b: kernels.input_gradient(
                dy3[a:b], h3[a:b], scale, mean_dy, mean_dy_x_hat, dx[a:b]), len(dy3),
                dy3.size)
        return self._shaped_like(dx, x_hat)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input."""

    _ndims = (2, 3)
    _shape_text = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input."""

    _ndims = (4,)
    _shape_text = "(N, {C}, H, W)"


class LayerNorm(_Normalization):
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
        self.eps = check_number(eps, "LayerNorm: eps", minimum=0)
        self.elementwise_affine = check_bool(elementwise_affine, "LayerNorm: elementwise_affine")
        self._init_affine(self.normalized_shape, dtype, self.elementwise_affine,
                          check_bool(bias, "LayerNorm: bias"))

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
        dx_hat = self._affine_backward(dy, x_hat, batch_axes, self.normalized_shape)
        axes = tuple(range(x_hat.ndim - k, x_hat.ndim))
        return _normalise_backward(dx_hat, x_hat, inv_std, axes)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(_Normalization):
    """Splits the C channels into ``num_groups`` groups and normalises each group of each
    sample over its channels and spatial positions, as torch.

    Shapes: x (N, C, *) -> y of the same shape; weight and bias (C,) (weight 1, bias 0
    initially), absent when ``affine`` is False; ``bias=False`` drops only the bias.
    ``GroupNorm(1, C)`` normalises each sample over (C, *); ``GroupNorm(C, C)`` each channel.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, *, bias: bool = True, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.num_groups = check_int(num_groups, "GroupNorm: num_groups", minimum=1)
        self.num_channels = check_int(num_channels, "GroupNorm: num_channels", minimum=1)
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.eps = check_number(eps, "GroupNorm: eps", minimum=0)
        self.affine = check_bool(affine, "GroupNorm: affine")
        self._init_affine(self.num_channels, dtype, self.affine,
                          check_bool(bias, "GroupNorm: bias"))

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
        dx_hat = self._affine_backward(dy, x_hat, axes, (1, -1) + (1,) * (dy.ndim - 2))
        grouped = self._grouped_shape(dy.shape)
        dx = _normalise_backward(dx_hat.reshape(grouped), x_hat.reshape(grouped), inv_std, (2,))
        return dx.reshape(dy.shape)

    def _grouped_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        # explicit sizes (not -1): an empty batch must reshape too
        return shape[0], self.num_groups, math.prod(shape[1:]) // self.num_groups

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")
