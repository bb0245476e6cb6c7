"""ConvTranspose2d: the adjoint of Conv2d, as torch.nn.ConvTranspose2d (dilation 1)."""

from __future__ import annotations

import numpy as np

from minigrad.checks import check_int
from minigrad.kernels import im2col as kernels
from minigrad.nn import init
from minigrad.nn.module import DEFAULT_DTYPE, Module, Parameter, as_float_dtype
from minigrad.nn.validation import (
    check_dtype_matches,
    check_float_input,
    check_grad_shape,
    describe,
    pair,
)


class ConvTranspose2d(Module):
    """Transposed 2-D convolution ("deconvolution"), torch's semantics and weight layout.

    Shapes: x (N, C_in, H, W) -> y (N, C_out, OH, OW) with
    OH = (H - 1) * sh - 2 * ph + kh + output_padding_h (likewise OW); weight
    (C_in, C_out / groups, kh, kw), bias (C_out,). Initialised as torch: kaiming_uniform
    (a=sqrt(5)) and U(+-1/sqrt(fan_in)) with fan_in = C_out / groups * kh * kw.

    Its forward is the backward of a Conv2d with the same kernel, stride and padding: each
    input pixel scatters ``weight[c_in]`` times its value into a kh x kw window of the output
    (one GEMM to the column matrix, then ``col2im``); its backward gathers them back
    (``im2col``, then GEMMs). ``output_padding`` (< stride) adds rows and columns at the
    bottom and right, choosing among the input sizes that a strided Conv2d maps to H.
    ``scratch_bytes`` (class-wide or per instance, 64 MiB) bounds the column matrix: the
    batch is processed in chunks of samples whose columns fit in it.
    """

    scratch_bytes = 64 * 2**20

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1, *,
                 dtype=DEFAULT_DTYPE, generator: np.random.Generator | None = None):
        super().__init__()
        self.in_channels = check_int(in_channels, "ConvTranspose2d: in_channels", minimum=1)
        self.out_channels = check_int(out_channels, "ConvTranspose2d: out_channels", minimum=1)
        self.groups = check_int(groups, "ConvTranspose2d: groups", minimum=1)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"ConvTranspose2d in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        self.kernel_size = pair(kernel_size, "ConvTranspose2d kernel_size")
        self.stride = pair(stride, "ConvTranspose2d stride")
        self.padding = pair(padding, "ConvTranspose2d padding")
        self.output_padding = pair(output_padding, "ConvTranspose2d output_padding")
        if pair(dilation, "ConvTranspose2d dilation") != (1, 1):
            raise ValueError(f"ConvTranspose2d supports dilation=1 only, got {dilation!r}")
        self._check_geometry()
        dt = as_float_dtype(dtype)
        self.weight = Parameter(np.empty(
            (self.in_channels, self.out_channels // self.groups) + self.kernel_size, dt))
        self.bias = Parameter(np.empty(self.out_channels, dt)) if bias else None
        self.reset_parameters(generator)

    def _check_geometry(self) -> None:
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0 \
                or min(self.output_padding) < 0:
            raise ValueError(
                "ConvTranspose2d needs kernel_size >= 1, stride >= 1, padding >= 0 and "
                f"output_padding >= 0, got kernel_size={self.kernel_size}, stride="
                f"{self.stride}, padding={self.padding}, output_padding={self.output_padding}")
        if any(op >= s for op, s in zip(self.output_padding, self.stride)):
            raise ValueError("ConvTranspose2d output_padding must be smaller than stride, got "
                             f"output_padding={self.output_padding}, stride={self.stride}")

    def reset_parameters(self, generator=None) -> ConvTranspose2d:
        # fan_in from the weight's shape[1] = C_out / groups, as torch computes it
        init.default_init_(self.weight, self.bias, generator)
        return self

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oph, opw = self.output_padding
        return (height - 1) * sh - 2 * ph + kh + oph, (width - 1) * sw - 2 * pw + kw + opw

    # -- forward ----------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        expected = f"(N, {self.in_channels}, H, W)"
        check_float_input(self, x, (4,), expected)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{describe(self)} expected input of shape {expected}, "
                             f"got input of shape {x.shape}")
        check_dtype_matches(self, x, self.weight.data.dtype)
        oh, ow = self.output_size(*x.shape[2:])
        if oh < 1 or ow < 1:
            raise ValueError(f"{describe(self)}: input of shape {x.shape} gives an empty "
                             f"output of size {(oh, ow)}")
        self.save_for_backward(x)
        n, groups = x.shape[0], self.groups
        per_group = self.out_channels // groups
        # (G, N, C_out / G, OH, OW): each group's output block is contiguous for col2im
        y = np.zeros((groups, n, per_group, oh, ow), x.dtype)
        for g in range(groups):
            weight = self._group_matrix(self.weight.data, g)
            for start, count, x_cols, cols in self._chunks(x, g):
                # (C_out/G * kh * kw, C_in/G) @ (C_in/G, n_c * H * W)
                np.matmul(weight.T, x_cols, out=cols)
                kernels.col2im(cols, *self.kernel_size, *self.stride, *self.padding,
                               *x.shape[2:], y[g, start:start + count])
        y = y[0] if groups == 1 else y.transpose(1, 0, 2, 3, 4).reshape(n, -1, oh, ow)
        if self.bias is not None:
            y += self.bias.data[:, None, None]
        return y

    def _group_matrix(self, weight: np.ndarray, g: int) -> np.ndarray:
        """(C_in / G, C_out / G * kh * kw): group ``g``'s rows of the weight (or its grad)."""
        per_group = self.in_channels // self.groups
        return weight[g * per_group:(g + 1) * per_group].reshape(per_group, -1)

    def _chunks(self, x: np.ndarray, g: int):
        """Yields (start, n_c, x_cols, cols) per chunk of n_c samples: the chunk's group-``g``
        input as (C_in / G, n_c * H * W), and a (C_out / G * kh * kw, n_c * H * W) scratch."""
        n, area = x.shape[0], x.shape[2] * x.shape[3]
        rows = self.out_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
        chunk = max(1, min(n, int(self.scratch_bytes // (rows * area * x.itemsize))))
        buffer = np.empty(rows * chunk * area, x.dtype)
        per_group = self.in_channels // self.groups
        for start in range(0, n, chunk):
            x_chunk = x[start:start + chunk, g * per_group:(g + 1) * per_group]
            count = x_chunk.shape[0]
            # (n_c, C, H, W) -> (C, n_c * H * W), the column layout of im2col
            x_cols = x_chunk.transpose(1, 0, 2, 3).reshape(per_group, count * area)
            yield start, count, x_cols, buffer[:rows * count * area].reshape(rows, count * area)

    # -- backward ---------------------------------------------------------------
    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.pop_saved()
        n, _, height, width = x.shape
        check_grad_shape(self, dy, (n, self.out_channels) + self.output_size(height, width))
        if self.bias is not None:
            self.bias.grad += dy.sum(axis=(0, 2, 3))
        dx = np.empty_like(x)
        per_in, per_out = self.in_channels // self.groups, self.out_channels // self.groups
        for g in range(self.groups):
            weight = self._group_matrix(self.weight.data, g)
            dweight = self._group_matrix(self.weight.grad, g)  # a view: += lands in the grad
            for start, count, x_cols, dcols in self._chunks(x, g):
                dy_chunk = np.ascontiguousarray(
                    dy[start:start + count, g * per_out:(g + 1) * per_out], dtype=x.dtype)
                kernels.im2col(dy_chunk, *self.kernel_size, *self.stride, *self.padding,
                               height, width, dcols)
                # the transpose of x_cols @ dcols.T: OpenBLAS computes the tall product far
                # faster than the wide one (12 ms against 230 ms for 512 x 8192 @ 8192 x 64)
                dweight += (dcols @ x_cols.T).T
                dx_cols = weight @ dcols  # (C_in / G, n_c * H * W)
                dx[start:start + count, g * per_in:(g + 1) * per_in] = dx_cols.reshape(
                    per_in, count, height, width).transpose(1, 0, 2, 3)
        return dx

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.output_padding != (0, 0):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text
