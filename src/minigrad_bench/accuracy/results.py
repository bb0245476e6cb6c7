"""What a benchmark run leaves behind: one result per trained model, the table, the curves.

``results.json`` and ``curves.png`` are written only when every model has finished, each
atomically (``results.json`` last, so its presence means a complete run). A run interrupted
with Ctrl-C instead leaves ``incomplete/``: the finished models' results and the running
model's partial History and weights, every file marked incomplete.
"""

from __future__ import annotations

import json
import statistics
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from minigrad.fileio import atomic_write
from minigrad.train import History
from minigrad_bench.report import markdown_table, mean_std

COLUMNS = ("model", "params", "best epoch", "best val acc", "test acc", "train loss",
           "val loss", "s/epoch", "total time")


def run_result(model: str, framework: str, seed: int, params: int, history: History,
               test: dict, total_seconds: float, recipe: dict, device: str) -> dict:
    """One trained model's record: metrics at the best epoch, test metrics, timing, History."""
    best = history.best_epoch or history.compute_best_epoch()
    keys = ("train_loss", "val_loss", "val_acc")
    at_best = {k: history[k][best - 1] for k in keys} if best else {}
    times = history["epoch_time"] if "epoch_time" in history else []
    return {
        "model": model, "framework": framework, "seed": seed, "device": device,
        "params": int(params), "epochs_run": history.epochs, "best_epoch": best,
        "stopped_epoch": history.stopped_epoch, "stop_reason": history.stop_reason,
        "best_val_acc": at_best.get("val_acc"), "train_loss": at_best.get("train_loss"),
        "val_loss": at_best.get("val_loss"), "test_acc": test["acc"], "test_loss": test["loss"],
        "seconds_per_epoch": statistics.fmean(times) if times else None,
        "total_seconds": total_seconds, "recipe": recipe, "history": history.to_dict(),
    }


def summary_rows(runs: Sequence[dict]) -> list[dict]:
    """One row per model (in first-seen order) with every column aggregated over seeds."""
    models = list(dict.fromkeys(r["model"] for r in runs))
    rows = []
    for model in models:
        group = [r for r in runs if r["model"] == model]

        def column(key, fmt, group=group):
            return mean_std([r[key] for r in group], fmt)

        epoch_format = "{:.1f}" if len(group) > 1 else "{:.0f}"

        rows.append({
            "model": model, "seeds": [r["seed"] for r in group],
            "params": f"{group[0]['params']:,}",
            "best epoch": column("best_epoch", epoch_format.format),
            "best val acc": column("best_val_acc", lambda v: f"{100 * v:.2f}%"),
            "test acc": column("test_acc", lambda v: f"{100 * v:.2f}%"),
            "train loss": column("train_loss", lambda v: f"{v:.4f}"),
            "val loss": column("val_loss", lambda v: f"{v:.4f}"),
            "s/epoch": column("seconds_per_epoch", lambda v: f"{v:.2f}"),
            "total time": column("total_seconds", _duration),
        })
    return rows


def _duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}m{secs:04.1f}s" if minutes else f"{secs:.1f}s"


def format_table(rows: Sequence[dict]) -> str:
    """The Markdown table (mean ± std over seeds where there are several)."""
    return markdown_table(COLUMNS, ([row[c] for c in COLUMNS] for row in rows))


def curves_figure(runs: Sequence[dict], title: str) -> Figure:
    """Validation accuracy and loss per epoch of every run, on a bare Agg figure.

    torch runs are dashed, so a twin that tracks the numpy run leaves both visible.
    """
    figure = Figure(figsize=(11, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    accuracy, loss = figure.subplots(1, 2)
    for run in runs:
        metrics = run["history"]["metrics"]
        epochs = np.arange(1, len(metrics["val_acc"]) + 1)
        label = f"{run['model']} (seed {run['seed']})"
        style = {"marker": ".", "label": label,
                 "linestyle": "--" if run["framework"] == "torch" else "-"}
        accuracy.plot(epochs, 100 * np.asarray(metrics["val_acc"]), **style)
        loss.plot(epochs, metrics["val_loss"], **style)
    for axes, name in ((accuracy, "validation accuracy (%)"), (loss, "validation loss")):
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if runs:  # an empty legend only warns
        accuracy.legend(fontsize=7)
    figure.suptitle(textwrap.fill(title, 150), fontsize=8)
    return figure


def _write_json(path: Path, payload: dict) -> None:
    with atomic_write(path, "w") as file:
        json.dump(payload, file, indent=1)
        file.write("\n")


def write_results(out: Path, payload: dict) -> None:
    """``curves.png`` then ``results.json`` into ``out`` (created), each atomically."""
    out.mkdir(parents=True, exist_ok=True)
    figure = curves_figure(payload["runs"], payload["title"])
    with atomic_write(out / "curves.png", "wb") as file:
        figure.savefig(file, format="png", dpi=110)
    _write_json(out / "results.json", payload)


@dataclass
class ActiveRun:
    """The model being trained: how to read its History and save its weights if interrupted."""

    name: str
    history: Callable[[], History]
    save_weights: Callable[[Path], None]


def write_incomplete(out: Path, payload: dict, active: ActiveRun | None) -> Path:
    """Ctrl-C: ``out/incomplete/`` gets the finished results and the running model's state.

    Every file there carries ``"complete": false`` (JSON) or ``incomplete`` in its name.
    """
    folder = out / "incomplete"
    folder.mkdir(parents=True, exist_ok=True)
    payload = {**payload, "complete": False}
    if active is not None:
        stem = "".join(c if c.isalnum() else "-" for c in active.name).strip("-")
        history = active.history()
        _write_json(folder / f"{stem}.history.json",
                    {"complete": False, "model": active.name, "history": history.to_dict(),
                     "note": f"interrupted during epoch {history.epochs + 1}; the weights "
                             "are those of that moment, mid-epoch"})
        active.save_weights(folder / f"{stem}.incomplete.npz")
        payload["interrupted"] = active.name
    _write_json(folder / "results.incomplete.json", payload)
    return folder
