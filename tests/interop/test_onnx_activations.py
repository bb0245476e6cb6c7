"""onnx_activations: every activation, Softmax and LogSoftmax in onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import nn
from minigrad.interop import to_onnx
from tests.interop.onnx_round_trip import check_round_trip, op_types
from tests.nn.cases import random_input
from tests.parity import assert_close

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

ACTIVATIONS = {
    "relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(),
    "gelu": nn.GELU(), "gelu tanh": nn.GELU("tanh"),
    "leaky relu": nn.LeakyReLU(), "leaky relu slope 0.3": nn.LeakyReLU(0.3),
    "leaky relu negative slope": nn.LeakyReLU(-0.5),
    "elu": nn.ELU(), "elu alpha 0.4": nn.ELU(0.4), "silu": nn.SiLU(),
    "softmax dim 1": nn.Softmax(dim=1), "softmax last dim": nn.Softmax(),
    "log softmax dim 1": nn.LogSoftmax(dim=1), "log softmax dim -2": nn.LogSoftmax(dim=-2),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_each_activation_runs_in_onnxruntime_with_minigrads_output(tmp_path, name):
    # scale 4: inputs far into both tails (ELU's saturation, SiLU's large |x|)
    check_round_trip(tmp_path, ACTIVATIONS[name], (2, 3, 4, 5), scale=4.0)


@pytest.mark.parametrize("module, expected_ops, alpha", [
    (nn.LeakyReLU(0.3), {"LeakyRelu"}, 0.3), (nn.ELU(0.4), {"Elu"}, 0.4),
    (nn.SiLU(), {"Sigmoid", "Mul"}, None)])
def test_rectifiers_are_their_onnx_operators(tmp_path, module, expected_ops, alpha):
    proto = check_round_trip(tmp_path, module, (2, 6))
    assert op_types(proto) - {"Identity"} == expected_ops
    alphas = [a.f for node in proto.graph.node for a in node.attribute if a.name == "alpha"]
    assert alphas == ([] if alpha is None else [pytest.approx(alpha)])


@pytest.mark.parametrize("opset, approximate, expected_op", [
    (17, "none", "Erf"), (17, "tanh", "Tanh"), (20, "none", "Gelu"), (20, "tanh", "Gelu"),
    (13, "none", "Erf")])
def test_gelu_is_onnxs_gelu_from_opset_20_and_composed_below(tmp_path, opset, approximate,
                                                            expected_op):
    proto = check_round_trip(tmp_path, nn.GELU(approximate), (2, 3, 4), opset=opset)
    assert expected_op in op_types(proto)
    assert proto.opset_import[0].version == opset


@pytest.mark.parametrize("module, expected_op", [
    (nn.LeakyReLU(0.2), "Where"), (nn.LeakyReLU(0.25), "LeakyRelu"), (nn.ELU(0.3), "Where"),
    (nn.ELU(), "Elu")])
def test_a_float64_alpha_that_float32_cannot_hold_is_a_double_constant(tmp_path, module,
                                                                       expected_op):
    from onnx.reference import ReferenceEvaluator

    # ONNX's float attributes are float32: 0.2 would become 0.2000000030 in a double model
    proto = to_onnx(module, tmp_path / "double.onnx", (2, 3, 4), input_dtype=np.float64)
    assert expected_op in op_types(proto)
    x = random_input((3, 3, 4), seed=2, scale=3.0)
    (theirs,) = ReferenceEvaluator(proto).run(None, {"input": x})
    assert_close("ONNX reference evaluator", module(x), theirs, np.float64)
