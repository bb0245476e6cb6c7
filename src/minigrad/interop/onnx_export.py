"""to_onnx: writes a minigrad model as an ONNX file, in eval-mode semantics."""

from __future__ import annotations

import os

import numpy as np

from minigrad import nn
from minigrad.fileio import atomic_write
from minigrad.nn import Module
from minigrad.nn.module import no_grad

DEFAULT_OPSET = 17  # run by every onnxruntime since 1.11 and most other runtimes
MIN_OPSET = 13  # Softmax and LogSoftmax normalise along one axis from 13 on, as torch's dim
INPUT_NAME, OUTPUT_NAME, BATCH_DIM = "input", "output", "batch"


class OnnxExportError(ValueError):
    """A model, or a part of it, that cannot be written as ONNX (the message says which)."""


def to_onnx(model: Module, path: str | os.PathLike, input_shape: tuple[int, ...], *,
            opset: int | None = None, dynamic_batch: bool = True, input_dtype=None):
    """Writes ``model`` as an ONNX model that onnxruntime runs with minigrad's outputs.

    The graph computes the model in eval mode whatever its current mode (Dropout is the
    identity, BatchNorm uses its running statistics); the model itself is left unchanged.
    Initialisers are named by the state_dict keys ("0.weight"); the graph's input is
    "input" and its output "output". A float64 model is exported as ONNX double (note that
    onnxruntime's CPU provider has no double Conv, AveragePool or Erf: ``model.float()``
    first to run it there). Built-in layers convert themselves (``onnx_registry``); a module
    of your own takes part by defining ``to_onnx(self, graph, x) -> str`` (``OnnxGraph``).

    Args:
        model: the Module to export.
        path: the ``.onnx`` file to write, atomically: on any error nothing is written.
        input_shape: the shape of one input batch, batch first, e.g. ``(1, 1, 28, 28)``.
        opset: the ONNX opset, from 13 to the newest the installed onnx knows (default 17;
            from 20 on GELU is ONNX's Gelu, below it is composed from Erf or Tanh).
        dynamic_batch: the batch dimension is named "batch" and takes any size; with False
            it is fixed to ``input_shape[0]``.
        input_dtype: the dtype of the graph's input: by default the model's float dtype, or
            int64 when the model's first layer is an ``Embedding`` (integer indices); give
            ``np.int64`` or ``np.int32`` for a model of your own that starts with one, or
            ``np.float64`` for a model without parameters (ReLU alone) to export as double.

    Returns:
        The ``onnx.ModelProto`` written (``onnx.checker`` has passed on it).

    Raises:
        ImportError: the onnx package is missing (``pip install "minigrad[onnx]"``).
        OnnxExportError: a module with no ONNX form (named by its path in the model, e.g.
            "features.3", and its class), or a to_onnx method that misbehaves.
        TypeError, ValueError: bad arguments, or ``input_shape`` that the model refuses.
    """
    try:
        import onnx
    except ImportError as err:
        raise ImportError('to_onnx needs the onnx package: pip install "minigrad[onnx]"') \
            from err
    from minigrad import __version__
    from minigrad.interop.onnx_graph import OnnxGraph

    opset = _check_arguments(model, input_shape, opset, onnx.defs.onnx_opset_version())
    input_shape = tuple(int(d) for d in input_shape)
    dtype, input_dtype = _dtypes(model, input_dtype)
    expected = _eval_output_shape(model, input_shape, input_dtype)
    batch = BATCH_DIM if dynamic_batch else input_shape[0]
    graph = OnnxGraph(model, opset, dtype, INPUT_NAME, [batch, *input_shape[1:]], input_dtype)
    output = graph.emit(model, INPUT_NAME)
    proto = graph.make_model(output, OUTPUT_NAME,
                             doc=f"{type(model).__name__} exported by minigrad {__version__}")
    proto.producer_name, proto.producer_version = "minigrad", __version__
    onnx.checker.check_model(proto, full_check=True)
    _check_output_shape(graph, graph.shape(OUTPUT_NAME), expected)
    data = proto.SerializeToString()
    with atomic_write(path) as file:
        file.write(data)
    return proto


def _check_arguments(model, input_shape, opset, newest: int) -> int:
    if not isinstance(model, Module):
        raise TypeError(f"to_onnx expects a minigrad Module, got {type(model).__name__}")
    if isinstance(model, nn.ModuleList | nn.ModuleDict):
        raise OnnxExportError(f"cannot export a {type(model).__name__}: it has no forward (it "
                              "holds modules for a forward written by its owner); export the "
                              "module that runs them")
    if not (isinstance(input_shape, tuple | list) and input_shape and all(
            isinstance(d, int | np.integer) and not isinstance(d, bool) and d > 0
            for d in input_shape)):
        raise ValueError(f"to_onnx input_shape must be a tuple of positive ints, batch first "
                         f"(e.g. (1, 1, 28, 28)), got {input_shape!r}")
    opset = DEFAULT_OPSET if opset is None else opset
    if not (isinstance(opset, int) and MIN_OPSET <= opset <= newest):
        raise ValueError(f"to_onnx opset must be an int from {MIN_OPSET} to {newest} (the "
                         f"newest the installed onnx knows), got {opset!r}")
    return opset


def _dtypes(model: Module, given) -> tuple[np.dtype, np.dtype]:
    """(the model's float dtype, the graph input's dtype), checked.

    The model's dtype is that of its parameters and float buffers; a model without any
    (ReLU alone) takes a float ``input_dtype``, else float32.
    """
    dtypes = {p.data.dtype for p in model.parameters()}
    dtypes |= {b.dtype for _, b in model.named_buffers() if b.dtype.kind == "f"}
    if len(dtypes) > 1:
        raise TypeError(f"to_onnx: the model mixes dtypes {sorted(map(str, dtypes))}; cast it "
                        "with model.float() or model.double()")
    floats = tuple(dtypes) or (np.dtype(np.float32), np.dtype(np.float64))
    if given is None:
        first_layer = next((m for m in model.modules() if next(m.children(), None) is None),
                           None)
        given = np.int64 if isinstance(first_layer, nn.Embedding) else floats[0]
    try:
        input_dtype = np.dtype(given)
    except TypeError:
        input_dtype = None
    if input_dtype not in (np.dtype(np.int64), np.dtype(np.int32), *floats):
        raise ValueError(f"to_onnx input_dtype must be int64 or int32 (indices) or the model's "
                         f"dtype ({' or '.join(map(str, floats))}), got {given!r}")
    return (input_dtype if input_dtype in floats else floats[0]), input_dtype


def _eval_output_shape(model: Module, input_shape, dtype) -> tuple[int, ...]:
    """Runs the model once in eval mode (restoring each module's mode): checks that it
    accepts ``input_shape`` and gives the shape the graph must produce."""
    modes = [(module, module.training) for module in model.modules()]
    for module, _ in modes:
        module.training = False
    try:
        with no_grad():
            return model(np.zeros(input_shape, dtype)).shape
    finally:
        for module, training in modes:
            module.training = training


def _check_output_shape(graph, shape, expected) -> None:
    known = [(i, d) for i, d in enumerate(shape) if isinstance(d, int)]
    if len(shape) != len(expected) or any(d != expected[i] for i, d in known):
        raise graph.error(f"the ONNX graph's output shape {shape} differs from the model's "
                          f"{expected} on input of the exported shape")
