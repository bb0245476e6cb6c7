"""onnx_models: the networks of minigrad.models run in onnxruntime with minigrad's output
(seed_net and vgg_baseline, Sequentials, in test_onnx_export)."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import models, nn
from tests.interop.onnx_round_trip import check_round_trip, op_types
from tests.nn.cases import generator

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _with_running_statistics(model, seed=3):
    """Random BatchNorm statistics and affine maps: the defaults (0, 1, 1, 0) would let a
    swapped or missing BatchNorm input pass."""
    rng = np.random.default_rng(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.running_mean[...] = rng.normal(0, 0.2, c)
            module.running_var[...] = rng.uniform(0.5, 2, c)
            module.weight.data[...] = rng.uniform(0.5, 1.5, c)
            module.bias.data[...] = rng.normal(0, 0.2, c)
    return model


def _initialiser_names(proto) -> set[str]:
    return {t.name for t in proto.graph.initializer if "/" not in t.name}


def _state_keys(model) -> set[str]:
    return {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}


def test_lenet5_runs_in_onnxruntime(tmp_path):
    model = models.lenet5(generator=generator(0))
    proto = check_round_trip(tmp_path, model, (1, 1, 28, 28))
    assert _initialiser_names(proto) == _state_keys(model)
    assert sum(node.op_type == "Tanh" for node in proto.graph.node) == 4


def test_resnet18_small_input_runs_in_onnxruntime_with_its_residual_sums(tmp_path):
    model = _with_running_statistics(models.resnet18(10, small_input=True,
                                                     generator=generator(0)))
    proto = check_round_trip(tmp_path, model, (1, 3, 32, 32), run_batch=2)
    assert _initialiser_names(proto) == _state_keys(model)
    assert sum(node.op_type == "Add" for node in proto.graph.node) == 8  # one per block
    assert "/layer2.0/Add" in {node.name for node in proto.graph.node}
    assert "MaxPool" not in op_types(proto)


def test_resnet_with_torchvisions_stem_and_bottlenecks_runs_in_onnxruntime(tmp_path):
    # resnet50's blocks and 7x7 / max-pool stem, one Bottleneck per stage to stay small
    model = _with_running_statistics(models.ResNet(models.Bottleneck, [1, 1, 1, 1], 10,
                                                   generator=generator(0)))
    proto = check_round_trip(tmp_path, model, (1, 3, 64, 64), run_batch=2)
    assert _initialiser_names(proto) == _state_keys(model)
    assert {"MaxPool", "Add"} <= op_types(proto)


def test_resnet20_runs_in_onnxruntime_with_its_option_a_shortcuts(tmp_path):
    model = _with_running_statistics(models.resnet20(generator=generator(0)))
    proto = check_round_trip(tmp_path, model, (1, 3, 32, 32), run_batch=2)
    assert _initialiser_names(proto) == _state_keys(model)
    assert sum(node.op_type == "Add" for node in proto.graph.node) == 9
    assert sum(node.op_type == "Pad" for node in proto.graph.node) == 2


@pytest.mark.parametrize("in_channels, out_channels, stride, shape", [
    (4, 8, 2, (2, 4, 7, 6)), (3, 8, 1, (2, 3, 4, 4)), (2, 2, 3, (2, 2, 8, 7))])
def test_zero_pad_shortcut_subsamples_and_pads_channels_as_the_layer(tmp_path, in_channels,
                                                                     out_channels, stride,
                                                                     shape):
    check_round_trip(tmp_path, models.ZeroPadShortcut(in_channels, out_channels, stride),
                     shape)


def test_every_module_class_of_minigrad_models_has_a_converter():
    from minigrad.interop.onnx_registry import CONVERTERS, converter_for

    classes = [getattr(models, name) for name in models.__all__]
    classes = [cls for cls in classes if isinstance(cls, type) and issubclass(cls, nn.Module)]
    converter_for(nn.ReLU())  # loads the converter modules
    assert len(classes) == 6 and [cls.__name__ for cls in classes if cls not in CONVERTERS] == []
