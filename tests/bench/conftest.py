"""Session fixtures: the smoke-profile ``compare`` runs that several tests read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from tests.bench.helpers import require_mnist, run_cli  # noqa: E402


def _compare(dataset: str, folder: Path) -> dict:
    code, stdout, stderr = run_cli(["compare", "--dataset", dataset, "--profile", "smoke",
                                    "--device", "cpu", "--out", str(folder)])
    results = json.loads((folder / "results.json").read_text()) if code == 0 else None
    return {"code": code, "stdout": stdout, "stderr": stderr, "out": folder, "results": results}


@pytest.fixture(scope="session")
def mnist_smoke(tmp_path_factory) -> dict:
    require_mnist()
    return _compare("mnist", tmp_path_factory.mktemp("compare-mnist"))


@pytest.fixture(scope="session")
def cifar_smoke(tmp_path_factory) -> dict:
    return _compare("cifar10", tmp_path_factory.mktemp("compare-cifar10"))
