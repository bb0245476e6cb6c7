"""onnx_normalization: BatchNorm, LayerNorm and GroupNorm in onnxruntime, fused or composed."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import nn
from tests.interop.onnx_round_trip import check_round_trip, op_types, randomise_parameters
from tests.nn.cases import random_input

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _trained_batch_norm(norm, shape):
    norm.train()(random_input(shape, seed=7, dtype=np.float32) * 3 + 1)
    return norm


@pytest.mark.parametrize("build, shape", [
    (lambda: nn.BatchNorm1d(5), (4, 5)),
    (lambda: nn.BatchNorm1d(3, eps=1e-3), (4, 3, 6)),
    (lambda: nn.BatchNorm2d(3), (4, 3, 5, 5)),
    (lambda: nn.BatchNorm2d(3, affine=False), (4, 3, 5, 5)),
    (lambda: nn.BatchNorm2d(3, bias=False), (4, 3, 5, 5)),
    (lambda: nn.BatchNorm2d(3, track_running_stats=False), (4, 3, 5, 5)),
    (lambda: nn.BatchNorm2d(3, bias=False, track_running_stats=False), (4, 3, 5, 5)),
    (lambda: nn.BatchNorm1d(3, affine=False, track_running_stats=False), (4, 3, 6)),
], ids=["1d", "1d with length", "2d", "2d no affine", "2d no bias", "2d batch statistics",
        "2d no bias batch statistics", "1d batch statistics no affine"])
def test_batch_norm_exports_its_eval_mode_normalisation(tmp_path, build, shape):
    norm = randomise_parameters(_trained_batch_norm(build(), shape))
    check_round_trip(tmp_path, norm, shape, run_batch=5)


LAYER_NORMS = {
    "last dim": (lambda: nn.LayerNorm(5), (2, 3, 5)),
    "last two dims": (lambda: nn.LayerNorm((4, 5), eps=1e-3), (2, 3, 4, 5)),
    "no affine": (lambda: nn.LayerNorm(6, elementwise_affine=False), (2, 6)),
    "no bias": (lambda: nn.LayerNorm((3, 4), bias=False), (2, 3, 4)),
}


@pytest.mark.parametrize("opset, fused", [(17, True), (16, False), (13, False)])
@pytest.mark.parametrize("name", list(LAYER_NORMS))
def test_layer_norm_is_layer_normalization_from_opset_17_and_composed_below(tmp_path, name,
                                                                           opset, fused):
    build, shape = LAYER_NORMS[name]
    proto = check_round_trip(tmp_path, randomise_parameters(build()), shape, opset=opset,
                             scale=3.0)
    assert ("LayerNormalization" in op_types(proto)) == fused
    assert proto.opset_import[0].version == opset


GROUP_NORMS = {
    "2 groups of 3 channels": (lambda: nn.GroupNorm(2, 6), (2, 6, 4, 5)),
    "one group (per sample)": (lambda: nn.GroupNorm(1, 4, eps=1e-3), (2, 4, 3, 3)),
    "a group per channel": (lambda: nn.GroupNorm(4, 4), (2, 4, 3, 5)),
    "3-d input": (lambda: nn.GroupNorm(3, 6), (2, 6, 7)),
    "5-d input": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 2, 3)),
    "no affine": (lambda: nn.GroupNorm(2, 4, affine=False), (2, 4, 3, 3)),
    "no bias": (lambda: nn.GroupNorm(2, 4, bias=False), (2, 4, 3, 3)),
}


@pytest.mark.parametrize("opset", [13, 17, 21])
@pytest.mark.parametrize("name", list(GROUP_NORMS))
def test_group_norm_is_composed_from_instance_normalization_in_every_opset(tmp_path, name,
                                                                           opset):
    build, shape = GROUP_NORMS[name]
    proto = check_round_trip(tmp_path, randomise_parameters(build()), shape, opset=opset,
                             scale=3.0)
    assert {"Reshape", "InstanceNormalization"} <= op_types(proto)
