"""Mean +- std of several examples/mnist.py runs, as the table in docs/results.md.

    python benchmarks/summarize_mnist_runs.py runs/ref-seed0 runs/ref-seed1 runs/ref-seed2
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def load(folder: str) -> dict:
    return json.loads((Path(folder) / "summary.json").read_text())


def mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.2f} +- {values.std(ddof=1) if len(values) > 1 else 0.0:.2f}"


def main(folders: list[str]) -> None:
    runs = [load(f) for f in folders]
    print("| seed | best epoch | epochs run | best val acc | test acc | s/epoch | wall time |")
    print("|---|---|---|---|---|---|---|")
    for run in runs:
        print(f"| {run['recipe']['seed']} | {run['best_epoch']} | {run['epochs_run']} | "
              f"{100 * run['best_val_acc']:.2f}% | {100 * run['test_acc']:.2f}% | "
              f"{run['seconds_per_epoch']:.2f} | {run['wall_seconds'] / 60:.1f} min |")
    print(f"| mean +- std | {mean_std([r['best_epoch'] for r in runs])} | "
          f"{mean_std([r['epochs_run'] for r in runs])} | "
          f"{mean_std([100 * r['best_val_acc'] for r in runs])}% | "
          f"{mean_std([100 * r['test_acc'] for r in runs])}% | "
          f"{mean_std([r['seconds_per_epoch'] for r in runs])} | "
          f"{mean_std([r['wall_seconds'] / 60 for r in runs])} min |")


if __name__ == "__main__":
    main(sys.argv[1:])
