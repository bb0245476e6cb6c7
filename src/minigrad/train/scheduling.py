"""SchedulerStep: the callback through which a training run steps its lr scheduler.

The run puts it first among the callbacks, so the scheduler is stepped once per epoch
after the History row and before any other callback's ``on_epoch_end`` (torch's order:
``optimizer.step()`` for every batch, then ``scheduler.step()``), or, per batch, after
every ``optimizer.step()`` and before any other callback's ``on_train_batch_end``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterable, Mapping

from minigrad.checks import check_choice
from minigrad.train.hooks import Callback, MonitorCallback, Run
from minigrad.train.metrics import LoggedMetrics
from minigrad.train.monitor import Monitor

INTERVALS = ("epoch", "batch")


class SchedulerStep(Callback):
    """Steps ``scheduler`` at the end of every epoch, or after every training batch.

    A scheduler whose ``step`` needs an argument (``ReduceLROnPlateau``, minigrad's or
    torch's) is stepped with the epoch's value of ``monitor``, by default the run's monitor
    (``trainer.monitor``, see ``MonitorCallback``); its ``mode`` must agree with the
    metric's name, and a ``val_*`` metric needs a validation loader (both checked when
    ``fit`` starts). Any other scheduler is stepped with no argument.

    Args:
        scheduler: an lr scheduler (anything with ``step()``).
        monitor: the metric a plateau scheduler is stepped with; None: the run's monitor.
        interval: ``"epoch"`` (one ``step()`` per epoch) or ``"batch"`` (one per
            ``optimizer.step()``: OneCycleLR, CyclicLR, warm-ups counted in batches).

    Raises:
        ValueError: an unknown ``interval``, or ``"batch"`` for a scheduler stepped with
            an epoch metric (a plateau has no metric per batch).
    """

    def __init__(self, scheduler, monitor: str | None = None, interval: str = "epoch") -> None:
        self.scheduler = scheduler
        self.monitor = monitor
        self.interval = check_choice(interval, "scheduler_interval", INTERVALS)
        self.takes_metric = _step_takes_an_argument(scheduler)
        if self.takes_metric and interval == "batch":
            raise ValueError(
                f"{type(scheduler).__name__} is stepped with an epoch metric, so it can only "
                "be stepped per epoch: use scheduler_interval='epoch'"
            )
        self.criterion: Monitor | None = None

    def warn_if_stopped_first(self, callbacks: Iterable[Callback], stacklevel: int = 1) -> None:
        """Warns (UserWarning) if the plateau could never act before ``callbacks`` stop the run.

        That is when the first callback that stops the run (a ``MonitorCallback`` with a
        ``patience``, e.g. EarlyStopping) has patience <= the plateau's patience: the
        plateau needs ``patience + 1`` bad epochs, so training would stop first and the
        lr would never be reduced. ``stacklevel`` counts from the caller of this method,
        as ``warnings.warn`` counts from its own.
        """
        stopper = next((c for c in callbacks
                        if isinstance(c, MonitorCallback) and c.patience is not None), None)
        patience = getattr(self.scheduler, "patience", None)
        if not self.takes_metric or stopper is None or patience is None:
            return
        if stopper.patience > patience:
            return
        warnings.warn(
            f"{type(stopper).__name__} patience ({stopper.patience}) <= "
            f"{type(self.scheduler).__name__} patience ({patience}): training stops after "
            f"{stopper.patience} epochs without improvement, but the plateau scheduler only "
            f"reduces the lr after {patience + 1}, so the lr will never be reduced",
            UserWarning,
            stacklevel=stacklevel + 1,
        )

    def check_run(self, metrics: LoggedMetrics, monitor: Monitor) -> None:
        """A plateau's metric must be logged, and its mode must agree with the metric."""
        if not self.takes_metric:
            return
        name = type(self.scheduler).__name__
        metric = self.monitor or monitor.metric
        natural = Monitor.expected_mode(metric)
        if natural is not None and natural != self.scheduler.mode:
            raise ValueError(
                f"{name} has mode={self.scheduler.mode!r} but is stepped with {metric!r}, "
                f"which improves in mode {natural!r}; pass scheduler_monitor= or build the "
                f"scheduler with mode={natural!r}"
            )
        metrics.require(metric, f"{name}: scheduler_monitor" if self.monitor else
                        f"{name} (stepped with the run's monitor): monitor")

    def on_train_begin(self, trainer: Run) -> None:
        if self.takes_metric:
            self.criterion = Monitor(self.monitor or trainer.monitor.metric,
                                     self.scheduler.mode, owner=type(self.scheduler).__name__)

    def on_train_batch_end(self, trainer: Run, epoch: int, batch: int) -> None:
        if self.interval == "batch":
            self.scheduler.step()

    def on_epoch_end(self, trainer: Run, epoch: int, logs: Mapping[str, float]) -> None:
        if self.interval == "batch":
            return
        if self.criterion is not None:
            self.scheduler.step(self.criterion.value(logs))
        else:
            self.scheduler.step()


def _step_takes_an_argument(scheduler) -> bool:
    """Whether ``scheduler.step`` has a required parameter: the metric of a plateau schedule."""
    parameters = inspect.signature(scheduler.step).parameters.values()
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.default is inspect.Parameter.empty and p.kind in positional for p in parameters)
