"""Which ONNX form a module has: its own ``to_onnx`` method, else a built-in converter.

A converter is ``convert(graph, module, x) -> str``: it writes the layer applied to value
``x`` into ``graph`` (an ``OnnxGraph``) and returns its output value. Adding a built-in layer
is one function decorated with ``@converts(LayerClass)`` in one of the converter modules
below. Lookup is by exact class: a subclass may compute something else in its forward, so
it needs a converter or a ``to_onnx`` of its own.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

from minigrad import nn

CONVERTERS: dict[type, Callable] = {}
# each registers its converters with @converts when imported
CONVERTER_MODULES = ("onnx_layers", "onnx_normalization", "onnx_activations", "onnx_upsample",
                     "onnx_models")


def converts(*classes: type) -> Callable:
    """Registers the decorated function as the converter of ``classes``."""
    def register(function: Callable) -> Callable:
        for cls in classes:
            CONVERTERS[cls] = function
        return function
    return register


def converter_for(module: nn.Module) -> Callable | None:
    """The module's own ``to_onnx`` method if it has one, else its built-in converter."""
    if callable(getattr(type(module), "to_onnx", None)):
        return lambda graph, m, x: m.to_onnx(graph, x)
    _import_converter_modules()
    return CONVERTERS.get(type(module))


@functools.cache
def _import_converter_modules() -> None:
    for name in CONVERTER_MODULES:
        importlib.import_module(f"minigrad.interop.{name}")
