"""The examples run end to end, in a subprocess, as a user runs them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minigrad.train import History

ROOT = Path(__file__).resolve().parents[1]


def run_example(*args, cwd=ROOT, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "MPLBACKEND": "Agg"})


def require_mnist():
    root = os.environ.get("MINIGRAD_DATA")
    if not root or not (Path(root) / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("set MINIGRAD_DATA to the folder holding mnist/ (e.g. ../shared/data)")


def test_mnist_example_quick_run_writes_every_output(tmp_path):
    require_mnist()
    out = tmp_path / "run"
    result = run_example("examples/mnist.py", "--subset", "3000", "--epochs", "2",
                         "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "best validation accuracy" in result.stdout and "images / second" in result.stdout
    assert "Conv2d(1, 2, kernel_size=(5, 5), stride=(1, 1))" in result.stdout
    for name in ("history.json", "best.npz", "last.npz", "curves.png", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    history = History.load(out / "history.json")
    assert history.epochs == summary["epochs_run"] == 2
    assert summary["n_train"] == 2400 and summary["n_val"] == 600
    # 10 SGD steps of the reference recipe on 2,400 images: far from done, far above chance
    assert summary["best_val_acc"] > 0.3 and summary["test_acc"] > 0.3


def test_mnist_example_reports_a_run_that_diverges_in_its_first_epoch(tmp_path):
    require_mnist()
    out = tmp_path / "run"
    result = run_example("examples/mnist.py", "--subset", "1000", "--epochs", "1", "--lr",
                         "1e30", "--out", str(out))
    assert result.returncode == 1
    assert "no epoch completed (loss is nan at epoch 1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (out / "summary.json").exists()


def test_mnist_example_resume_continues_the_saved_run(tmp_path):
    require_mnist()
    out = tmp_path / "run"
    first = run_example("examples/mnist.py", "--subset", "1000", "--epochs", "1",
                        "--out", str(out))
    assert first.returncode == 0, first.stderr
    resumed = run_example("examples/mnist.py", "--subset", "1000", "--epochs", "2",
                          "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert History.load(out / "history.json").epochs == 2


def test_custom_layer_example_passes_its_gradcheck_and_trains():
    result = run_example("examples/custom_layer.py")
    assert result.returncode == 0, result.stderr
    assert "gradcheck passed" in result.stdout
    last_mse = float(result.stdout.split("step 300  mse ")[1].split()[0])
    assert last_mse < 0.05


def test_residual_block_example_passes_its_gradchecks_and_its_loss_falls():
    result = run_example("examples/residual_block.py", "--epochs", "2")
    assert result.returncode == 0, result.stderr
    assert "gradcheck passed (train mode)" in result.stdout
    assert "gradcheck passed (eval mode)" in result.stdout
    first, last = result.stdout.split("train loss ")[1].split(",")[0].split(" -> ")
    assert float(last) < 0.7 * float(first)
    assert float(result.stdout.split("best validation accuracy ")[1]) > 0.8  # chance: 1/3


@pytest.mark.parametrize("bad", [["--subset", "5"], ["--resume"]])
def test_mnist_example_rejects_bad_arguments(bad):
    result = run_example("examples/mnist.py", *bad)
    assert result.returncode == 2
    assert "--subset must be at least" in result.stderr or "--resume needs --out" in result.stderr


def test_readme_example_runs_as_written(tmp_path):
    require_mnist()
    readme = (ROOT / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "epochs=5" in code
    script = tmp_path / "readme_example.py"
    script.write_text(code.replace("epochs=5", "epochs=1"))  # one epoch is enough to run it
    result = run_example(str(script))
    assert result.returncode == 0, result.stderr
    assert "'acc': 0." in result.stdout
