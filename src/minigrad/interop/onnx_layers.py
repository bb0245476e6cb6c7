"""The ONNX form of each built-in layer, in eval-mode semantics (one converter per layer).

A converter is ``convert(graph, module, x) -> str``: it writes the layer applied to value
``x`` into ``graph`` (an ``OnnxGraph``) and returns its output value. Adding a layer is one
function decorated with ``@converts(LayerClass)``. Lookup is by exact class: a subclass may
compute something else in its forward, so it needs a converter or a ``to_onnx`` of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from minigrad import nn
from minigrad.kernels import activation as activation_kernels

CONVERTERS: dict[type, Callable] = {}


def converts(*classes: type) -> Callable:
    """Registers the decorated function as the converter of ``classes``."""
    def register(function: Callable) -> Callable:
        for cls in classes:
            CONVERTERS[cls] = function
        return function
    return register


def converter_for(module: nn.Module) -> Callable | None:
    """The module's own ``to_onnx`` method if it has one, else its built-in converter."""
    if callable(getattr(type(module), "to_onnx", None)):
        return lambda graph, m, x: m.to_onnx(graph, x)
    return CONVERTERS.get(type(module))


# -- containers and identities ------------------------------------------------------------
@converts(nn.Sequential)
def _sequential(graph, sequential, x):
    for child in sequential:
        x = graph.emit(child, x)
    return x


@converts(nn.Identity, nn.Dropout)
def _identity(graph, module, x):
    # Dropout is the identity in eval mode, the semantics of every export
    return graph.add_node("Identity", [x])


@converts(nn.Flatten)
def _flatten(graph, flatten, x):
    shape = graph.shape(x)
    start, end = flatten.start_dim % len(shape), flatten.end_dim % len(shape)
    if start == 1 and end == len(shape) - 1:
        return graph.add_node("Flatten", [x], axis=1)
    trailing = shape[end + 1:]
    if not all(isinstance(d, int) and d > 0 for d in trailing):
        raise graph.error(f"it keeps dimensions {trailing} that are not static")
    # Reshape's 0 copies the input dimension at the same index: the leading ones (the batch)
    target = [0] * start + [-1] + list(trailing)
    return graph.add_node("Reshape", [x, graph.constant(target, "shape")])


# -- layers with parameters ---------------------------------------------------------------
@converts(nn.Linear)
def _linear(graph, linear, x):
    weight = graph.parameter(linear, "weight")
    bias = [graph.parameter(linear, "bias")] if linear.bias is not None else []
    if len(graph.shape(x)) == 2:
        return graph.add_node("Gemm", [x, weight, *bias], transB=1)
    y = graph.add_node("MatMul", [x, graph.add_node("Transpose", [weight], perm=[1, 0])])
    return graph.add_node("Add", [y, *bias]) if bias else y


@converts(nn.Conv2d)
def _conv2d(graph, conv, x):
    inputs = [x, graph.parameter(conv, "weight")]
    if conv.bias is not None:
        inputs.append(graph.parameter(conv, "bias"))
    ph, pw = conv.padding
    return graph.add_node("Conv", inputs, kernel_shape=list(conv.kernel_size),
                          strides=list(conv.stride), pads=[ph, pw, ph, pw])


@converts(nn.BatchNorm1d, nn.BatchNorm2d)
def _batch_norm(graph, norm, x):
    if norm.affine:
        scale, bias = graph.parameter(norm, "weight"), graph.parameter(norm, "bias")
    else:
        scale = graph.constant(np.ones(norm.num_features), "scale")
        bias = graph.constant(np.zeros(norm.num_features), "bias")
    if norm.track_running_stats:
        return graph.add_node("BatchNormalization", [
            x, scale, bias, graph.parameter(norm, "running_mean"),
            graph.parameter(norm, "running_var")], epsilon=norm.eps)
    # Without running statistics eval mode normalises with the batch's own mean and biased
    # variance, as in training: ONNX's BatchNormalization has no such inference mode.
    rank = len(graph.shape(x))
    axes = [0, *range(2, rank)]
    centred = graph.add_node("Sub", [x, _reduce_mean(graph, x, axes)])
    variance = _reduce_mean(graph, graph.add_node("Mul", [centred, centred]), axes)
    std = graph.add_node("Sqrt", [graph.add_node("Add", [variance,
                                                         graph.constant(norm.eps, "eps")])])
    normalised = graph.add_node("Div", [centred, std])
    per_channel = graph.constant([-1] + [1] * (rank - 2), "channel_shape")
    scaled = graph.add_node("Mul", [normalised, graph.add_node("Reshape", [scale, per_channel])])
    return graph.add_node("Add", [scaled, graph.add_node("Reshape", [bias, per_channel])])


