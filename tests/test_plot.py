import os
import sys

import matplotlib
import pytest
from matplotlib.figure import Figure

from minigrad.plot import plot_history
from minigrad.train import History


def make_history():
    history = History(monitor="val_acc", mode="max")
    for epoch, lr in enumerate([0.1, 0.1, 0.01, 0.01], 1):
        history.append(
            {
                "train_loss": 1.0 / epoch,
                "train_acc": 0.5 + 0.1 * epoch,
                "val_loss": 1.2 / epoch,
                "val_acc": 0.45 + 0.1 * epoch - 0.05 * (epoch == 4),
                "lr": lr,
                "epoch_time": 1.0,
            }
        )
    history.best_epoch = 3
    return history


def test_plot_history_draws_loss_accuracy_and_lr_panels_with_the_best_epoch():
    figure = plot_history(make_history())
    assert isinstance(figure, Figure)
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == ["loss", "accuracy", "learning rate"]
    loss_axes, acc_axes, lr_axes = figure.axes
    assert [line.get_label() for line in loss_axes.lines] == [
        "train_loss",
        "val_loss",
        "best epoch 3",
    ]
    assert list(acc_axes.lines[1].get_ydata()) == make_history()["val_acc"]
    assert list(acc_axes.lines[1].get_xdata()) == [1, 2, 3, 4]  # 1-based epochs
    assert list(acc_axes.lines[-1].get_xdata()) == [3, 3]
    assert lr_axes.get_yscale() == "log"


def test_plot_history_writes_a_png_atomically(tmp_path):
    path = tmp_path / "curves.png"
    plot_history(make_history(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["curves.png"]


def test_plot_history_leaves_pyplot_and_the_backend_alone(tmp_path):
    backend = matplotlib.get_backend()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    plot_history(make_history(), tmp_path / "c.png")
    assert matplotlib.get_backend() == backend
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot


def test_plot_history_accepts_a_plain_dict_and_skips_missing_panels():
    figure = plot_history({"train_loss": [3.0, 2.0], "lr": [0.1, 0.1]})
    assert [axes.get_title() for axes in figure.axes] == ["loss", "learning rate"]
    assert figure.axes[1].get_yscale() == "linear"  # a constant lr stays linear


def test_plot_history_rejects_what_it_cannot_plot():
    with pytest.raises(TypeError, match="expects a History or a dict"):
        plot_history([1, 2, 3])
    with pytest.raises(ValueError, match="found none of train_loss"):
        plot_history({"f1": [0.5]})


def test_plot_history_draws_per_step_lrs_at_fractions_of_their_epoch():
    history = make_history()
    for epoch in (1, 2, 3, 4):
        for lr in (0.1, 0.05):
            history.append_step({"epoch": epoch, "lr": lr / epoch})
    lr_axes = plot_history(history).axes[2]
    line = lr_axes.lines[0]
    assert line.get_label() == "lr (per step)"
    assert list(line.get_xdata()) == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    assert list(line.get_ydata()) == history.steps["lr"]
    assert lr_axes.get_yscale() == "log"
