"""onnx_upsample: Upsample's three modes in onnxruntime, as Resize or as exact Gathers."""

from __future__ import annotations

import pytest

from minigrad import nn
from tests.interop.onnx_round_trip import check_round_trip, op_types

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# (module, input (H, W), the ONNX operator expected): Resize where it reproduces the layer's
# source pixels on any runtime, Gather with the layer's own indices for nearest ratios that
# put source coordinates on integer ties
CASES = {
    "nearest x2": (nn.Upsample(scale_factor=2), (4, 5), "Resize"),
    "nearest x3 by size": (nn.Upsample(size=(9, 6)), (3, 2), "Resize"),
    "nearest (2, 3) by scale": (nn.Upsample(scale_factor=(2, 3)), (3, 4), "Resize"),
    "nearest by size 3 -> 5, 4 -> 7": (nn.Upsample(size=(5, 7)), (3, 4), "Gather"),
    "nearest downsampling": (nn.Upsample(size=(3, 2)), (7, 5), "Gather"),
    "nearest scale 2.2 (x2 when H * 2.2 floors to 2 H)": (nn.Upsample(scale_factor=2.2),
                                                         (4, 3), "Resize"),
    "nearest scale 2.2": (nn.Upsample(scale_factor=2.2), (5, 3), "Gather"),
    "nearest scale 3.05 (not 3)": (nn.Upsample(scale_factor=3.05), (10, 2), "Gather"),
    "nearest scale 0.5": (nn.Upsample(scale_factor=0.5), (6, 8), "Gather"),
    "nearest-exact x2": (nn.Upsample(scale_factor=2, mode="nearest-exact"), (4, 5),
                         "Resize"),
    "nearest-exact scale 1.5": (nn.Upsample(scale_factor=1.5, mode="nearest-exact"), (4, 6),
                                "Gather"),
    "nearest-exact scale 1.1": (nn.Upsample(scale_factor=1.1, mode="nearest-exact"), (9, 7),
                                "Gather"),
    "nearest-exact size": (nn.Upsample(size=(5, 3), mode="nearest-exact"), (3, 7), "Gather"),
    "bilinear x2": (nn.Upsample(scale_factor=2, mode="bilinear"), (4, 5), "Resize"),
    "bilinear align_corners x2": (nn.Upsample(scale_factor=2, mode="bilinear",
                                              align_corners=True), (4, 5), "Resize"),
    "bilinear size": (nn.Upsample(size=(7, 4), mode="bilinear"), (3, 6), "Resize"),
    "bilinear size to one pixel": (nn.Upsample(size=(1, 5), mode="bilinear"), (4, 3),
                                   "Resize"),
    "bilinear align_corners size": (nn.Upsample(size=(7, 1), mode="bilinear",
                                                align_corners=True), (3, 6), "Resize"),
    "bilinear scale 1.7": (nn.Upsample(scale_factor=1.7, mode="bilinear"), (5, 3), "Resize"),
    "bilinear scale 0.7 (10 * float32(0.7) < 7)": (nn.Upsample(scale_factor=0.7,
                                                               mode="bilinear"), (10, 10),
                                                   "Resize"),
    "bilinear recomputed scale": (nn.Upsample(scale_factor=2.5, mode="bilinear",
                                              recompute_scale_factor=True), (3, 5), "Resize"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_upsample_runs_in_onnxruntime_with_minigrads_output(tmp_path, name):
    module, (height, width), operator = CASES[name]
    proto = check_round_trip(tmp_path, module, (2, 3, height, width))
    other = {"Resize": "Gather", "Gather": "Resize"}[operator]
    assert operator in op_types(proto) and other not in op_types(proto)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear"])
def test_upsample_matches_over_every_size_from_1_to_9_pixels(tmp_path, mode):
    # every ratio between these sizes, ties included, in one model: a Sequential of
    # Upsamples to each output size and back to a fixed 6 x 6
    for height in (2, 5):
        layers = []
        for out in range(1, 10):
            layers += [nn.Upsample(size=(out, height), mode=mode),
                       nn.Upsample(size=(height, height), mode=mode)]
        check_round_trip(tmp_path, nn.Sequential(*layers), (1, 1, height, height))
