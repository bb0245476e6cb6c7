"""The command line: bad input exits with code 2 and writes nothing; Ctrl-C leaves partial state."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from minigrad_bench.accuracy import torch_train
from tests.bench.helpers import require_mnist, run_cli

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("argv, named", [
    (["compare", "--dataset", "svhn"], "svhn"),
    (["compare", "--dataset", "mnist", "--profile", "huge"], "huge"),
    (["compare", "--dataset", "mnist", "--device", "tpu"], "tpu"),
    (["torch", "--dataset", "mnist", "--recipe", "fancy"], "fancy"),
    (["torch", "--dataset", "cifar10", "--recipe", "improved"], "improved recipe is defined"),
    (["torch", "--dataset", "mnist", "--cifar10-partial"], "--cifar10-partial needs --dataset"),
    (["compare", "--dataset", "mnist", "--cifar10-partial"], "--cifar10-partial needs --dataset"),
    (["dance"], "dance"),
])
def test_bad_input_exits_2_naming_it_and_writes_nothing(argv, named, tmp_path):
    out = tmp_path / "out"
    code, _, stderr = run_cli([*argv, "--out", str(out)] if argv[0] != "dance" else argv)
    assert code == 2
    assert named in stderr
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_exits_2_with_a_clear_message(tmp_path):
    out = tmp_path / "out"
    code, _, stderr = run_cli(["compare", "--dataset", "mnist", "--device", "cuda",
                               "--profile", "smoke", "--out", str(out)])
    assert code == 2
    assert "--device cuda was requested" in stderr and "no CUDA GPU" in stderr
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["compare", "--dataset", "mnist", "--profile", "smoke"], "MNIST files missing"),
    (["torch", "--dataset", "cifar10", "--profile", "full"], "needs the official CIFAR-10 files"),
])
def test_missing_data_exits_2_saying_where_it_looked(argv, message, tmp_path):
    out = tmp_path / "out"
    empty = tmp_path / "no-data"
    empty.mkdir()
    code, _, stderr = run_cli([*argv, "--device", "cpu", "--data-dir", str(empty),
                               "--out", str(out)])
    assert code == 2
    assert message in stderr and str(empty) in stderr
    assert not out.exists()


def test_cifar10_partial_runs_the_full_recipe_on_the_partial_set_labelled_so(
        tmp_path, monkeypatch):
    """The full profile's CIFAR-10 recipe (200 epochs, crop + flip + cutout) on all 4,000 + 1,000
    images; the training itself is replaced by a recorder (200 epochs do not fit a test)."""
    from minigrad_bench.accuracy import compare
    from minigrad_bench.accuracy.baselines import baseline_recipe
    from tests.bench.accuracy.test_datasets import write_partial_set

    write_partial_set(tmp_path / "data", n_train=4000, n_test=1000)
    seen = []

    def record(session, dataset, profile, variant, seed, images, device):
        seen.append(baseline_recipe(dataset, variant, epochs=profile.vgg_epochs[dataset]))

    monkeypatch.setattr(compare, "run_vgg", record)
    code, stdout, stderr = run_cli(["torch", "--dataset", "cifar10", "--cifar10-partial",
                                    "--profile", "full", "--seeds", "0", "--device", "cpu",
                                    "--data-dir", str(tmp_path / "data"),
                                    "--out", str(tmp_path / "out")])
    assert code == 0, stderr
    (recipe,) = seen
    assert (recipe.epochs, recipe.batch_size, recipe.cutout_length, recipe.flip) == (
        200, 128, 16, True)
    label = "CIFAR-10 partial set (4,000 train / 1,000 test)"
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["dataset"] == "cifar10-partial" and results["data"]["set"] == label
    assert (results["data"]["train"], results["data"]["validation"], results["data"]["test"]) \
        == (3200, 800, 1000)
    assert results["title"].startswith(f"torch --recipe seed, {label}, full profile")
    assert f"Data: {label}\n| model |" in stdout


def test_ctrl_c_leaves_partial_history_and_weights_marked_incomplete(tmp_path, monkeypatch):
    require_mnist()
    calls = []

    def interrupted_epoch(trainer, *args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(trainer, *args)

    real_epoch = torch_train.TorchTrainer._train_epoch
    monkeypatch.setattr(torch_train.TorchTrainer, "_train_epoch", interrupted_epoch)
    out = tmp_path / "out"
    code, _, _ = run_cli(["compare", "--dataset", "mnist", "--profile", "smoke", "--device",
                          "cpu", "--out", str(out)])
    assert code == 130
    assert not (out / "results.json").exists() and not (out / "curves.png").exists()
    folder = out / "incomplete"
    summary = json.loads((folder / "results.incomplete.json").read_text())
    assert summary["complete"] is False
    assert summary["interrupted"] == "torch twin of the reference net"
    assert [r["model"] for r in summary["runs"]] == ["minigrad reference net (numpy)"]
    partial = json.loads((folder / "torch-twin-of-the-reference-net.history.json").read_text())
    assert partial["complete"] is False
    assert len(partial["history"]["metrics"]["val_acc"]) == 1  # epoch 1 done, 2 interrupted
    with np.load(folder / "torch-twin-of-the-reference-net.incomplete.npz",
                 allow_pickle=False) as weights:
        assert sorted(weights.files) == ["0.bias", "0.weight", "3.bias", "3.weight",
                                         "6.bias", "6.weight"]


def test_torch_command_trains_the_improved_recipe(tmp_path):
    require_mnist()
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["torch", "--dataset", "mnist", "--recipe", "improved",
                                    "--profile", "smoke", "--device", "cpu", "--out", str(out)])
    assert code == 0, stderr
    assert "RandomRotation(10)" in stdout and "RandomHorizontalFlip" not in stdout
    results = json.loads((out / "results.json").read_text())
    (run,) = results["runs"]
    assert run["recipe"]["variant"] == "improved" and run["recipe"]["flip"] is False
    assert run["framework"] == "torch" and run["device"] == "cpu"


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "minigrad_bench", "compare", "--dataset",
                             "nope"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid choice: 'nope'" in result.stderr


def test_speed_quick_prints_minigrad_over_torch_ratios():
    code, stdout, _ = run_cli(["speed", "--quick"])
    assert code == 0
    assert "minigrad / torch speed" in stdout
    ratios = [line for line in stdout.splitlines()
              if line.startswith("| ") and line.rstrip().endswith("x |")]
    assert len(ratios) >= 2


def test_speed_in_several_processes_prints_medians_and_ranges(tmp_path):
    out = tmp_path / "speed.json"
    code, stdout, _ = run_cli(["speed", "--quick", "--processes", "2", "--json", str(out)])
    assert code == 0
    assert "Medians of 2 processes" in stdout
    results = json.loads(out.read_text())
    assert results["environment"]["processes"] == 2
    low, high = results["rows"][0]["speedup_vs_torch_range"]
    assert low <= results["rows"][0]["speedup_vs_torch"] <= high
    assert f"{low:.2f}x-{high:.2f}x" in stdout


def test_speed_rejects_zero_processes():
    code, _, stderr = run_cli(["speed", "--processes", "0"])
    assert code == 2
    assert "argument --processes: value must be an int >= 1, got 0" in stderr
