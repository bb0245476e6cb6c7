"""The ONNX form of the built-in activations (elementwise) and of Softmax / LogSoftmax."""

from __future__ import annotations

import math

import numpy as np

from minigrad import nn
from minigrad.interop.onnx_registry import converts
from minigrad.kernels import activation as activation_kernels

_ELEMENTWISE = {nn.ReLU: "Relu", nn.Sigmoid: "Sigmoid", nn.Tanh: "Tanh"}


@converts(*_ELEMENTWISE)
def _elementwise(graph, module, x):
    return graph.add_node(_ELEMENTWISE[type(module)], [x])


@converts(nn.LeakyReLU)
def _leaky_relu(graph, relu, x):
    slope = relu.negative_slope
    if _float_attribute_is_exact(graph, slope):
        return graph.add_node("LeakyRelu", [x], alpha=slope)
    negative = graph.add_node("Mul", [x, graph.constant(slope, "negative_slope")])
    return graph.add_node("Where", [_positive(graph, x), x, negative])


@converts(nn.ELU)
def _elu(graph, elu, x):
    if _float_attribute_is_exact(graph, elu.alpha):
        return graph.add_node("Elu", [x], alpha=elu.alpha)
    # alpha (exp(min(x, 0)) - 1): the min keeps exp from overflowing where x is chosen
    exp = graph.add_node("Exp", [graph.add_node("Min", [x, graph.constant(0.0, "zero")])])
    negative = graph.add_node("Mul", [graph.add_node("Sub", [exp, graph.constant(1.0, "one")]),
                                      graph.constant(elu.alpha, "alpha")])
    return graph.add_node("Where", [_positive(graph, x), x, negative])


def _float_attribute_is_exact(graph, value: float) -> bool:
    """ONNX's float attributes are float32: exact for a float32 model, and for a float64
    one only if the value is a float32 (0.25, not 0.2), else it becomes a double constant."""
    return graph.dtype == np.float32 or float(np.float32(value)) == value


def _positive(graph, x) -> str:
    return graph.add_node("Greater", [x, graph.constant(0.0, "zero")])


@converts(nn.SiLU)
def _silu(graph, silu, x):
    # x * sigmoid(x): the pattern onnxruntime fuses (ONNX's own Swish came only in opset 24)
    return graph.add_node("Mul", [x, graph.add_node("Sigmoid", [x])])


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
