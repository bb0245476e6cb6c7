"""examples/resnet.py runs end to end on tiny subsets of the real data, as a user runs it."""

import json
import os
from pathlib import Path

import pytest

from minigrad.train import History
from tests.test_examples import run_example

OUTPUTS = ("history.json", "best.npz", "last.npz", "curves.png", "summary.json")


def require_data(*relative_paths):
    root = os.environ.get("MINIGRAD_DATA")
    if not root or not all((Path(root) / p).is_file() for p in relative_paths):
        pytest.skip("set MINIGRAD_DATA to the folder holding the data sets (../shared/data)")


def test_cifar10_quick_run_names_the_partial_set_writes_every_output_and_resumes(tmp_path):
    require_data("cifar10-partial/cifar10_partial.npz")
    if (Path(os.environ["MINIGRAD_DATA"]) / "cifar10").is_dir():
        pytest.skip("the official CIFAR-10 files are present: the partial set is not used")
    out = tmp_path / "run"
    args = ["examples/resnet.py", "--dataset", "cifar10", "--subset", "100", "--test-subset",
            "40", "--batch-size", "40", "--out", str(out)]
    first = run_example(*args, "--epochs", "1")
    assert first.returncode == 0, first.stderr
    assert "CIFAR-10 PARTIAL SET, not the full data set" in first.stdout
    assert "269,722" in first.stdout and "test accuracy" in first.stdout
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_train"] == 80 and summary["n_val"] == 20 and summary["n_test"] == 40
    assert "PARTIAL SET" in summary["data"] and summary["parameters"] == 269_722
    resumed = run_example(*args, "--epochs", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    assert History.load(out / "history.json").epochs == 2


def test_fashion_mnist_quick_run_trains_on_grey_images(tmp_path):
    require_data("fashion-mnist/train-images-idx3-ubyte.gz")
    out = tmp_path / "run"
    result = run_example("examples/resnet.py", "--dataset", "fashion-mnist", "--subset", "100",
                         "--test-subset", "40", "--batch-size", "40", "--epochs", "1",
                         "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Fashion-MNIST (official files)" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"] == 269_722 - 2 * 144  # conv1 sees 1 channel, not 3
    assert 0.0 <= summary["test_acc"] <= 1.0 and summary["epochs_run"] == 1


@pytest.mark.parametrize("bad, words", [(["--subset", "5"], "--subset must be at least 10"),
                                        (["--resume"], "--resume needs --out")])
def test_bad_arguments_are_refused(bad, words):
    result = run_example("examples/resnet.py", *bad)
    assert result.returncode == 2 and words in result.stderr
