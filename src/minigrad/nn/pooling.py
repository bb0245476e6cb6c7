"""MaxPool2d, AvgPool2d and AdaptiveAvgPool2d over (N, C, H, W)."""

from __future__ import annotations

import numpy as np

from minigrad import parallel
from minigrad.checks import check_bool
from minigrad.kernels import pooling as kernels
from minigrad.kernels import pooling_channels_last as channels_last
from minigrad.nn import layout
from minigrad.nn.module import Module
from minigrad.nn.validation import check_float_input, check_grad_shape, describe, pair


class _Pool2d(Module):
    """``kernel_size``, ``stride`` and ``padding`` are pairs; the repr shows them as given,
    as torch's does (``kernel_size=2``)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self._given = (kernel_size, kernel_size if stride is None else stride, padding)
        self.kernel_size = pair(kernel_size, f"{type(self).__name__} kernel_size")
        self.stride = self.kernel_size if stride is None else pair(
            stride, f"{type(self).__name__} stride")
        self.padding = pair(padding, f"{type(self).__name__} padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"{type(self).__name__} needs kernel_size and stride >= 1")
        if any(p < 0 or p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{type(self).__name__} padding must be between 0 and half the "
                             f"kernel size, got padding={self.padding}, "
                             f"kernel_size={self.kernel_size}")

    def _output_shape(self, x: np.ndarray) -> tuple[int, int, int, int]:
        check_float_input(self, x, (4,), "(N, C, H, W)")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oh = (x.shape[2] + 2 * ph - kh) // sh + 1
        ow = (x.shape[3] + 2 * pw - kw) // sw + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"{describe(self)}: input of shape {x.shape} is smaller than the "
                             f"kernel {self.kernel_size}")
        return x.shape[0], x.shape[1], oh, ow

    def _window_args(self):
        return (*self.kernel_size, *self.stride, *self.padding)


class MaxPool2d(_Pool2d):
    """Max over k x k windows (stride defaults to kernel_size); padding counts as -inf.

    torch's ``dilation`` and ``ceil_mode`` are not supported: the repr states their values
    here (1 and False), as torch's repr does.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        out_shape = self._output_shape(x)
        if layout.is_channels_last(x) and not x.flags.c_contiguous:
            return self._forward_channels_last(x, out_shape)
        y = np.empty(out_shape, dtype=x.dtype)
        argmax = np.empty(out_shape, dtype=np.int64)
        if self._window_args() == (2, 2, 2, 2, 0, 0):
            kernels.max_pool_2x2(x, y, argmax)
        else:
            kernels.max_pool_forward(x, *self._window_args(), y, argmax)
        self.save_for_backward(x.shape, x.dtype, argmax, False)
        return y

    def _forward_channels_last(self, x, out_shape):
        """Channels-last input (``nn.layout``) gives channels-last output."""
        n, channels, oh, ow = out_shape
        y = np.empty((n, oh, ow, channels), dtype=x.dtype)
        argmax = np.empty((n, oh, ow, channels), dtype=np.int32)
        x_last, window = layout.to_channels_last(x), self._window_args()
        parallel.split(lambda a, b: channels_last.max_pool_forward(
            x_last[a:b], *window, y[a:b], argmax[a:b]), n, x.size)
        self.save_for_backward(x.shape, x.dtype, argmax, True)
        return layout.from_channels_last(y)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        saved = (shape, dtype, argmax, channels_last_saved) = self.pop_saved()
        if channels_last_saved:
            n, oh, ow, channels = argmax.shape
            check_grad_shape(self, dy, (n, channels, oh, ow), saved)
            dx = np.empty((shape[0], shape[2], shape[3], shape[1]), dtype=dtype)
            dy_last, window = layout.to_channels_last(dy), self._window_args()
            parallel.split(lambda a, b: channels_last.max_pool_backward(
                dy_last[a:b], argmax[a:b], *window, dx[a:b]), n, dx.size)
            return layout.from_channels_last(dx)
        check_grad_shape(self, dy, argmax.shape, saved)
        dx = np.zeros(shape, dtype=dtype)
        kernels.max_pool_backward(dy, argmax, dx)
        return dx

    def extra_repr(self) -> str:
        kernel_size, stride, padding = self._given
        return (f"kernel_size={kernel_size}, stride={stride}, padding={padding}, dilation=1, "
                "ceil_mode=False")


class AvgPool2d(_Pool2d):
    """Mean over k x k windows; ``count_include_pad`` as in torch."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = check_bool(count_include_pad, "AvgPool2d: count_include_pad")

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = np.empty(self._output_shape(x), dtype=x.dtype)
        kernels.avg_pool_forward(x, *self._window_args(), self.count_include_pad, y)
        self.save_for_backward(x.shape, x.dtype, y.shape)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        saved = (shape, dtype, out_shape) = self.pop_saved()
        check_grad_shape(self, dy, out_shape, saved)
        dx = np.zeros(shape, dtype=dtype)
        kernels.avg_pool_backward(dy, *self._window_args(), self.count_include_pad, dx)
        return dx

    def extra_repr(self) -> str:
        kernel_size, stride, padding = self._given
        return f"kernel_size={kernel_size}, stride={stride}, padding={padding}"


class AdaptiveAvgPool2d(Module):
    """Averages into a fixed (OH, OW) grid with torch's bin edges; any input size works.

    For the global average ((1, 1)), the input gradient has the input's layout
    (channels-last memory stays channels-last, ``nn.layout``)."""

    def __init__(self, output_size):
        super().__init__()
        self._given = output_size
        self.output_size = pair(output_size, "AdaptiveAvgPool2d output_size")
        if min(self.output_size) < 1:
            raise ValueError(f"AdaptiveAvgPool2d output_size must be >= 1, got {output_size}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, (4,), "(N, C, H, W)")
        y = np.empty(x.shape[:2] + self.output_size, dtype=x.dtype)
        if self.output_size == (1, 1):
            y[...] = x.mean(axis=(2, 3), keepdims=True)
        else:
            kernels.adaptive_avg_pool_forward(x, y)
        self.save_for_backward(x.shape, x.dtype, layout.is_channels_last(x))
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        saved = (shape, dtype, channels_last) = self.pop_saved()
        check_grad_shape(self, dy, shape[:2] + self.output_size, saved)
        if self.output_size == (1, 1):
            scale = np.asarray(1.0 / (shape[2] * shape[3]), dtype=dtype)
            dx = layout.allocate(shape, dtype, channels_last)
            dx[...] = dy * scale  # (N, C, 1, 1) broadcast over the map
            return dx
        dx = np.zeros(shape, dtype=dtype)
        kernels.adaptive_avg_pool_backward(dy, dx)
        return dx

    def extra_repr(self) -> str:
        return f"output_size={self._given}"
