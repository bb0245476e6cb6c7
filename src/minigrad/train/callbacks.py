"""The callbacks minigrad ships: early stopping, checkpoints, a CSV log.

The hooks they implement, and when the run calls them, are in ``minigrad.train.hooks``.
"""

from __future__ import annotations

import csv
import math
import numbers
import os
import string
from collections.abc import Mapping

import numpy as np

from minigrad import checkpoint
from minigrad.checks import check_bool, check_int
from minigrad.fileio import atomic_write
from minigrad.train.hooks import Callback, MonitorCallback, Run
from minigrad.train.metrics import LoggedMetrics
from minigrad.train.monitor import Monitor

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "ModelCheckpoint"]


class EarlyStopping(MonitorCallback):
    """Stops training when a metric stops improving; by default restores the best weights.

    Keras's rule (``keras.callbacks.EarlyStopping``), on 1-based epochs:

    * Epochs ``1 .. start_from_epoch`` are ignored (warm-up): not compared, not counted.
    * An epoch *improves* if its value is strictly better than the best so far by MORE
      than ``min_delta`` (``value - min_delta > best`` for ``mode="max"``,
      ``value + min_delta < best`` for ``"min"``). The first monitored epoch always
      improves (unless NaN); a NaN value never improves.
    * ``wait`` counts the epochs since the last improvement (since the last one that also
      beats ``baseline``, when there is one); training stops at the end of a
      non-improving epoch where ``wait`` reaches ``patience``. So ``patience=N`` stops
      after the Nth consecutive non-improving epoch: best at epoch ``b`` and nothing
      better, the last epoch run is ``b + N``. ``patience=0`` stops at the first
      non-improving epoch. An improving epoch never stops the run.
    * ``baseline``: an improvement resets ``wait`` only if it also beats ``baseline`` (by
      more than ``min_delta``): a run that does not beat the baseline stops at the first
      non-improving epoch at least ``patience`` epochs after its start.
    * ``mode="auto"`` reads the direction from the metric's name: ``*loss`` min, ``*acc``,
      ``*accuracy``, ``*auc`` max; another name needs ``"min"`` or ``"max"``.
    * ``best_epoch`` is the 1-based epoch of the best value (baseline or not);
      ``stopped_epoch`` the 1-based epoch at which it stopped training (None if it did not).
    * With ``restore_best_weights``, a copy of the model's ``state_dict()`` is taken at each
      improving epoch, and loaded back when training ends for any reason (early stop,
      epochs exhausted, NaN loss), whether or not it beat the baseline. Without an
      improving epoch nothing is restored.

    Where it differs from Keras: docs/training.md ("Early stopping").

    Example:
        >>> stopper = EarlyStopping(monitor="val_loss", mode="min", patience=5)
        >>> history = Trainer(model, loss_fn, optimizer, callbacks=[stopper]).fit(...)
        >>> history.best_epoch, history.stopped_epoch     # e.g. (12, 17)
    """

    def __init__(
        self,
        monitor: str = "val_acc",
        mode: str = "auto",
        patience: int = 20,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
        start_from_epoch: int = 0,
        baseline: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = check_int(patience, "EarlyStopping: patience", minimum=0)
        self.restore_best_weights = check_bool(restore_best_weights,
                                               "EarlyStopping: restore_best_weights")
        self.start_from_epoch = check_int(start_from_epoch, "EarlyStopping: start_from_epoch",
                                          minimum=0)
        if baseline is not None and (isinstance(baseline, bool)
                                     or not isinstance(baseline, numbers.Real)
                                     or not math.isfinite(baseline)):
            raise ValueError(f"EarlyStopping: baseline must be a finite number or None, "
                             f"got {baseline!r}")
        self.baseline = None if baseline is None else float(baseline)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.best = self.criterion.worst
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.best_weights = None

    def on_train_begin(self, trainer: Run) -> None:
        self._reset()

    def on_epoch_end(self, trainer: Run, epoch: int, logs: Mapping[str, float]) -> None:
        value = self.criterion.value(logs)
        if self.update(value, epoch) and self.restore_best_weights:
            self.best_weights = trainer.weights()
        if self.stopped_epoch is not None:
            trainer.stop(self._stop_reason())

    def _stop_reason(self) -> str:
        best = f"best {self.best:.6g} at epoch {self.best_epoch}"
        if self.baseline is not None and not self.criterion.is_improvement(self.best,
                                                                           self.baseline):
            return (f"early stopping: {self.monitor} did not beat the baseline "
                    f"{self.baseline:.6g} by more than {self.min_delta} in {self.wait} "
                    f"epochs ({best})")
        return (f"early stopping: {self.monitor} did not improve by more than {self.min_delta} "
                f"for {self.patience} epochs ({best})")

    def update(self, value: float, epoch: int) -> bool:
        """Feeds one epoch's metric; returns True if it improved. Sets ``stopped_epoch``."""
        if epoch <= self.start_from_epoch:
            return False
        self.wait += 1
        if self.criterion.is_improvement(value, self.best):
            self.best, self.best_epoch = value, epoch
            # Keras: the count restarts only at an improvement that also beats the baseline.
            if self.baseline is None or self.criterion.is_improvement(value, self.baseline):
                self.wait = 0
            return True
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
        return False

    def on_train_end(self, trainer: Run) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            trainer.load_weights(self.best_weights)

    def state_dict(self) -> dict:
        return {
            "wait": self.wait,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": None if self.best_weights is None else dict(self.best_weights),
        }

    def check_state(self, state: Mapping, trainer: Run) -> None:
        """Best weights saved for another model are refused before anything is loaded."""
        weights = state.get("best_weights") if isinstance(state, Mapping) else None
        if weights is None:
            return
        mismatch = _weights_mismatch(weights, trainer.weights())
        if mismatch:
            raise ValueError(f"EarlyStopping: the saved best weights do not fit this model: "
                             f"{mismatch}")

    def load_state_dict(self, state: Mapping) -> None:
        self.wait = int(state["wait"])
        self.best = float(state["best"])
        self.best_epoch = state["best_epoch"]
        self.stopped_epoch = state["stopped_epoch"]
        weights = state["best_weights"]
        self.best_weights = None if weights is None else {k: v.copy() for k, v in weights.items()}

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor!r}, mode={self.mode!r}, "
            f"patience={self.patience}, min_delta={self.min_delta}, "
            f"restore_best_weights={self.restore_best_weights}, "
            f"start_from_epoch={self.start_from_epoch}, baseline={self.baseline})"
        )


