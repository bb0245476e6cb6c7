"""The callback contract: the hooks a training run calls, and what a callback may use of the run.

At the end of every epoch the run records the epoch's metrics in the History, then calls
every callback's ``on_epoch_end`` (decisions: step the lr, track the best, ask to stop),
then every callback's ``after_epoch`` (side effects that must see the final state of the
epoch: writing checkpoints and logs). A checkpoint written in ``after_epoch`` therefore
holds every callback's decision for that epoch, whatever the order of the callbacks list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from minigrad.train.history import History
from minigrad.train.monitor import Monitor


class Run(Protocol):
    """What a callback may use of the run that calls it (a ``Trainer``, or the benchmark's
    torch twin of it): both are driven by the same epoch loop."""

    model: Any
    optimizer: Any
    history: History
    monitor: Monitor | None  # the run's monitor, chosen at the start of fit
    epoch: int  # completed epochs
    has_validation: bool

    def stop(self, reason: str) -> None:
        """Ends training after the current epoch; ``reason`` goes to the History."""

    def weights(self) -> dict:
        """A copy of the model's weights (its ``state_dict``), safe to keep."""

    def load_weights(self, weights: Mapping) -> None:
        """Loads weights taken by ``weights()`` back into the model."""


class Callback:
    """Base class: override the hooks you need. ``epoch`` is 1-based.

    ``trainer`` gives access to ``trainer.model``, ``trainer.optimizer``,
    ``trainer.history``; call ``trainer.stop(reason)`` to end training after this epoch.
    Callbacks that carry state across epochs return it from ``state_dict()`` (plain data
    and ndarrays) so checkpoints can resume them exactly.
    """

    def on_train_begin(self, trainer: Run) -> None:
        """Called at the start of ``fit``, before a checkpoint is resumed: reset state here."""

    def on_epoch_begin(self, trainer: Run, epoch: int) -> None:
        """Called before epoch ``epoch``'s first batch."""

    def on_epoch_end(self, trainer: Run, epoch: int, logs: Mapping[str, float]) -> None:
        """Called after validation and the History row, with the epoch's metrics."""

    def after_epoch(self, trainer: Run, epoch: int, logs: Mapping[str, float]) -> None:
        """Called after every callback's ``on_epoch_end``: the epoch's state is final."""

    def on_train_end(self, trainer: Run) -> None:
        """Called when training ends: epochs exhausted, stopped early, or a NaN loss."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: Mapping) -> None:
        """Restores ``state_dict()`` output."""


class MonitorCallback(Callback):
    """Base of the callbacks that judge epochs by one metric (EarlyStopping, ModelCheckpoint).

    ``criterion`` is their ``Monitor``; ``monitor``, ``mode`` and ``min_delta`` read it.
    One that stops the run sets ``patience`` (the non-improving epochs it waits) and keeps
    ``best_epoch``. The run's monitor (``trainer.monitor``: what ``History.best_epoch``
    refers to, and the default metric of a plateau scheduler) is the ``criterion`` of the
    first MonitorCallback with a ``patience``, whose ``best_epoch`` becomes the History's;
    else of the first MonitorCallback; else ``"val_loss"`` (``"train_loss"`` without a
    validation loader), in mode ``"min"``.
    """

    patience: int | None = None
    best_epoch: int | None = None

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        self.criterion = Monitor(monitor, mode, min_delta, owner=type(self).__name__)

    @property
    def monitor(self) -> str:
        return self.criterion.metric

    @property
    def mode(self) -> str:
        return self.criterion.mode

    @property
    def min_delta(self) -> float:
        return self.criterion.min_delta
