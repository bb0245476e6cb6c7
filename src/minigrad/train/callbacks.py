"""The callbacks minigrad ships: early stopping, checkpoints, a CSV log.

The hooks they implement, and when the run calls them, are in ``minigrad.train.hooks``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping

from minigrad import checkpoint
from minigrad.checks import check_int
from minigrad.fileio import atomic_write
from minigrad.train.hooks import Callback, MonitorCallback, Run

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "ModelCheckpoint"]


class EarlyStopping(MonitorCallback):
    """Stops training when a metric stops improving; by default restores the best weights.

    Exact semantics (epochs are 1-based):

    * Epochs ``1 .. start_from_epoch`` are ignored (warm-up): not compared, not counted.
    * An epoch *improves* if its value is strictly better than the best so far by MORE
      than ``min_delta`` (``value - min_delta > best`` for ``mode="max"``,
      ``value + min_delta < best`` for ``"min"``). The first monitored epoch always
      improves (unless NaN); a NaN value never improves.
    * ``wait`` counts consecutive non-improving epochs since the last improvement;
      training stops at the end of the epoch where ``wait`` reaches ``patience``. So
      ``patience=N`` stops after the Nth consecutive non-improving epoch: best at epoch
      ``b`` and nothing better, the last epoch run is ``b + N``. ``patience=0`` stops at the
      first non-improving epoch.
    * ``best_epoch`` is the 1-based epoch of the best value; ``stopped_epoch`` the 1-based
      epoch at which it stopped training (None if it did not).
    * With ``restore_best_weights``, a copy of the model's ``state_dict()`` is taken at each
      improving epoch, and loaded back when training ends for any reason (early stop,
      epochs exhausted, NaN loss). Without an improving epoch nothing is restored.

    Example:
        >>> stopper = EarlyStopping(monitor="val_loss", mode="min", patience=5)
        >>> history = Trainer(model, loss_fn, optimizer, callbacks=[stopper]).fit(...)
        >>> history.best_epoch, history.stopped_epoch     # e.g. (12, 17)
    """

    def __init__(
        self,
        monitor: str = "val_acc",
        mode: str = "max",
        patience: int = 20,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = check_int(patience, "EarlyStopping: patience", minimum=0)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = check_int(start_from_epoch, "EarlyStopping: start_from_epoch",
                                          minimum=0)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.best = self.criterion.worst
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.best_weights = None

    def on_train_begin(self, trainer: Run) -> None:
        self._reset()
        if self.criterion.needs_validation and not trainer.has_validation:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r} but fit() got no val_loader")

    def on_epoch_end(self, trainer: Run, epoch: int, logs: Mapping[str, float]) -> None:
        value = self.criterion.value(logs)
        if self.update(value, epoch) and self.restore_best_weights:
            self.best_weights = trainer.weights()
        if self.stopped_epoch is not None:
            trainer.stop(
                f"early stopping: {self.monitor} did not improve by more than {self.min_delta} "
                f"for {self.patience} epochs (best {self.best:.6g} at epoch {self.best_epoch})"
            )

    def update(self, value: float, epoch: int) -> bool:
        """Feeds one epoch's metric; returns True if it improved. Sets ``stopped_epoch``."""
        if epoch <= self.start_from_epoch:
            return False
        if self.criterion.is_improvement(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True
        self.wait += 1
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
            f"start_from_epoch={self.start_from_epoch})"
        )


class ModelCheckpoint(MonitorCallback):
    """Saves a full, resumable checkpoint (``minigrad.checkpoint.save(path, trainer=...)``).

    With ``save_best_only`` it writes only at epochs where ``monitor`` improves (strictly
    better than every earlier epoch; the first epoch always does), otherwise after every
    epoch. ``path`` may hold ``{epoch}`` or metric fields, e.g. ``"ckpt-{epoch:03d}.npz"``.
    Writes are atomic, in ``after_epoch``, so they hold every callback's state for the
    epoch; ``fit(..., resume_from=path)`` continues the run from such a file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        monitor: str = "val_acc",
        mode: str = "max",
        save_best_only: bool = True,
    ) -> None:
        super().__init__(monitor, mode)
        self.path = os.fspath(path)
        self.save_best_only = bool(save_best_only)
        self.best = self.criterion.worst
        self.last_saved: str | None = None

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

    def after_epoch(self, trainer: Run, epoch: int, logs: Mapping[str, float]) -> None:
        history = trainer.history
        columns = list(history)
        with atomic_write(self.path, "w") as file:
            writer = csv.writer(file)
            writer.writerow(["epoch", *columns])
            for index in range(history.epochs):
                writer.writerow([index + 1, *(repr(history[c][index]) for c in columns)])
