"""The examples run end to end, in a subprocess, as a user runs them; the MNIST example sets up
exactly the benchmark's reference recipe, from minigrad alone."""

import ast
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from minigrad.train import History
from minigrad_bench.reference import Recipe, build_trainer, reference_loaders

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


@pytest.mark.parametrize("bad, message", [
    (["--subset", "5"], "--subset must be at least"),
    (["--resume"], "--resume needs --out"),
    (["--schedule", "onecycle", "--momentum", "0.9"], "sets the SGD momentum itself"),
])
def test_mnist_example_rejects_bad_arguments(bad, message):
    result = run_example("examples/mnist.py", *bad)
    assert result.returncode == 2
    assert message in result.stderr


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


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def setup_of(trainer) -> dict:
    """What a Trainer is set up with, as comparable plain data (the weights aside)."""
    groups = [{**{k: v for k, v in group.items() if k != "params"},
               "shapes": [p.shape for p in group["params"]]}
              for group in trainer.optimizer.param_groups]
    return {"model": repr(trainer.model), "loss": repr(trainer.loss_fn),
            "optimizer": type(trainer.optimizer).__name__, "groups": groups,
            "scheduler": type(trainer.scheduler).__name__,
            "scheduler_state": trainer.scheduler.state_dict(),
            "callbacks": [repr(c) for c in trainer.callbacks], "seed": trainer.seed,
            "scheduler_monitor": trainer.scheduler_monitor,
            "scheduler_interval": trainer.scheduler_interval}


def first_batches(loader, seed: int = 7):
    loader.generator = np.random.default_rng(seed)
    return next(iter(loader))


@pytest.mark.parametrize("argv", [
    [],
    ["--optimizer", "adamw", "--lr", "0.001", "--weight-decay", "0.01", "--schedule", "cosine",
     "--epochs", "7", "--seed", "2"],
    ["--momentum", "0.9", "--lr", "0.05", "--no-augment", "--batch-size", "16", "--seed", "3"],
    ["--schedule", "onecycle", "--lr", "0.1", "--epochs", "30", "--seed", "1"],
])
def test_mnist_example_sets_up_the_benchmarks_reference_recipe(argv):
    example = load_example("mnist.py")
    args = example.parse_args(argv)
    recipe = replace(Recipe(), optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
                     weight_decay=args.weight_decay, batch_size=args.batch_size,
                     epochs=args.epochs, schedule=args.schedule, augment=not args.no_augment,
                     seed=args.seed)
    assert example.recipe(args) == recipe.to_dict()  # the fixed knobs agree too
    steps = 94  # the loader's length: sizes the one-cycle schedule
    ours = example.build_trainer(args, steps_per_epoch=steps)
    theirs = build_trainer(recipe, steps_per_epoch=steps)
    assert setup_of(ours) == setup_of(theirs)
    ours_weights, theirs_weights = ours.model.state_dict(), theirs.model.state_dict()
    assert list(ours_weights) == list(theirs_weights)
    for key in ours_weights:
        np.testing.assert_array_equal(ours_weights[key], theirs_weights[key], err_msg=key)

    g = np.random.default_rng(0)
    x, y = g.integers(0, 256, (100, 1, 28, 28), dtype=np.uint8), g.integers(0, 10, 100)
    for our_loader, their_loader in zip(example.build_loaders(x, y, args),
                                        reference_loaders("mnist", x, y, recipe), strict=True):
        assert repr(our_loader) == repr(their_loader)
        np.testing.assert_array_equal(our_loader.x, their_loader.x)
        for ours_batch, theirs_batch in zip(first_batches(our_loader),
                                            first_batches(their_loader), strict=True):
            np.testing.assert_array_equal(ours_batch, theirs_batch)


def test_mnist_example_is_built_on_minigrad_alone():
    tree = ast.parse((ROOT / "examples" / "mnist.py").read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    assert not any(name.startswith("minigrad_bench") for name in modules)
    assert "minigrad" in {name.split(".")[0] for name in modules}
