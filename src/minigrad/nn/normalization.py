"""BatchNorm1d and BatchNorm2d with torch's running-statistics semantics."""

from __future__ import annotations

import numpy as np

from minigrad.nn import init
from minigrad.nn.module import DEFAULT_DTYPE, Module, Parameter, as_float_dtype
from minigrad.nn.validation import (
    check_dtype_matches,
    check_float_input,
    check_grad_shape,
    describe,
    require_forward,
)


class _BatchNorm(Module):
    """Normalises each channel over the batch (and spatial) axes.

    Training: uses the batch mean and biased variance, and updates
    ``running = (1 - momentum) * running + momentum * batch`` with the UNBIASED batch
    variance (momentum=None: cumulative average), counting ``num_batches_tracked``.
    Eval: uses the running statistics. Exactly torch's semantics.
    """

    _ndims: tuple[int, ...] = ()
    _shape_text = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *,
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dt = as_float_dtype(dtype)
        self.weight = Parameter(np.ones(num_features, dtype=dt)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dt)) if affine else None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dt))
            self.register_buffer("running_var", np.ones(num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        self._dtype = dt
        self._cache = None

    def reset_parameters(self, generator=None) -> _BatchNorm:
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)
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
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            count = x.size // self.num_features
            if count < 2 and self.training:
                raise ValueError(f"{describe(self)} needs more than 1 value per channel in "
                                 f"training, got input of shape {x.shape}")
            mean = x.mean(axis=axes)
            centered = x - mean.reshape(view)
            var = np.square(centered).mean(axis=axes)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, count)
        else:
            mean, var = self.running_mean, self.running_var
            centered = x - mean.reshape(view)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = centered * inv_std.reshape(view)
        self._cache = (x_hat, inv_std, use_batch_stats, axes, view)
        if not self.affine:
            return x_hat
        return x_hat * self.weight.data.reshape(view) + self.bias.data.reshape(view)

    def _update_running_stats(self, mean, var, count):
        tracked = self.num_batches_tracked + 1
        self.set_buffer("num_batches_tracked", np.array(tracked, dtype=np.int64))
        factor = 1.0 / float(tracked) if self.momentum is None else self.momentum
        unbiased = var * (count / (count - 1))
        self.running_mean[...] = (1 - factor) * self.running_mean + factor * mean
        self.running_var[...] = (1 - factor) * self.running_var + factor * unbiased

    def backward(self, dy: np.ndarray) -> np.ndarray:
        require_forward(self, self._cache)
        x_hat, inv_std, use_batch_stats, axes, view = self._cache
        check_grad_shape(self, dy, x_hat.shape)
        if self.affine:
            self.weight.grad += (dy * x_hat).sum(axis=axes)
            self.bias.grad += dy.sum(axis=axes)
            dx_hat = dy * self.weight.data.reshape(view)
        else:
            dx_hat = dy
        if not use_batch_stats:
            return dx_hat * inv_std.reshape(view)
        mean_dx_hat = dx_hat.mean(axis=axes).reshape(view)
        mean_dx_hat_x_hat = (dx_hat * x_hat).mean(axis=axes).reshape(view)
        return (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat) * inv_std.reshape(view)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input."""

    _ndims = (2, 3)
    _shape_text = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input."""

    _ndims = (4,)
    _shape_text = "(N, {C}, H, W)"