def _reduce_mean(graph, x, axes):
    if graph.opset >= 18:  # axes moved from an attribute to an input
        return graph.add_node("ReduceMean", [x, graph.constant(axes, "axes")], keepdims=1)
    return graph.add_node("ReduceMean", [x], axes=axes, keepdims=1)


# -- pooling ------------------------------------------------------------------------------
def _window(pool) -> dict:
    ph, pw = pool.padding
    return dict(kernel_shape=list(pool.kernel_size), strides=list(pool.stride),
                pads=[ph, pw, ph, pw])


@converts(nn.MaxPool2d)
def _max_pool(graph, pool, x):
    return graph.add_node("MaxPool", [x], **_window(pool))


@converts(nn.AvgPool2d)
def _avg_pool(graph, pool, x):
    return graph.add_node("AveragePool", [x], count_include_pad=int(pool.count_include_pad),
                          **_window(pool))


@converts(nn.AdaptiveAvgPool2d)
def _adaptive_avg_pool(graph, pool, x):
    height, width = graph.shape(x)[2:]
    bins_h, bins_w = pool.output_size
    if (bins_h, bins_w) == (1, 1):
        return graph.add_node("GlobalAveragePool", [x])
    if not (isinstance(height, int) and isinstance(width, int)):
        raise graph.error(f"it needs a static input size, got {height} x {width}")
    if height % bins_h == 0 and width % bins_w == 0:  # torch's bins are then equal windows
        kernel = [height // bins_h, width // bins_w]
        return graph.add_node("AveragePool", [x], kernel_shape=kernel, strides=kernel)
    # Unequal bins: each output is a mean over rows and over columns, two matrix products
    rows = graph.constant(_bin_means(height, bins_h), "row_bins")  # (OH, H)
    columns = graph.constant(_bin_means(width, bins_w).T, "column_bins")  # (W, OW)
    return graph.add_node("MatMul", [graph.add_node("MatMul", [rows, x]), columns])


def _bin_means(size: int, bins: int) -> np.ndarray:
    """(bins, size): row i averages torch's bin i, floor(i size / bins) to ceil(...)."""
    means = np.zeros((bins, size))
    for i in range(bins):
        start, end = (i * size) // bins, -((-(i + 1) * size) // bins)
        means[i, start:end] = 1.0 / (end - start)
    return means


# -- activations --------------------------------------------------------------------------
_ELEMENTWISE = {nn.ReLU: "Relu", nn.Sigmoid: "Sigmoid", nn.Tanh: "Tanh"}


@converts(*_ELEMENTWISE)
def _elementwise(graph, module, x):
    return graph.add_node(_ELEMENTWISE[type(module)], [x])


@converts(nn.Softmax, nn.LogSoftmax)
def _softmax(graph, softmax, x):
    # from opset 13 on both normalise along one axis, as torch's dim
    return graph.add_node(type(softmax).__name__, [x], axis=softmax.dim)


@converts(nn.GELU)
def _gelu(graph, gelu, x):
    if graph.opset >= 20:
        return graph.add_node("Gelu", [x], approximate=gelu.approximate)
    # (0.5 x) (1 + erf(x / sqrt 2)) or (0.5 x) (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); the
    # erf form written as the pattern onnxruntime fuses back into its Gelu kernel (x / sqrt 2,
    # not x * sqrt(1/2), and 0.5 x first)
    if gelu.approximate == "tanh":
        cube = graph.add_node("Pow", [x, graph.constant(3.0, "three")])
        cubic = graph.add_node("Mul", [cube, graph.constant(activation_kernels.TANH_CUBIC,
                                                            "cubic")])
        inner = graph.add_node("Mul", [graph.add_node("Add", [x, cubic]), graph.constant(
            activation_kernels.TANH_SCALE, "scale")])
        shape = graph.add_node("Tanh", [inner])
    else:
        shape = graph.add_node("Erf", [graph.add_node("Div", [x, graph.constant(
            math.sqrt(2.0), "sqrt_2")])])
    half_x = graph.add_node("Mul", [x, graph.constant(0.5, "half")])
    return graph.add_node("Mul", [half_x, graph.add_node("Add", [shape, graph.constant(
        1.0, "one")])])