class ModelCheckpoint(MonitorCallback):
    """Saves a full, resumable checkpoint (``minigrad.checkpoint.save(path, trainer=...)``).

    With ``save_best_only`` it writes only at epochs where ``monitor`` improves (strictly
    better than every earlier epoch; the first epoch always does), otherwise after every
    epoch. ``mode="auto"`` reads the direction from the metric's name, as EarlyStopping.
    ``path`` may hold ``{epoch}`` or metric fields, e.g. ``"ckpt-{epoch:03d}.npz"``.
    Writes are atomic, in ``after_epoch``, so they hold every callback's state for the
    epoch; ``fit(..., resume_from=path)`` continues the run from such a file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        monitor: str = "val_acc",
        mode: str = "auto",
        save_best_only: bool = True,
    ) -> None:
        super().__init__(monitor, mode)
        self.path = os.fspath(path)
        self.save_best_only = check_bool(save_best_only, "ModelCheckpoint: save_best_only")
        self.best = self.criterion.worst
        self.last_saved: str | None = None

    def check_run(self, metrics: LoggedMetrics, monitor: Monitor) -> None:
        """With ``save_best_only`` the monitor must be logged; ``path`` must format with
        ``{epoch}`` and the logged metrics, into a folder that exists."""
        if self.save_best_only:
            super().check_run(metrics, monitor)
        owner = f"ModelCheckpoint: path={self.path!r}"
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(self.path)
                      if field is not None]
        except ValueError as error:
            raise ValueError(f"{owner} is not a valid format string ({error})") from None
        for field in fields:
            name = field.split(".")[0].split("[")[0]
            if name != "epoch" and name not in metrics:
                raise ValueError(f"{owner} has the field {{{field}}}, which is neither 'epoch' "
                                 f"nor a metric this run logs; it logs {metrics.describe()}")
        try:
            example = self.path.format(epoch=1, **dict.fromkeys(metrics.names, 0.5))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
            raise ValueError(f"{owner} cannot be formatted with an int epoch and float metrics "
                             f"({type(error).__name__}: {error})") from None
        if "{" not in os.path.dirname(self.path):  # else the folder depends on the epoch
            _check_folder(example, "ModelCheckpoint: path")

    def on_train_begin(self, trainer: Run) -> None:
        self.best = self.criterion.worst
        self.last_saved = None

    def after_epoch(self, trainer: Run, epoch: int, logs: Mapping[str, float]) -> None:
        if self.save_best_only:
            value = self.criterion.value(logs)
            if not self.criterion.is_improvement(value, self.best):
                return
            self.best = value
        self.last_saved = self.path.format(epoch=epoch, **logs)
        checkpoint.save(self.last_saved, trainer=trainer)

    def state_dict(self) -> dict:
        return {"best": self.best, "last_saved": self.last_saved}

    def load_state_dict(self, state: Mapping) -> None:
        self.best = float(state["best"])
        self.last_saved = state["last_saved"]


class CSVLogger(Callback):
    """Writes the History as CSV (``epoch`` then one column per metric), one row per epoch.

    The whole file is rewritten atomically from the History after every epoch, so it is
    never half-written and a resumed run continues it without duplicate rows.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)

    def check_run(self, metrics: LoggedMetrics, monitor: Monitor) -> None:
        _check_folder(self.path, "CSVLogger: path")

    def after_epoch(self, trainer: Run, epoch: int, logs: Mapping[str, float]) -> None:
        history = trainer.history
        columns = list(history)
        with atomic_write(self.path, "w") as file:
            writer = csv.writer(file)
            writer.writerow(["epoch", *columns])
            for index in range(history.epochs):
                writer.writerow([index + 1, *(repr(history[c][index]) for c in columns)])


def _check_folder(path: str, argument: str) -> None:
    """A file is written at ``path`` after every epoch: its folder must exist at fit start."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{argument}={path!r} is a folder; name a file in it")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{argument}={path!r}: the folder {folder!r} does not exist "
                                "(create it before fit)")


def _weights_mismatch(saved: Mapping, current: Mapping) -> str:
    """Which entries of ``saved`` weights are missing, unexpected or mis-shaped against the
    model's ``current`` ones ("" when they fit)."""
    if not isinstance(saved, Mapping):
        return f"expected a mapping of arrays, got {type(saved).__name__}"
    problems = []
    missing = [key for key in current if key not in saved]
    unexpected = [key for key in saved if key not in current]
    misshaped = [f"{key}: expected {tuple(np.shape(value))}, got {tuple(np.shape(saved[key]))}"
                 for key, value in current.items()
                 if key in saved and tuple(np.shape(saved[key])) != tuple(np.shape(value))]
    if missing:
        problems.append("missing keys: " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected keys: " + ", ".join(map(str, unexpected)))
    if misshaped:
        problems.append("mis-shaped entries: " + "; ".join(misshaped))
    return "; ".join(problems)
