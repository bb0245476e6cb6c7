"""The ONNX form of Upsample: Resize wherever it computes the layer's exact output.

Bilinear resizing is continuous in its source coordinate, so Resize (``half_pixel``, torch's
``align_corners=False``, or ``align_corners``) matches it to rounding. Nearest resizing is
not: an output pixel whose source coordinate lands exactly on an integer, which happens for
most ratios (torch's ``floor(i * 3 / 5)`` at i = 5, ...), copies one neighbour or the other
depending on how the runtime rounds ``i / scale``. So the nearest modes are a Resize only
for integer upscaling factors k (source row ``i // k``, never near such a tie), and two
Gathers of the layer's own source rows and columns otherwise: exact on every runtime.
"""

from __future__ import annotations

import numpy as np

from minigrad import nn
from minigrad.interop.onnx_registry import converts
from minigrad.nn.grad_mode import no_grad

# torch's "nearest" is floor(i / scale) ("asymmetric" coordinates, "floor" rounding);
# "nearest-exact" floor((i + 0.5) / scale) = round_prefer_ceil((i + 0.5) / scale - 0.5)
NEAREST_MODES = {"nearest": ("asymmetric", "floor"),
                 "nearest-exact": ("half_pixel", "round_prefer_ceil")}


@converts(nn.Upsample)
def _upsample(graph, upsample, x):
    size = tuple(graph.shape(x)[2:])
    if not all(isinstance(d, int) for d in size):
        raise graph.error(f"it needs a static input size, got {size}")
    out = upsample.output_size(*size)
    if upsample.mode == "bilinear":
        coordinates = "align_corners" if upsample.align_corners else "half_pixel"
        scales = [_runtime_scale(n, m, s) for n, m, s in zip(size, out, _scales(upsample))]
        return _resize(graph, x, scales, mode="linear",
                       coordinate_transformation_mode=coordinates)
    indices = _source_indices(upsample, size)
    if all(m % n == 0 and np.array_equal(index, np.arange(m) // (m // n))
           for index, n, m in zip(indices, size, out)):
        coordinates, rounding = NEAREST_MODES[upsample.mode]
        return _resize(graph, x, [m // n for n, m in zip(size, out)], mode="nearest",
                       coordinate_transformation_mode=coordinates, nearest_mode=rounding)
    for axis, index in zip((2, 3), indices):
        if not np.array_equal(index, np.arange(size[axis - 2])):  # not an unchanged axis
            x = graph.add_node("Gather", [x, graph.constant(index, "source_index")], axis=axis)
    return x


def _resize(graph, x, scales, **attributes) -> str:
    scales = graph.constant([1.0, 1.0, *scales], "scales", dtype=np.float32)
    return graph.add_node("Resize", [x, "", scales], **attributes)


def _scales(upsample) -> tuple:
    """The (h, w) factors that torch's coordinates divide by: the scale_factor the layer was
    given, or None where it uses output / input (a size, or recompute_scale_factor)."""
    if upsample.size is not None or upsample.recompute_scale_factor:
        return None, None
    factor = upsample.scale_factor
    return tuple(factor) if isinstance(factor, tuple) else (factor, factor)


def _runtime_scale(size: int, out: int, scale: float | None) -> float:
    """The float32 scale nearest ``scale`` (default out / size) whose product with ``size``
    floors to ``out`` however a runtime evaluates it (in float32 or float64).

    ONNX derives the output length from the scale; 10 * float32(0.7) is 6.99999988, so such
    a scale is raised by a few ulps, far below what moves a bilinear weight.
    """
    value = np.float32(out / size if scale is None else scale)
    while True:
        products = (float(np.float32(size) * value), size * float(value))
        if all(out <= p < out + 1 for p in products):
            return float(value)
        value = np.nextafter(value, np.float32(np.inf if min(products) < out else -np.inf))


def _source_indices(upsample, size) -> tuple[np.ndarray, np.ndarray]:
    """The input row of each output row and the input column of each output column: the
    layer itself run on two images whose pixels hold their own row and column index."""
    rows, columns = np.indices(size, dtype=np.float64)
    with no_grad():
        copied = upsample(np.stack([rows, columns])[:, None])  # (2, 1, OH, OW)
    return copied[0, 0, :, 0].astype(np.int64), copied[1, 0, 0, :].astype(np.int64)
