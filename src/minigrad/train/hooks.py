"""The callback contract: the hooks a training run calls, and what a callback may use of the run.

When ``fit`` starts, before it changes anything, the run asks every callback to
``check_run``: what it needs of the run (a metric the run never logs, a path it cannot
format) fails then, not after an epoch of training.

At the end of every epoch the run records the epoch's metrics in the History, then calls
every callback's ``on_epoch_end`` (decisions: step the lr, track the best, ask to stop),
then every callback's ``after_epoch`` (side effects that must see the final state of the
epoch: writing checkpoints and logs). A checkpoint written in ``after_epoch`` therefore
holds every callback's decision for that epoch, whatever the order of the callbacks list.
After every training batch's ``optimizer.step()`` the run calls every callback's
``on_train_batch_end`` (where a per-batch lr schedule steps).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from minigrad.train.history import History
from minigrad.train.metrics import LoggedMetrics
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

    def check_run(self, metrics: LoggedMetrics, monitor: Monitor) -> None:
        """Called when ``fit`` starts, before anything changes: raise ``ValueError`` naming the
        argument if this callback cannot work in the run.

        ``metrics`` are what every epoch logs (``metrics.require(name, argument)`` raises
        the documented message); ``monitor`` is the run's monitor. Called again before the
        first batch's update if that batch shows that the targets are not class indices
        (so no accuracies are logged). Must not change any state.
        """

    def on_train_begin(self, trainer: Run) -> None:
        """Called at the start of ``fit``, before a checkpoint is resumed: reset state here."""

    def on_epoch_begin(self, trainer: Run, epoch: int) -> None:
        """Called before epoch ``epoch``'s first batch."""

    def on_train_batch_end(self, trainer: Run, epoch: int, batch: int) -> None:
        """Called after training batch ``batch`` (1-based) of ``epoch``, once its
        ``optimizer.step()`` is done and recorded (``trainer.history.steps``, when kept)."""

    def on_epoch_end(self, trainer: Run, epoch: int, logs: Mapping[str, float]) -> None:
        """Called after validation and the History row, with the epoch's metrics."""

    def after_epoch(self, trainer: Run, epoch: int, logs: Mapping[str, float]) -> None:
        """Called after every callback's ``on_epoch_end``: the epoch's state is final."""

    def on_train_end(self, trainer: Run) -> None:
        """Called when training ends: epochs exhausted, stopped early, or a NaN loss."""

    def state_dict(self) -> dict:
        return {}

    def check_state(self, state: Mapping, trainer: Run) -> None:
        """Called before any state of the run is loaded: raise ``ValueError`` if ``state``
        (from ``state_dict()``) cannot be resumed in ``trainer``'s run. Changes nothing."""

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

    def check_run(self, metrics: LoggedMetrics, monitor: Monitor) -> None:
        """The monitored metric must be one the run logs."""
        metrics.require(self.monitor, f"{type(self).__name__}: monitor")

    @property
    def monitor(self) -> str:
        return self.criterion.metric

    @property
    def mode(self) -> str:
        return self.criterion.mode

    @property
    def min_delta(self) -> float:
        return self.criterion.min_delta


def as_callbacks(callbacks: Iterable[Callback]) -> list[Callback]:
    """``callbacks`` as a list, each checked to be a ``Callback``.

    Raises:
        TypeError: a single callback (not in a list), no iterable, or an entry that is no
            ``Callback`` (naming its index).
    """
    if isinstance(callbacks, Callback) or not isinstance(callbacks, Iterable):
        hint = "; wrap it in a list" if isinstance(callbacks, Callback) else ""
        raise TypeError(f"callbacks must be a list of minigrad.train.Callback, got "
                        f"{type(callbacks).__name__}{hint}")
    callbacks = list(callbacks)
    for index, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            raise TypeError(f"callbacks[{index}] must be a minigrad.train.Callback, "
                            f"got {type(callback).__name__}")
    return callbacks


def run_monitor(callbacks: Iterable[Callback],
                has_validation: bool) -> tuple[Monitor, MonitorCallback | None]:
    """A run's monitor, and the callback whose ``best_epoch`` is the run's (if any).

    See ``MonitorCallback``: the first one that stops the run, else the first one; with
    none, ``val_loss`` (or ``train_loss`` without validation), minimised.
    """
    judges = [c for c in callbacks if isinstance(c, MonitorCallback)]
    stopper = next((c for c in judges if c.patience is not None), None)
    chosen = stopper or next(iter(judges), None)
    if chosen is not None:
        return chosen.criterion, stopper
    return Monitor("val_loss" if has_validation else "train_loss", "min"), None
