"""Conv2d with three algorithms: im2col + GEMM (general), Winograd F(4x4, 3x3) (3x3 kernels,
stride 1) and a direct numba kernel (few channels)."""

from __future__ import annotations

import numpy as np

from minigrad import parallel
from minigrad.checks import check_bool, check_choice, check_int
from minigrad.kernels import conv_direct
from minigrad.nn import conv_direct_simd as direct_simd
from minigrad.nn import conv_gemm as gemm
from minigrad.nn import conv_winograd as winograd
from minigrad.nn import init, layout
from minigrad.nn.module import DEFAULT_DTYPE, Module, Parameter, as_float_dtype, is_grad_enabled
from minigrad.nn.validation import (
    check_dtype_matches,
    check_float_input,
    check_grad_shape,
    describe,
    pair,
)

ALGORITHMS = ("auto", "im2col", "winograd", "direct")


class Conv2d(Module):
    """2-D cross-correlation, as torch.nn.Conv2d (groups=1, dilation=1).

    Shapes: x (N, C_in, H, W) -> y (N, C_out, OH, OW) with OH = (H + 2*ph - kh) // sh + 1;
    weight (C_out, C_in, kh, kw), bias (C_out,).

    ``algorithm``: "im2col" unfolds input windows into a column matrix and does one GEMM per
    chunk of samples (``conv_gemm``); "winograd" (3x3 kernels, stride 1, padding <= 2) does
    4x fewer multiplications through 6x6-tile transforms (``conv_winograd``); "direct"
    loops over the kernel in numba, which wins when ``in_channels * out_channels`` is small
    (the column matrix is then mostly memory traffic). With both channel counts
    whole SIMD vectors (multiples of 16 in float32, 8 in float64) and padding below the
    kernel size, direct runs the register-blocked channels-last kernel
    (``conv_direct_simd``), else the NCHW loops (``kernels.conv_direct``). "auto" picks
    direct when that product is at most ``DIRECT_MAX_CHANNEL_PRODUCT``; where the SIMD
    kernel applies, also up to ``DIRECT_SIMD_MAX_CHANNEL_PRODUCT`` at stride 1 and up to
    ``DIRECT_SIMD_MAX_STRIDED_PRODUCT`` for a strided kernel larger than 1x1; else Winograd
    where it applies and both channel counts are at least ``WINOGRAD_MIN_CHANNELS``; else
    im2col.
    The im2col, Winograd and SIMD direct paths return channels-last memory under the (N,
    C_out, OH, OW) shape (``nn.layout``), as does their input gradient.

    ``scratch_bytes`` (class-wide, or per instance; default 64 MiB) bounds the scratch memory
    of the im2col and Winograd paths: the batch is processed in chunks whose buffers fit in it
    (see ``_chunk_size`` for how chunks are sized).
    """

    DIRECT_MAX_CHANNEL_PRODUCT = 256
    DIRECT_SIMD_MAX_CHANNEL_PRODUCT = 32 * 32
    DIRECT_SIMD_MAX_STRIDED_PRODUCT = 64 * 128
    WINOGRAD_MIN_CHANNELS = 16
    scratch_bytes = 64 * 2**20
    chunk_bytes = 8 * 2**20
    MIN_GEMM_COLUMNS = 768

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, *, dtype=DEFAULT_DTYPE,
                 generator: np.random.Generator | None = None, algorithm: str = "auto"):
        super().__init__()
        check_choice(algorithm, "Conv2d: algorithm", ALGORITHMS)
        self.in_channels = check_int(in_channels, "Conv2d: in_channels", minimum=1)
        self.out_channels = check_int(out_channels, "Conv2d: out_channels", minimum=1)
        self.kernel_size = pair(kernel_size, "Conv2d kernel_size")
        self.stride = pair(stride, "Conv2d stride")
        self.padding = pair(padding, "Conv2d padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"Conv2d needs kernel_size >= 1, stride >= 1 and padding >= 0, got kernel_size="
                f"{self.kernel_size}, stride={self.stride}, padding={self.padding}")
        if algorithm == "winograd" and not winograd.applicable(self.kernel_size, self.stride,
                                                               self.padding):
            raise ValueError(
                "Conv2d algorithm='winograd' needs kernel_size=3, stride=1 and padding <= 2, "
                f"got kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")
        self.algorithm = algorithm
        self._eval_weights = winograd.EvalWeights()
        dt = as_float_dtype(dtype)
        self.weight = Parameter(
            np.empty((self.out_channels, self.in_channels) + self.kernel_size, dtype=dt))
        bias = check_bool(bias, "Conv2d: bias")
        self.bias = Parameter(np.empty(self.out_channels, dtype=dt)) if bias else None
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> Conv2d:
        init.default_init_(self.weight, self.bias, generator)
        return self

    def chosen_algorithm(self) -> str:
        if self.algorithm != "auto":
            return self.algorithm
        product = self.in_channels * self.out_channels
        if product <= self.DIRECT_MAX_CHANNEL_PRODUCT:
            return "direct"
        if direct_simd.applicable(self.in_channels, self.out_channels, self.kernel_size,
                                  self.stride, self.padding, self.weight.data.itemsize):
            if self.stride == (1, 1) and product <= self.DIRECT_SIMD_MAX_CHANNEL_PRODUCT:
                return "direct"
            strided = self.stride != (1, 1) and self.kernel_size != (1, 1)
            if strided and product <= self.DIRECT_SIMD_MAX_STRIDED_PRODUCT:
                return "direct"
        wide = min(self.in_channels, self.out_channels) >= self.WINOGRAD_MIN_CHANNELS
        if wide and winograd.applicable(self.kernel_size, self.stride, self.padding):
            return "winograd"
        return "im2col"

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1

    # -- forward ----------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, (4,), f"(N, {self.in_channels}, H, W)")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{describe(self)} expected input of shape "
                             f"(N, {self.in_channels}, H, W), got input of shape {x.shape}")
        check_dtype_matches(self, x, self.weight.data.dtype)
        oh, ow = self.output_size(x.shape[2], x.shape[3])
        if oh < 1 or ow < 1:
            raise ValueError(f"{describe(self)}: input of shape {x.shape} is smaller than the "
                             f"(padded) kernel {self.kernel_size}")
        if x.shape[0] == 0:  # an empty batch gives an empty output, as in torch
            self.save_for_backward("empty", x.shape, x, None)
            return np.empty((0, self.out_channels, oh, ow), dtype=x.dtype)
        algorithm = self.chosen_algorithm()
        if algorithm == "direct":
            return self._forward_direct(x, oh, ow)
        if algorithm == "winograd":
            return self._forward_winograd(x, oh, ow)
        return self._forward_im2col(x, oh, ow)

    def _forward_direct(self, x, oh, ow):
        if direct_simd.applicable(self.in_channels, self.out_channels, self.kernel_size,
                                  self.stride, self.padding, x.itemsize):
            y, x_last = direct_simd.forward(x, self.weight.data, self._bias_or_zeros(x.dtype),
                                            self.stride, self.padding, (oh, ow))
            self.save_for_backward("direct_simd", x.shape, x_last, None)
            return y
        ph, pw = self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
        xp = np.ascontiguousarray(xp)
        n, channels = xp.shape[:2]
        if self.stride == (1, 1):
            y = np.empty((n, self.out_channels, oh, ow), dtype=x.dtype)
            planes, bias = xp.reshape(n, channels, -1), self._bias_or_zeros(x.dtype)
            parallel.split(lambda a, b: conv_direct.forward_wide(
                planes[a:b], self.weight.data, bias, y[a:b]), n)
        else:
            y = self._output_with_bias(n, oh, ow, x.dtype)
            conv_direct.forward(xp, self.weight.data, *self.stride, y)
        self.save_for_backward("direct", x.shape, xp, None)
        return y

    def _bias_or_zeros(self, dtype) -> np.ndarray:
        """(C_out,): the bias, or zeros for a layer without one (the kernels add either)."""
        return np.zeros(self.out_channels, dtype) if self.bias is None else self.bias.data

    def _output_with_bias(self, n, oh, ow, dtype):
        y = np.empty((n, self.out_channels, oh, ow), dtype=dtype)
        y[...] = self._bias_or_zeros(dtype)[:, None, None]
        return y

    def _chunk_size(self, n: int, per_sample: int, columns: int, min_columns: int) -> int:
        """Samples per chunk of the im2col and Winograd paths, from the scratch bytes and
        the GEMM columns one sample takes.

        The whole batch if its scratch fits in ``scratch_bytes`` (then the transformed
        input is kept for backward). Otherwise chunks of about ``chunk_bytes``, whose buffers
        stay in the CPU cache between the transforms and the GEMMs, but at least
        ``min_columns`` GEMM columns wide (skinnier GEMMs waste the BLAS), and never past
        ``scratch_bytes``.
        """
        limit = max(1, int(self.scratch_bytes // per_sample))
        if n <= limit:
            return n
        cache_sized = int(min(self.chunk_bytes, self.scratch_bytes) // per_sample)
        wide_enough = -(-min_columns // columns)
        return min(limit, max(1, cache_sized, wide_enough))

    def _im2col_chunk_size(self, x, oh, ow) -> int:
        per_sample = gemm.bytes_per_sample(self.in_channels, self.kernel_size, (oh, ow),
                                           x.itemsize)
        return self._chunk_size(x.shape[0], per_sample, oh * ow, self.MIN_GEMM_COLUMNS)

    def _winograd_chunk_size(self, shape, itemsize, channels_last: bool = True,
                             grad_channels_last: bool = True) -> int:
        """Samples per chunk of the Winograd path: as many as fit in ``scratch_bytes`` beside
        the transformed weights (at least one), with room for a chunk's channels-last copy
        of the input unless it is ``channels_last`` already (and, in backward, of the output
        gradient unless ``grad_channels_last``). Unlike im2col's, its buffers come from the
        reused workspace, and fewer, longer GEMMs measured faster than cache-sized chunks
        (docs/design.md, Bounded scratch memory)."""
        out_size = self.output_size(*shape[2:])
        budget = self.scratch_bytes - winograd.fixed_bytes(self.in_channels,
                                                           self.out_channels, itemsize)
        per_sample_copy = ((0 if channels_last else int(np.prod(shape[1:])))
                           + (0 if grad_channels_last else self.out_channels * out_size[0]
                              * out_size[1])) * itemsize
        low, high = 1, shape[0]  # the largest chunk that fits: chunk_bytes grows with it
        while low < high:
            middle = (low + high + 1) // 2
            fits = winograd.chunk_bytes(self.in_channels, self.out_channels, out_size, middle,
                                        itemsize) + middle * per_sample_copy <= budget
            low, high = (middle, high) if fits else (low, middle - 1)
        return low

    def _forward_im2col(self, x, oh, ow):
        x_last = layout.to_channels_last(x)
        chunk = self._im2col_chunk_size(x, oh, ow)
        y = gemm.forward(x_last, self.weight.data, None if self.bias is None else
                         self.bias.data, self._geometry(), chunk, (oh, ow))
        self.save_for_backward("im2col", x.shape, x_last, None)
        return layout.from_channels_last(y)

    def _geometry(self):
        return self.kernel_size, self.stride, self.padding

    def _forward_winograd(self, x, oh, ow):
        # (N, H, W, C) view: no copy. An NCHW x is made channels-last a chunk at a time
        # inside ``winograd.forward`` (and again in backward), so that no copy of the whole
        # batch outlives the call or is kept for backward (the saved input is x itself)
        x_last = x.transpose(0, 2, 3, 1)
        chunk = self._winograd_chunk_size(x.shape, x.itemsize, x_last.flags.c_contiguous)
        # In training, the transformed weights (and the transformed input, if the batch is
        # one chunk) are kept for backward instead of being computed again there; in eval
        # mode the transformed weights are reused while the weights stay the same
        if self.training:
            self._eval_weights.clear()
        u = None if self.training else self._eval_weights.get(self.weight.data)
        y, kept = winograd.forward(x_last, self.weight.data, self._bias_or_zeros(x.dtype),
                                   self.padding, chunk, (oh, ow),
                                   keep=self.training and is_grad_enabled(), u=u)
        self.save_for_backward("winograd", x.shape, x_last, kept)
        return layout.from_channels_last(y)

    # -- backward ---------------------------------------------------------------
    def backward(self, dy: np.ndarray) -> np.ndarray:
        saved = (algorithm, shape, x, kept) = self.pop_saved()
        oh, ow = self.output_size(shape[2], shape[3])
        check_grad_shape(self, dy, (shape[0], self.out_channels, oh, ow), saved)
        if algorithm == "winograd":  # sums the bias gradient itself
            dy_last = dy.transpose(0, 2, 3, 1)  # a view; an NCHW dy is copied per chunk
            chunk = self._winograd_chunk_size(shape, x.itemsize, x.flags.c_contiguous,
                                              dy_last.flags.c_contiguous)
            dx = winograd.backward(x, dy_last, self.weight.data,
                                   self.padding, chunk, self.weight.grad,
                                   None if self.bias is None else self.bias.grad, kept)
            return layout.from_channels_last(dx)
        if algorithm == "direct_simd":  # sums the bias gradient itself
            return direct_simd.backward(x, dy, self.weight.data, self.stride, self.padding,
                                        self.weight.grad,
                                        None if self.bias is None else self.bias.grad)
        if algorithm == "im2col":
            chunk = self._im2col_chunk_size(x, oh, ow)
            dy_last = layout.to_channels_last(dy)
            if self.bias is not None:
                self.bias.grad += dy_last.reshape(-1, self.out_channels).sum(
                    axis=0, dtype=np.float64).astype(dy.dtype)
            return layout.from_channels_last(gemm.backward(x, dy_last, self.weight.data,
                                                           self._geometry(), chunk,
                                                           self.weight.grad))
        dy = np.ascontiguousarray(dy)
        if algorithm == "direct" and self.stride == (1, 1):
            return self._backward_direct_wide(dy, shape, x)  # sums the bias gradient itself
        if self.bias is not None:
            self.bias.grad += dy.sum(axis=(0, 2, 3))
        if algorithm == "empty":
            return np.zeros(shape, dtype=dy.dtype)
        return self._backward_direct(dy, shape, x)

    def _backward_direct_wide(self, dy, shape, xp):
        dxp = np.empty_like(xp)  # the kernel writes every element
        n, channels = xp.shape[:2]
        planes, dplanes = xp.reshape(n, channels, -1), dxp.reshape(n, channels, -1)

        def samples(a, b):  # their input gradient, and their share of dweight and dbias
            dweight = np.zeros_like(self.weight.grad)
            dbias = np.zeros(self.out_channels, dy.dtype)
            conv_direct.backward_wide(planes[a:b], self.weight.data, dy[a:b], dweight, dbias,
                                      dplanes[a:b])
            return dweight, dbias

        for dweight, dbias in parallel.split(samples, n):
            self.weight.grad += dweight
            if self.bias is not None:
                self.bias.grad += dbias
        return self._unpadded(dxp, shape)

    def _backward_direct(self, dy, shape, xp):
        dxp = np.zeros_like(xp)
        conv_direct.backward(xp, self.weight.data, dy, *self.stride,
                             self.weight.grad, dxp)
        return self._unpadded(dxp, shape)

    def _unpadded(self, dxp, shape):
        """The gradient of the unpadded input, from that of the padded one."""
        ph, pw = self.padding
        if not (ph or pw):
            return dxp
        return np.ascontiguousarray(dxp[:, :, ph:ph + shape[2], pw:pw + shape[3]])

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.bias is None:
            text += ", bias=False"
        return text
