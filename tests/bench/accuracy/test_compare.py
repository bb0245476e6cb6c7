"""``compare`` end to end on the smoke profile: the table, results.json, curves.png, the twin."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.bench.helpers import data_root

torch = pytest.importorskip("torch")

MODELS = ("minigrad reference net (numpy)", "torch twin of the reference net",
          "torch VGG 4x8x8x16 (seed recipe)")


def table_rows(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


@pytest.mark.parametrize("fixture", ["mnist_smoke", "cifar_smoke"])
def test_compare_smoke_prints_one_table_row_per_model(fixture, request):
    run = request.getfixturevalue(fixture)
    assert run["code"] == 0, run["stderr"]
    header, *rows = table_rows(run["stdout"])
    assert header == ["model", "params", "best epoch", "best val acc", "test acc", "train loss",
                      "val loss", "s/epoch", "total time"]
    assert [row[0] for row in rows] == list(MODELS)
    for row in rows:
        assert re.fullmatch(r"\d+\.\d\d%", row[4]), row  # test accuracy, measured


@pytest.mark.parametrize("fixture", ["mnist_smoke", "cifar_smoke"])
def test_results_record_profile_device_versions_seed_epochs_and_sizes(fixture, request):
    run = request.getfixturevalue(fixture)
    results = run["results"]
    assert results["complete"] is True
    assert results["profile"]["name"] == "smoke"
    assert results["device"] == "cpu"
    assert results["environment"]["torch"] == torch.__version__
    assert results["data"]["train"] == 480 and results["data"]["validation"] == 120
    assert results["data"]["test"] == 200
    assert "smoke" in results["title"] and "numbers mean nothing" in results["title"]
    for record in results["runs"]:
        assert record["seed"] == 0
        assert record["epochs_run"] == record["recipe"]["epochs"] == len(
            record["history"]["metrics"]["val_acc"])
        assert 1 <= record["best_epoch"] <= record["epochs_run"]
        assert 0.0 <= record["test_acc"] <= 1.0
    epochs = [record["recipe"]["epochs"] for record in results["runs"]]
    assert epochs == [2, 2, 1]


@pytest.mark.parametrize("fixture", ["mnist_smoke", "cifar_smoke"])
def test_output_folder_holds_exactly_the_results_and_a_png(fixture, request):
    out = request.getfixturevalue(fixture)["out"]
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "results.json"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("fixture", ["mnist_smoke", "cifar_smoke"])
def test_torch_twin_fed_identical_batches_tracks_the_numpy_run(fixture, request):
    """Same initial weights, batches and dropout masks: only float rounding differs."""
    numpy_run, twin = request.getfixturevalue(fixture)["results"]["runs"][:2]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        np.testing.assert_allclose(twin["history"]["metrics"][key],
                                   numpy_run["history"]["metrics"][key], rtol=1e-4, err_msg=key)
    assert twin["params"] == numpy_run["params"]
    assert twin["test_acc"] == pytest.approx(numpy_run["test_acc"], abs=0.006)  # 1 of 200 images


def test_cifar10_smoke_says_where_its_images_came_from(cifar_smoke):
    results = cifar_smoke["results"]
    root = data_root()
    partial = root is not None and (root / "cifar10-partial" / "cifar10_partial.npz").is_file()
    expected = "PARTIAL SET" if partial else "SYNTHETIC"
    assert expected in results["data"]["source"]
    assert expected in cifar_smoke["stdout"]
    assert results["data"]["image_shape"] == [3, 32, 32]
