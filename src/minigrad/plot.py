"""Training curves: loss, accuracy and learning rate against epoch, best epoch marked.

Draws on a bare ``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot,
so it works headless and leaves the user's backend and pyplot state untouched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from minigrad.fileio import atomic_write

PANELS = (
    ("loss", ("train_loss", "val_loss")),
    ("accuracy", ("train_acc", "val_acc")),
    ("learning rate", ("lr",)),
)


def plot_history(history: Mapping, path: str | os.PathLike | None = None) -> Figure:
    """Plots a History (or any mapping of metric name -> list over epochs).

    Three panels against 1-based epoch: train/val loss, train/val accuracy, and the
    learning rate on its own axis (log scale when it changes). When the History holds
    per-step records (``history.steps["lr"]``: a schedule stepped per batch) the lr panel
    draws one point per optimizer step, the j-th of an epoch's n steps at ``epoch - 1 +
    j / n``, instead of one per epoch. ``history.best_epoch``, if set, is marked by a
    dashed line on every panel. Panels whose metrics are absent are left out.

    Args:
        history: ``minigrad.train.History`` or a dict of lists.
        path: if given, the figure is also written there as PNG (atomically).

    Returns:
        The ``matplotlib.figure.Figure``; display it in a notebook, or ``fig.savefig(...)``.
    """
    if not isinstance(history, Mapping):
        raise TypeError(
            f"plot_history expects a History or a dict of lists, got {type(history).__name__}"
        )
    panels = [(title, [k for k in keys if k in history]) for title, keys in PANELS]
    panels = [(title, keys) for title, keys in panels if keys]
    if not panels:
        raise ValueError(
            "plot_history found none of train_loss, val_loss, train_acc, val_acc, lr "
            f"in the history (it has {sorted(history)})"
        )
    figure = Figure(figsize=(4.5 * len(panels), 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    best_epoch = getattr(history, "best_epoch", None)
    for index, (title, keys) in enumerate(panels, 1):
        _draw_panel(figure.add_subplot(1, len(panels), index), title, keys, history, best_epoch)
    if path is not None:
        with atomic_write(path, "wb") as file:
            figure.savefig(file, format="png", dpi=120)
    return figure


def _draw_panel(axes, title: str, keys: list[str], history: Mapping, best_epoch) -> None:
    steps = getattr(history, "steps", {})
    for key in keys:
        if key == "lr" and "lr" in steps:
            values = list(steps["lr"])
            axes.plot(_step_positions(steps["epoch"]), values, label="lr (per step)")
            continue
        values = list(history[key])
        axes.plot(
            range(1, len(values) + 1), values, marker="." if len(values) < 30 else None, label=key
        )
    if keys == ["lr"] and len(set(values)) > 1 and min(values) > 0:
        axes.set_yscale("log")
    if best_epoch is not None:
        axes.axvline(
            best_epoch, color="grey", linestyle="--", linewidth=1, label=f"best epoch {best_epoch}"
        )
    axes.set_title(title)
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")


def _step_positions(epochs: list[int]) -> list[float]:
    """Where each step goes on the epoch axis: the j-th of epoch e's n steps at e - 1 + j/n."""
    counts: dict[int, int] = {}
    for epoch in epochs:
        counts[epoch] = counts.get(epoch, 0) + 1
    positions, seen = [], dict.fromkeys(counts, 0)
    for epoch in epochs:
        seen[epoch] += 1
        positions.append(epoch - 1 + seen[epoch] / counts[epoch])
    return positions
