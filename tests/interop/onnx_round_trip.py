"""Exports a model, runs the file in onnxruntime and compares with minigrad's eval output."""

from __future__ import annotations

import numpy as np

from minigrad.interop import to_onnx
from tests.nn.cases import random_input
from tests.parity import assert_close


def session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_round_trip(tmp_path, model, input_shape, run_batch=3, opset=None, seed=1, x=None,
                     scale=1.0):
    """Exports at ``input_shape``, runs onnxruntime on ``x`` (default: random float32 of
    batch ``run_batch``, another size than the exported one, times ``scale``), compares;
    returns the proto."""
    path = tmp_path / "model.onnx"
    proto = to_onnx(model, path, input_shape, opset=opset)
    if x is None:
        x = random_input((run_batch, *input_shape[1:]), seed=seed, dtype=np.float32,
                         scale=scale)
    (theirs,) = session(path).run(None, {"input": x})
    model.eval()
    assert_close("onnxruntime output", model(x), theirs, np.float32)
    return proto


def op_types(proto) -> set[str]:
    return {node.op_type for node in proto.graph.node}


def randomise_parameters(module, seed=5):
    """Draws every parameter at random (LayerNorm's ones and zeros would hide a swap)."""
    rng = np.random.default_rng(seed)
    for parameter in module.parameters():
        parameter.data[...] = rng.uniform(0.5, 1.5, parameter.data.shape) * \
            rng.choice([-1, 1], parameter.data.shape)
    return module
