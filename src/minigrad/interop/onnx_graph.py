"""OnnxGraph: the ONNX graph a model is written into, one module at a time.

Each module expresses itself through ``graph.emit(module, x)``: a built-in layer through its
converter (``onnx_registry``), any other module through its own method
``to_onnx(self, graph, x) -> str``, which adds nodes with ``graph.add_node`` and returns the
name of its output value. A residual block, for instance::

    def to_onnx(self, graph, x):
        return graph.add_node("Add", [x, graph.emit(self.body, x)])

Names follow torch's exporter: the initialisers of parameters and buffers are their
state_dict keys ("features.0.weight"); nodes are "/<module path>/<op>" and their outputs
"/<module path>/<op>_output_<k>", made unique by a suffix when a module is used twice.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from minigrad.interop.onnx_export import OnnxExportError
from minigrad.nn import Module, Parameter


class OnnxGraph:
    """Collects the nodes and initialisers of one export.

    Attributes:
        opset: the ONNX opset being targeted (default domain).
        dtype: the numpy float dtype of the model's values (float32 or float64).
        elem_type: the ONNX element type of ``dtype`` (``onnx.TensorProto.FLOAT``, ...).
    """

    def __init__(self, model: Module, opset: int, dtype: np.dtype, input_name: str,
                 input_shape: tuple, input_dtype: np.dtype | None = None):
        self.opset = opset
        self.dtype = np.dtype(dtype)
        self.elem_type = helper.np_dtype_to_tensor_dtype(self.dtype)
        input_type = helper.np_dtype_to_tensor_dtype(np.dtype(input_dtype or self.dtype))
        self.input = helper.make_tensor_value_info(input_name, input_type, input_shape)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self._state_keys: set[str] = set()  # the initialisers that are parameters or buffers
        self._paths: dict[int, str] = {}
        for path, module in model.named_modules():
            self._paths.setdefault(id(module), path)
        self._scope: list[Module] = []
        self._names = {input_name}
        self._shapes: dict[str, tuple] = {}

    # -- for converters and to_onnx methods --------------------------------------
    def emit(self, module: Module, x: str) -> str:
        """Writes ``module`` applied to value ``x``; returns the name of its output value.

        Raises:
            OnnxExportError: the module (named by its path in the model) has no ONNX form, is
                not part of the exported model, or its to_onnx returned no value of the graph.
        """
        from minigrad.interop.onnx_registry import converter_for

        if id(module) not in self._paths:
            raise OnnxExportError(f"{type(module).__name__} is not a submodule of the exported "
                                  "model; to_onnx can only emit the model's own children")
        convert = converter_for(module)
        self._scope.append(module)
        try:
            if convert is None:
                raise self.error(
                    f"{type(module).__name__} has no ONNX form. A module of your own takes "
                    "part by defining to_onnx(self, graph, x) -> str (docs/interop.md)")
            y = convert(self, module, x)
            if not (isinstance(y, str) and y in self._names):
                raise self.error(f"its to_onnx returned {str(y)[:80]!r}, not the name of a "
                                 "value in the graph")
        finally:
            self._scope.pop()
        return y

    def error(self, message: str) -> OnnxExportError:
        """An error naming the module being emitted (its path and class): ``raise
        graph.error("...")`` in a converter or a to_onnx method."""
        if not self._scope:
            return OnnxExportError(f"cannot export the model: {message}")
        module = self._scope[-1]
        path = self._paths[id(module)]
        where = f"'{path}'" if path else "the model"
        return OnnxExportError(f"cannot export {where} ({type(module).__name__}): {message}")

    def add_node(self, op_type: str, inputs: list[str], *, outputs: int = 1, domain: str = "",
                 **attributes) -> str | list[str]:
        """Appends an ONNX node; returns its output name (a list when ``outputs > 1``).

        ``inputs`` are value names ("" for an omitted optional input); ``attributes`` are
        the ONNX attributes (ints, floats, strings or lists of them).
        """
        unknown = [name for name in inputs if name and name not in self._names]
        if unknown:
            raise self.error(f"its {op_type} node uses values {unknown} that are not in the "
                             "graph")
        name = self._unique(f"/{self._path()}/{op_type}" if self._path() else f"/{op_type}")
        names = [self._unique(f"{name}_output_{k}") for k in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=name, domain=domain,
                                           **attributes))
        return names[0] if outputs == 1 else names

    def parameter(self, module: Module, name: str) -> str:
        """The initialiser of ``module``'s parameter or buffer ``name``, named by its
        state_dict key (added on first use)."""
        path = self._paths[id(module)]
        key = f"{path}.{name}" if path else name
        if key not in self.initializers:
            value = getattr(module, name, None)
            if value is None:
                raise self.error(f"it has no parameter or buffer {name!r}")
            array = value.data if isinstance(value, Parameter) else np.asarray(value)
            self._add_initializer(key, array)
            self._state_keys.add(key)
        return key

    def constant(self, value, hint: str, dtype=None) -> str:
        """An initialiser that is not model state (a reshape target, a GELU coefficient).

        Float values take the model's dtype; integers become int64, as ONNX shapes are;
        ``dtype`` overrides both (Resize's scales are float32 whatever the model's dtype).
        """
        array = np.asarray(value)
        if dtype is None:
            dtype = self.dtype if array.dtype.kind == "f" else np.int64
        array = array.astype(dtype)
        scope = f"/{self._path()}" if self._path() else ""
        return self._add_initializer(self._unique(f"{scope}/{hint}"), array)

    def shape(self, x: str) -> tuple[int | str | None, ...]:
        """The static shape of value ``x`` by ONNX shape inference: ints, the batch
        dimension's name when it is dynamic, None where unknown."""
        if x not in self._shapes:
            self._infer_shapes()
        if x not in self._shapes:
            raise self.error(f"ONNX shape inference gives no shape for {x!r}")
        return self._shapes[x]

    # -- for the exporter ---------------------------------------------------------
    def make_model(self, output: str, output_name: str, doc: str) -> onnx.ModelProto:
        """The finished model: ``output`` renamed ``output_name`` (an Identity node)."""
        self.nodes.append(helper.make_node("Identity", [output], [output_name],
                                           name=self._unique(f"/{output_name}")))
        self._names.add(output_name)
        shape = self.shape(output_name)
        graph = helper.make_graph(
            self.nodes, "minigrad", [self.input],
            [helper.make_tensor_value_info(output_name, self.elem_type, shape)],
            initializer=list(self.initializers.values()))
        opsets = [helper.make_opsetid("", self.opset)]
        return helper.make_model(graph, opset_imports=opsets, doc_string=doc,
                                 ir_version=helper.find_min_ir_version_for(opsets))

    # -- internals ----------------------------------------------------------------
    def _path(self) -> str:
        return self._paths[id(self._scope[-1])] if self._scope else ""

    def _unique(self, name: str) -> str:
        candidate, k = name, 1
        while candidate in self._names:
            candidate, k = f"{name}_{k}", k + 1
        self._names.add(candidate)
        return candidate

    def _add_initializer(self, name: str, array: np.ndarray) -> str:
        self._names.add(name)
        self.initializers[name] = numpy_helper.from_array(np.array(array, order="C"), name)
        return name

    def _infer_shapes(self) -> None:
        # Parameters and buffers enter as typed inputs: shape inference needs only their
        # shapes, and copying every weight for each query would be slow. Constants (reshape
        # targets, Resize scales) keep their values, which output shapes depend on.
        weights = [helper.make_tensor_value_info(name, t.data_type, list(t.dims))
                   for name, t in self.initializers.items() if name in self._state_keys]
        constants = [t for name, t in self.initializers.items() if name not in self._state_keys]
        graph = helper.make_graph(self.nodes, "partial", [self.input, *weights], [],
                                  initializer=constants)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        except onnx.shape_inference.InferenceError as err:
            raise self.error(f"ONNX shape inference fails: {err}") from None
        for info in [*inferred.graph.input, *inferred.graph.value_info]:
            dims = info.type.tensor_type.shape.dim
            self._shapes[info.name] = tuple(
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims)
