"""to_onnx: what an export writes, checks and refuses; models run in onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import nn
from minigrad.interop import OnnxExportError, to_onnx
from minigrad.models import seed_net, vgg_baseline
from tests.interop.onnx_round_trip import check_round_trip, session
from tests.nn.cases import generator, random_input
from tests.parity import assert_close

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _trained_batch_norm(model, shape):
    model.train()(random_input(shape, seed=7, dtype=np.float32) * 3 + 1)
    return model


def test_seed_net_runs_in_onnxruntime_with_dynamic_batch_and_state_dict_names(tmp_path):
    model = seed_net(generator=generator(0))
    proto = check_round_trip(tmp_path, model, (1, 1, 28, 28), run_batch=7)
    assert [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim][:1] == \
        ["batch"]
    names = {t.name for t in proto.graph.initializer}
    assert set(model.state_dict()) == {n for n in names if "/" not in n}
    for tensor in proto.graph.initializer:
        if "/" not in tensor.name:
            np.testing.assert_array_equal(onnx.numpy_helper.to_array(tensor),
                                          model.state_dict()[tensor.name])


def test_vgg_baseline_runs_in_onnxruntime_with_its_running_statistics(tmp_path):
    model = vgg_baseline(generator=generator(0))
    model.train()(random_input((6, 1, 16, 16), seed=3, dtype=np.float32))
    proto = check_round_trip(tmp_path, model, (2, 1, 16, 16), run_batch=3)
    names = {t.name for t in proto.graph.initializer}
    assert {k for k in model.state_dict() if not k.endswith("num_batches_tracked")} == names


def test_export_leaves_the_model_unchanged(tmp_path):
    model = vgg_baseline(widths=(4, 8, 8, 8), generator=generator(0))
    before = model.state_dict()
    to_onnx(model, tmp_path / "vgg.onnx", (2, 1, 16, 16))
    assert model.training and all(m.training for m in model.modules())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_a_fixed_batch_export_has_a_static_input_shape(tmp_path):
    path = tmp_path / "fixed.onnx"
    proto = to_onnx(nn.Linear(3, 2, generator=generator()), path, (4, 3), dynamic_batch=False)
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [4, 3]
    assert [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim] == [4, 2]
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument):
        session(path).run(None, {"input": np.zeros((5, 3), np.float32)})


class Residual(nn.Module):
    """y = relu(x + body(x)): a block whose ONNX form is its body's and an Add."""

    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1,
                                            generator=generator(1)),
                                  nn.BatchNorm2d(channels), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1,
                                            generator=generator(2)))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.body(x))

    def to_onnx(self, graph, x):
        return graph.emit(self.relu, graph.add_node("Add", [x, graph.emit(self.body, x)]))


def test_a_residual_user_module_exports_through_its_to_onnx_method(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, generator=generator()), Residual(4),
                          Residual(4), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3, generator=generator()))
    _trained_batch_norm(model, (4, 1, 8, 8))
    proto = check_round_trip(tmp_path, model, (2, 1, 8, 8))
    assert "1.body.0.weight" in {t.name for t in proto.graph.initializer}
    assert sum(node.op_type == "Add" for node in proto.graph.node) == 2
    assert any(node.name == "/2/Add" for node in proto.graph.node)


class Mystery(nn.Module):
    def forward(self, x):
        return x * 2


def test_a_module_with_no_onnx_form_is_named_and_no_file_is_left(tmp_path):
    features = nn.Sequential(nn.Conv2d(1, 2, 3, generator=generator()), nn.ReLU(),
                             nn.Identity(), Mystery())
    model = nn.Sequential()
    model.features = features
    path = tmp_path / "model.onnx"
    with pytest.raises(OnnxExportError, match=r"cannot export 'features\.3' \(Mystery\): "
                                              r"Mystery has no ONNX form.*to_onnx\(self"):
        to_onnx(model, path, (1, 1, 6, 6))
    assert list(tmp_path.iterdir()) == []
    path.write_bytes(b"previous")
    with pytest.raises(OnnxExportError):
        to_onnx(model, path, (1, 1, 6, 6))
    assert path.read_bytes() == b"previous" and list(tmp_path.iterdir()) == [path]


