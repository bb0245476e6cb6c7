"""Bridges to the rest of the ecosystem: ONNX export and torch checkpoints read safely.

``load_torch_state_dict`` reads ``torch.save(model.state_dict())`` files without torch and
without running their code. ``to_onnx`` (needs the ``onnx`` package: ``pip install
"minigrad[onnx]"``) writes a model that onnxruntime runs. ``save_safetensors`` writes a
state_dict with the ``safetensors`` package, C-ordered whatever the arrays' layout.
docs/interop.md shows each round trip.
"""

from minigrad.interop.onnx_export import OnnxExportError, to_onnx
from minigrad.interop.safetensors_file import save_safetensors
from minigrad.interop.torch_load import TorchFileError, load_torch_state_dict

__all__ = ["OnnxExportError", "TorchFileError", "load_torch_state_dict", "save_safetensors",
           "to_onnx"]
