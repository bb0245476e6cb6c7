"""docs/interop.md's snippets run, top to bottom, as one script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "interop.md"


def test_the_interop_guide_runs_as_written(tmp_path, monkeypatch, capsys):
    for package in ("torch", "torchvision", "onnx", "onnxruntime", "safetensors"):
        pytest.importorskip(package)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert "cannot export '1' (Doubler): Doubler has no ONNX form" in capsys.readouterr().out
    assert not (tmp_path / "doubler.onnx").exists()
    for name in ("seed_net.onnx", "resnet20.onnx", "residual.onnx", "seed_net.pt",
                 "seed_net.safetensors", "twin.safetensors", "resnet18.pt",
                 "resnet18.safetensors", "resnet18.onnx"):
        assert (tmp_path / name).stat().st_size > 0, name