def test_a_subclass_of_a_built_in_layer_needs_its_own_form(tmp_path):
    class Doubled(nn.ReLU):
        def forward(self, x):
            return 2 * super().forward(x)

    with pytest.raises(OnnxExportError, match=r"cannot export the model \(Doubled\)"):
        to_onnx(Doubled(), tmp_path / "m.onnx", (1, 3))


def test_a_to_onnx_method_returning_no_graph_value_is_refused(tmp_path):
    class Broken(nn.Module):
        def forward(self, x):
            return x

        def to_onnx(self, graph, x):
            return "nowhere"

    with pytest.raises(OnnxExportError, match="its to_onnx returned 'nowhere'"):
        to_onnx(nn.Sequential(nn.ReLU(), Broken()), tmp_path / "m.onnx", (1, 3))
    assert not (tmp_path / "m.onnx").exists()


def test_float64_models_export_as_double(tmp_path):
    from onnx.reference import ReferenceEvaluator

    # (GELU("tanh"): the reference evaluator's Erf computes in float32)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, generator=generator()), nn.GELU("tanh"),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 4, generator=generator()),
                          nn.LogSoftmax(dim=1)).double()
    proto = to_onnx(model, tmp_path / "double.onnx", (2, 1, 11, 11))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    x = random_input((3, 1, 11, 11), seed=4)
    (theirs,) = ReferenceEvaluator(proto).run(None, {"input": x})
    assert_close("ONNX reference evaluator", model.eval()(x), theirs, np.float64)


@pytest.mark.parametrize("opset", [13, 17])
def test_float64_normalisations_resizes_and_rectifiers_compute_in_double(tmp_path, opset):
    from onnx.reference import ReferenceEvaluator

    model = nn.Sequential(
        nn.ConvTranspose2d(2, 4, 3, stride=2, output_padding=1, generator=generator()),
        nn.GroupNorm(2, 4), nn.ELU(), nn.Upsample(scale_factor=1.5, mode="bilinear"),
        nn.Upsample(size=(7, 9)), nn.LayerNorm((7, 9)), nn.LeakyReLU(0.2), nn.SiLU()).double()
    proto = to_onnx(model, tmp_path / "double.onnx", (2, 2, 3, 4), opset=opset)
    x = random_input((3, 2, 3, 4), seed=4)
    (theirs,) = ReferenceEvaluator(proto).run(None, {"input": x})
    assert_close("ONNX reference evaluator", model.eval()(x), theirs, np.float64)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(opset=12), ValueError, "opset must be an int from 13"),
    (dict(input_shape=(1, 5)), ValueError, r"got input of shape \(1, 5\); expected \(\*, 3\)"),
    (dict(input_shape=(0, 3)), ValueError, "input_shape must be a tuple of positive ints"),
    (dict(input_shape=3), ValueError, "input_shape must be a tuple"),
    (dict(input_dtype=np.float64), ValueError,
     r"input_dtype must be int64 or int32 \(indices\) or the model's dtype \(float32\)"),
    (dict(input_dtype="text"), ValueError, "input_dtype must be int64 or int32"),
])
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, kwargs, error, match):
    arguments = dict(input_shape=(1, 3)) | kwargs
    with pytest.raises(error, match=match):
        to_onnx(nn.Linear(3, 2, generator=generator()), tmp_path / "m.onnx", **arguments)
    assert list(tmp_path.iterdir()) == []


def test_a_model_mixing_dtypes_is_refused(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2, generator=generator()),
                          nn.Linear(2, 2, generator=generator(), dtype=np.float64))
    with pytest.raises(TypeError, match=r"mixes dtypes \['float32', 'float64'\]"):
        to_onnx(model, tmp_path / "m.onnx", (1, 3))


def test_every_built_in_layer_with_an_inference_form_has_a_converter():
    from minigrad.interop.onnx_registry import CONVERTERS, converter_for

    layers = [getattr(nn, name) for name in nn.__all__]
    layers = [cls for cls in layers if isinstance(cls, type) and issubclass(cls, nn.Module)
              and cls is not nn.Module and not cls.__name__.endswith("Loss")]  # losses take targets
    converter_for(nn.ReLU())  # loads the converter modules
    assert [cls.__name__ for cls in layers if cls not in CONVERTERS] == []
