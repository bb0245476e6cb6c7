"""onnx_layers: containers, linear maps, convolutions, Embedding and pools in onnxruntime."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

from minigrad import nn
from minigrad.interop import OnnxExportError, to_onnx
from tests.interop.onnx_round_trip import check_round_trip, op_types, session
from tests.nn.cases import generator
from tests.parity import assert_close

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

LAYERS = {
    "conv": (lambda: nn.Conv2d(3, 4, 3, generator=generator()), (2, 3, 9, 9)),
    "conv strided padded": (lambda: nn.Conv2d(3, 5, (3, 5), stride=(2, 1), padding=(1, 2),
                                              generator=generator()), (2, 3, 10, 9)),
    "conv no bias 1x1 stride 2": (lambda: nn.Conv2d(2, 3, 1, stride=2, bias=False,
                                                    generator=generator()), (2, 2, 7, 6)),
    "conv transpose": (lambda: nn.ConvTranspose2d(3, 4, 3, generator=generator()),
                       (2, 3, 5, 6)),
    "conv transpose stride padding output_padding": (lambda: nn.ConvTranspose2d(
        3, 2, (3, 4), stride=(2, 3), padding=(1, 2), output_padding=(1, 2),
        generator=generator()), (2, 3, 5, 4)),
    "conv transpose groups no bias": (lambda: nn.ConvTranspose2d(
        4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False,
        generator=generator()), (2, 4, 4, 5)),
    "linear": (lambda: nn.Linear(6, 4, generator=generator()), (2, 6)),
    "linear 3-d input no bias": (lambda: nn.Linear(6, 4, bias=False, generator=generator()),
                                 (2, 5, 6)),
    "max pool": (lambda: nn.MaxPool2d(2), (2, 3, 8, 8)),
    "max pool 3 stride 2 pad 1": (lambda: nn.MaxPool2d(3, 2, 1), (2, 3, 9, 8)),
    "avg pool pad counted": (lambda: nn.AvgPool2d(3, 2, 1), (2, 2, 9, 8)),
    "avg pool pad not counted": (lambda: nn.AvgPool2d((2, 3), (1, 2), (1, 1),
                                                      count_include_pad=False), (2, 2, 7, 9)),
    "adaptive avg pool global": (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 7, 5)),
    "adaptive avg pool equal bins": (lambda: nn.AdaptiveAvgPool2d((2, 4)), (2, 3, 8, 8)),
    "adaptive avg pool unequal bins": (lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
    "adaptive avg pool more bins than pixels": (lambda: nn.AdaptiveAvgPool2d((4, 9)),
                                                (2, 1, 3, 5)),
    "flatten": (lambda: nn.Flatten(), (2, 3, 4, 5)),
    "flatten middle dims": (lambda: nn.Flatten(1, 2), (2, 3, 4, 5)),
    "flatten trailing dims": (lambda: nn.Flatten(2), (2, 3, 4, 5)),
    "flatten everything": (lambda: nn.Flatten(0), (2, 3, 4)),
    "dropout in training mode": (lambda: nn.Dropout(0.5, generator=generator()), (2, 7)),
    "dropout2d in training mode": (lambda: nn.Dropout2d(0.5, generator=generator()),
                                   (2, 3, 4, 5)),
    "identity": (lambda: nn.Identity(), (2, 3, 4)),
    "nested sequential": (lambda: nn.Sequential(
        nn.Sequential(nn.Linear(4, 3, generator=generator()), nn.Tanh()),
        nn.Linear(3, 2, generator=generator(1))), (2, 4)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_each_layer_runs_in_onnxruntime_with_minigrads_output(tmp_path, name):
    build, shape = LAYERS[name]
    model = build()
    model.train()  # the export is of eval mode whatever the model's mode
    check_round_trip(tmp_path, model, shape)


def test_conv_transpose_is_onnxs_conv_transpose_with_torchs_weight_layout(tmp_path):
    conv = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2,
                              generator=generator())
    proto = check_round_trip(tmp_path, conv, (1, 4, 3, 3))
    (node,) = [n for n in proto.graph.node if n.op_type == "ConvTranspose"]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attributes["group"] == 2 and attributes["output_padding"] == [1, 1]
    assert [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim][1:] == \
        [6, 6, 6]


def _indices(shape, high, seed=3):
    return np.random.default_rng(seed).integers(0, high, shape, dtype=np.int64)


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_an_embedding_model_takes_int64_indices(tmp_path, padding_idx):
    model = nn.Sequential(nn.Embedding(10, 4, padding_idx=padding_idx, generator=generator()),
                          nn.Flatten(), nn.Linear(20, 3, generator=generator(1)))
    x = _indices((3, 5), 10)
    x[0, 0] = 2
    proto = check_round_trip(tmp_path, model, (2, 5), x=x)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert "Gather" in op_types(proto)


def test_an_embedding_of_any_index_shape_gives_its_rows(tmp_path):
    embedding = nn.Embedding(7, 3, generator=generator())
    check_round_trip(tmp_path, embedding, (1, 2, 4), x=_indices((3, 2, 4), 7))


class Tagger(nn.Module):
    """A user module whose first registered layer is an Embedding of int32 indices."""

    def __init__(self):
        super().__init__()
        self.scores = nn.Linear(3, 2, generator=generator(1))
        self.embed = nn.Embedding(6, 3, generator=generator())

    def forward(self, x):
        return self.scores(self.embed(x))

    def to_onnx(self, graph, x):
        return graph.emit(self.scores, graph.emit(self.embed, x))


def test_input_dtype_gives_the_graph_input_of_a_model_that_does_not_start_with_embedding(
        tmp_path):
    model, path = Tagger(), tmp_path / "tagger.onnx"
    with pytest.raises(TypeError, match="expects an ndarray of integer indices"):
        to_onnx(model, path, (1, 4))
    proto = to_onnx(model, path, (1, 4), input_dtype=np.int32)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT32
    x = _indices((2, 4), 6).astype(np.int32)
    (theirs,) = session(path).run(None, {"input": x})
    assert_close("onnxruntime output", model(x), theirs, np.float32)


def test_sequential_with_ordereddict_names_its_initialisers_by_those_names(tmp_path):
    model = nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(1, 2, 3, generator=generator())), ("act", nn.ELU()),
        ("flat", nn.Flatten()), ("head", nn.Linear(18, 4, generator=generator(1)))]))
    proto = check_round_trip(tmp_path, model, (2, 1, 5, 5))
    assert {t.name for t in proto.graph.initializer if "/" not in t.name} == \
        {"conv.weight", "conv.bias", "head.weight", "head.bias"}
    assert "/head/Gemm" in {node.name for node in proto.graph.node}


class Stack(nn.Module):
    """Runs a ModuleList in a loop; its to_onnx mistakenly emits the list itself."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(3, 3, generator=generator(i)) for i in range(2)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def to_onnx(self, graph, x):
        return graph.emit(self.layers, x)


def test_module_list_and_module_dict_have_no_onnx_form_and_say_why(tmp_path):
    with pytest.raises(OnnxExportError, match=r"cannot export 'layers' \(ModuleList\): a "
                                              r"ModuleList has no forward.*to_onnx\(self"):
        to_onnx(Stack(), tmp_path / "stack.onnx", (1, 3))
    for container in (nn.ModuleList([nn.ReLU()]), nn.ModuleDict({"relu": nn.ReLU()})):
        name = type(container).__name__
        with pytest.raises(OnnxExportError, match=f"cannot export a {name}: it has no forward"):
            to_onnx(container, tmp_path / "list.onnx", (1, 3))
    assert list(tmp_path.iterdir()) == []
