"""The ONNX form of BatchNorm, LayerNorm and GroupNorm, in eval-mode semantics.

BatchNormalization is ONNX's own; LayerNorm is LayerNormalization from opset 17 and is
written out from ReduceMean below it, exactly as the layer computes it: ``(x - mean) /
sqrt(var + eps)`` with the biased variance, then the affine map. GroupNorm is always
composed, as torch's exporters write it: a Reshape to (N, G, -1), InstanceNormalization,
a Reshape back and the per-channel affine map. ONNX's GroupNormalization is no better
choice: opset 18's scaled per group, unlike torch, and was deprecated; opset 21's scales
per channel, but onnx's shape inference (1.23) gives its output no shape, which the
export's checks need.
"""

from __future__ import annotations

import math

import numpy as np

from minigrad import nn
from minigrad.interop.onnx_registry import converts

LAYER_NORMALIZATION_OPSET = 17


@converts(nn.BatchNorm1d, nn.BatchNorm2d)
def _batch_norm(graph, norm, x):
    if norm.track_running_stats:
        scale, bias = _scale_and_bias(graph, norm, norm.num_features)
        return graph.add_node("BatchNormalization", [
            x, scale, bias, graph.parameter(norm, "running_mean"),
            graph.parameter(norm, "running_var")], epsilon=norm.eps)
    # Without running statistics eval mode normalises with the batch's own mean and biased
    # variance, as in training: ONNX's BatchNormalization has no such inference mode.
    rank = len(graph.shape(x))
    return _channel_affine(graph, norm, _normalise(graph, x, [0, *range(2, rank)], norm.eps),
                           rank)


@converts(nn.LayerNorm)
def _layer_norm(graph, norm, x):
    k = len(norm.normalized_shape)
    bias = [graph.parameter(norm, "bias")] if norm.bias is not None else []
    if graph.opset >= LAYER_NORMALIZATION_OPSET:
        scale = graph.parameter(norm, "weight") if norm.weight is not None \
            else graph.constant(np.ones(norm.normalized_shape), "scale")
        return graph.add_node("LayerNormalization", [x, scale, *bias], axis=-k,
                              epsilon=norm.eps)
    rank = len(graph.shape(x))
    y = _normalise(graph, x, list(range(rank - k, rank)), norm.eps)
    if norm.weight is not None:  # (*normalized_shape) broadcasts against the trailing dims
        y = graph.add_node("Mul", [y, graph.parameter(norm, "weight")])
    return graph.add_node("Add", [y, *bias]) if bias else y


@converts(nn.GroupNorm)
def _group_norm(graph, norm, x):
    # (N, C, *) -> (N, G, C/G * prod(*)): each group of a sample is one "instance" channel.
    # Sizes written out (not -1, not Shape(x)): an empty batch reshapes too, and shape
    # inference keeps the static dimensions.
    shape = graph.shape(x)
    if not all(isinstance(d, int) for d in shape[1:]):
        raise graph.error(f"it needs static dimensions after the batch, got {shape}")
    groups = norm.num_groups
    grouped = graph.add_node("Reshape", [x, graph.constant(
        [0, groups, math.prod(shape[1:]) // groups], "group_shape")])
    normalised = graph.add_node("InstanceNormalization", [
        grouped, graph.constant(np.ones(groups), "group_scale"),
        graph.constant(np.zeros(groups), "group_bias")], epsilon=norm.eps)
    y = graph.add_node("Reshape", [normalised, graph.constant([0, *shape[1:]], "shape")])
    return _channel_affine(graph, norm, y, len(shape))


def _scale_and_bias(graph, norm, channels: int) -> tuple[str, str]:
    """The (C,) scale and bias inputs of a fused normalisation: the layer's weight and bias,
    ones and zeros where it has none (``affine=False``, ``bias=False``)."""
    scale = graph.parameter(norm, "weight") if norm.weight is not None \
        else graph.constant(np.ones(channels), "scale")
    bias = graph.parameter(norm, "bias") if norm.bias is not None \
        else graph.constant(np.zeros(channels), "bias")
    return scale, bias


def _normalise(graph, x, axes: list[int], eps: float) -> str:
    """(x - mean) / sqrt(var + eps) over ``axes``, with the biased variance."""
    centred = graph.add_node("Sub", [x, _reduce_mean(graph, x, axes)])
    variance = _reduce_mean(graph, graph.add_node("Mul", [centred, centred]), axes)
    std = graph.add_node("Sqrt", [graph.add_node("Add", [variance,
                                                         graph.constant(eps, "eps")])])
    return graph.add_node("Div", [centred, std])


def _channel_affine(graph, norm, x, rank: int) -> str:
    """x * weight + bias, the layer's (C,) vectors viewed as (C, 1, ...) against (N, C, *),
    each only where the layer has it."""
    per_channel = graph.constant([-1] + [1] * (rank - 2), "channel_shape")
    for name, op in (("weight", "Mul"), ("bias", "Add")):
        if getattr(norm, name) is not None:
            x = graph.add_node(op, [x, graph.add_node("Reshape", [
                graph.parameter(norm, name), per_channel])])
    return x


def _reduce_mean(graph, x, axes):
    if graph.opset >= 18:  # axes moved from an attribute to an input
        return graph.add_node("ReduceMean", [x, graph.constant(axes, "axes")], keepdims=1)
    return graph.add_node("ReduceMean", [x], axes=axes, keepdims=1)
