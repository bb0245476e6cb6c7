"""The ONNX form of the built-in containers, linear maps, convolutions, lookups and pools,
in eval-mode semantics (one converter per layer, registered with ``@converts``)."""

from __future__ import annotations

import numpy as np

from minigrad import nn
from minigrad.interop.onnx_registry import converts


# -- containers and identities ------------------------------------------------------------
@converts(nn.Sequential)
def _sequential(graph, sequential, x):
    for child in sequential:
        x = graph.emit(child, x)
    return x


@converts(nn.ModuleList, nn.ModuleDict)
def _not_callable(graph, container, x):
    raise graph.error(
        f"a {type(container).__name__} has no forward: the module that owns it decides how its "
        "children run, so that module needs a to_onnx(self, graph, x) method that emits them "
        "(docs/interop.md)")


@converts(nn.Identity, nn.Dropout, nn.Dropout2d)
def _identity(graph, module, x):
    # Dropout and Dropout2d are the identity in eval mode, the semantics of every export
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


def _weight_and_bias(graph, layer, x) -> list[str]:
    inputs = [x, graph.parameter(layer, "weight")]
    if layer.bias is not None:
        inputs.append(graph.parameter(layer, "bias"))
    return inputs


@converts(nn.Conv2d)
def _conv2d(graph, conv, x):
    ph, pw = conv.padding
    return graph.add_node("Conv", _weight_and_bias(graph, conv, x),
                          kernel_shape=list(conv.kernel_size), strides=list(conv.stride),
                          pads=[ph, pw, ph, pw])


@converts(nn.ConvTranspose2d)
def _conv_transpose2d(graph, conv, x):
    # ONNX's weight layout is torch's, (C_in, C_out / groups, kh, kw), and so is its output
    # size: (H - 1) * stride - 2 * padding + kernel + output_padding
    ph, pw = conv.padding
    return graph.add_node("ConvTranspose", _weight_and_bias(graph, conv, x),
                          kernel_shape=list(conv.kernel_size), strides=list(conv.stride),
                          pads=[ph, pw, ph, pw], output_padding=list(conv.output_padding),
                          group=conv.groups)


@converts(nn.Embedding)
def _embedding(graph, embedding, indices):
    # (*) integer indices -> (*, embedding_dim): the rows of the weight, as np.take
    return graph.add_node("Gather", [graph.parameter(embedding, "weight"), indices], axis=0)


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
