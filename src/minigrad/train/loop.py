"""EpochLoop: the epoch driver of a training run, for any framework.

One epoch: the hooks' ``on_epoch_begin``; the training batches in train mode, each one
all-or-nothing step (``_train_batch``: a forward pass with its loss, then an update; one
refused for a NaN or inf loss or gradient, or failing with an exception, is undone by the
framework's ``_discard_step``, then the run stops or the exception propagates), its record
in ``History.steps`` (when the run keeps them) and the hooks' ``on_train_batch_end`` (a
per-batch scheduler steps there); validation in eval mode; the History row (``train_*``,
``val_*``, ``lr``, ``epoch_time``); then the hooks' ``on_epoch_end`` (a per-epoch scheduler
steps first) and ``after_epoch``. The loop owns the History, the run's monitor, the stop
reason and the tally of the batch losses and hits.

A framework supplies the batch step by subclassing: ``minigrad.train.Trainer`` for minigrad
models, the benchmark's ``TorchTrainer`` for its torch twins. Both are therefore driven by
this one loop, callbacks and all, and a change here changes both.

Reproducibility: the run owns ONE ``numpy.random.Generator`` (``self.generator``, from
``seed``), handed to the model and the loaders when ``fit`` starts (``_share_generator``);
its state is saved in checkpoints, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from minigrad import checkpoint
from minigrad.checks import check_choice, check_int
from minigrad.train.batches import batch_count, batch_pair, check_loader
from minigrad.train.history import History
from minigrad.train.hooks import Callback, MonitorCallback, as_callbacks, run_monitor
from minigrad.train.metrics import LoggedMetrics
from minigrad.train.monitor import Monitor
from minigrad.train.progress import EpochBar, stdout_is_terminal, summary_line
from minigrad.train.run_state import begin_run, load_run_state, run_state_dict
from minigrad.train.scheduling import INTERVALS, SchedulerStep
from minigrad.train.tally import Tally


class EpochLoop(ABC):
    """Trains ``model`` with ``optimizer`` epoch by epoch; subclasses supply the batch step.

    Args:
        model: the framework's model (``train()``, ``eval()``, ``training``).
        optimizer: the framework's optimizer (``param_groups[0]["lr"]`` is logged).
        scheduler: optional lr scheduler, stepped through a ``SchedulerStep`` that runs
            before the callbacks: once per epoch after validation, or after every batch.
        callbacks: ``Callback`` instances, called in order.
        seed: seed of the run's Generator (shuffling, dropout, augmentation).
        scheduler_monitor: the metric a plateau scheduler is stepped with; None: the run's
            monitor (see ``MonitorCallback``).
        scheduler_interval: ``"epoch"`` (default) or ``"batch"``: step the scheduler after
            every ``optimizer.step()`` (OneCycleLR, CyclicLR, warm-ups counted in batches)
            and keep a record per step in ``history.steps``. A plateau scheduler is stepped
            per epoch only (``ValueError`` otherwise).

    Warns:
        UserWarning: if an EarlyStopping's patience <= a ReduceLROnPlateau's patience
            (``SchedulerStep.warn_if_stopped_first``).
    """

    def __init__(self, model, optimizer, scheduler=None, callbacks: Iterable[Callback] = (),
                 seed: int | None = 0, scheduler_monitor: str | None = None,
                 scheduler_interval: str = "epoch") -> None:
        self.callbacks = as_callbacks(callbacks)
        if seed is not None:
            seed = check_int(seed, f"{type(self).__name__}: seed", minimum=0)
        if scheduler_monitor is not None and (not isinstance(scheduler_monitor, str)
                                              or not scheduler_monitor):
            raise TypeError("scheduler_monitor must be a metric name such as 'val_loss', or "
                            f"None, got {scheduler_monitor!r}")
        self.model = model
        self.optimizer = optimizer
        self.scheduler_monitor = scheduler_monitor
        self.scheduler_interval = check_choice(scheduler_interval, "scheduler_interval",
                                               INTERVALS)
        self.scheduler = scheduler
        if self._scheduler_step is not None:  # stacklevel 3: the line that builds the Trainer
            self._scheduler_step.warn_if_stopped_first(self.callbacks, stacklevel=3)
        self.seed = seed
        self.generator = np.random.default_rng(seed)
        self.history = History()
        self.monitor: Monitor | None = None  # the run's, chosen when fit starts
        self._best_keeper: MonitorCallback | None = None
        self.epoch = 0  # completed epochs
        self.has_validation = False
        self.stop_training = False
        self._stop_reason: str | None = None
        self._metrics = LoggedMetrics(False)  # what the run logs, set when fit starts

    # -- what a framework supplies ----------------------------------------------------
    @abstractmethod
    def _forward(self, xb, yb) -> tuple[object, object, int]:
        """One batch through the model in its current mode: ``(loss, correct, count)``.

        ``loss`` is the batch's mean loss: a Python float, or a lazy scalar that ``float()``
        reads later (a GPU value: reading it every batch would make the device wait; the
        loop then checks only the epoch's mean for NaN). ``correct`` counts the argmax hits
        for class-index targets, None for other targets; ``count`` is the batch size.
        """

    @abstractmethod
    def _update(self) -> str | Mapping[str, float] | None:
        """Backward from the last training ``_forward``'s loss and one optimizer step.

        Returns a string: why the step was refused before the optimizer's step (a non-finite
        gradient), and the loop then discards the step and stops the run; otherwise None, or
        what the step measured for ``history.steps`` (e.g. the gradient norm before
        clipping): a run that returns it keeps a record per step.
        """

    # Optional: a framework whose forward changes no state needs neither (hence no abstract).
    def _begin_step(self) -> None:  # noqa: B027
        """Called before each training batch's forward: remember what a forward changes
        besides the weights (BatchNorm's running statistics), for ``_discard_step``."""

    def _discard_step(self) -> None:  # noqa: B027
        """Undoes a training step that was refused or raised, before its optimizer step:
        puts back what ``_begin_step`` remembered and drops the pending forward contexts."""

    @abstractmethod
    def _share_generator(self, loaders: list) -> None:
        """Hands ``self.generator`` to the model's random layers and to ``loaders``."""

    @abstractmethod
    def weights(self) -> dict:
        """A copy of the model's weights, safe to keep (what EarlyStopping keeps)."""

    @abstractmethod
    def load_weights(self, weights: Mapping) -> None:
        """Loads weights taken by ``weights()`` back into the model."""

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        """Eval mode for the block; the model's mode is restored afterwards."""
        was_training = self.model.training
        self.model.eval()
        try:
            yield
        finally:
            self.model.train(was_training)

    def _print(self, line: str) -> None:
        print(line, flush=True)

    # -- the scheduler and the run's monitor ----------------------------------------
    @property
    def scheduler(self):
        """The lr scheduler (or None), stepped through a ``SchedulerStep``."""
        return None if self._scheduler_step is None else self._scheduler_step.scheduler

    @scheduler.setter
    def scheduler(self, scheduler) -> None:
        if scheduler is not None and not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"scheduler must have a step() method, got {type(scheduler).__name__}")
        self._scheduler_step = None if scheduler is None else SchedulerStep(
            scheduler, self.scheduler_monitor, self.scheduler_interval)

    @property
    def _hooks(self) -> list[Callback]:
        """What is called at each hook: the scheduler's step first, then the callbacks."""
        steps = [] if self._scheduler_step is None else [self._scheduler_step]
        return [*steps, *self.callbacks]

    # -- fit --------------------------------------------------------------------------
    def fit(
        self,
        train_loader: Iterable,
        val_loader: Iterable | None = None,
        epochs: int = 10,
        resume_from: str | os.PathLike | None = None,
        verbose: bool = True,
        progress: bool | None = None,
    ) -> History:
        """Trains until ``epochs`` epochs are done (counted from the run's start, resumed
        epochs included) or a callback or a NaN/inf loss stops it.

        Args:
            train_loader: iterable of ``(xb, yb)`` batches, e.g. a ``minigrad.data.DataLoader``;
                its ``generator`` attribute, if any, is replaced by the run's Generator.
            val_loader: optional loader evaluated in eval mode after every epoch (its
                ``generator`` is replaced too).
            epochs: total number of epochs of the run.
            resume_from: a checkpoint written by ``ModelCheckpoint`` or
                ``minigrad.checkpoint.save(path, trainer=...)``: model, optimizer, scheduler,
                epoch, Generator, History and callbacks continue from it. A checkpoint of a
                run that already stopped early trains no further.
            verbose: print one summary line per epoch (and why training stopped).
            progress: show a tqdm bar per epoch; default: when ``verbose`` and stdout is a
                terminal.

        Returns:
            The History (also ``self.history``). A NaN/inf loss or gradient stops training
            with a ``RuntimeWarning`` naming epoch and batch; that epoch gets no History row,
            ``history.stopped_epoch`` is it and ``history.stop_reason`` says why.

        Raises:
            TypeError, ValueError: a bad argument, a callback that cannot work in this run
                (a metric the run never logs), a checkpoint that does not fit: all before
                anything changes (see ``run_state.begin_run``).
            CheckpointError, OSError: ``resume_from`` cannot be read; nothing changed.
        """
        epochs = check_int(epochs, f"{type(self).__name__}.fit: epochs", minimum=1)
        check_loader(train_loader, "train_loader", epochs)
        if val_loader is not None:
            check_loader(val_loader, "val_loader", epochs)
        metrics = LoggedMetrics(val_loader is not None)
        monitor, keeper = run_monitor(self.callbacks, metrics.has_validation)
        self._check_hooks(metrics, monitor)
        saved = None if resume_from is None else checkpoint.read(resume_from)
        begin_run(self, metrics, monitor, keeper, saved, resume_from)
        self._share_generator([loader for loader in (train_loader, val_loader)
                               if loader is not None])
        if resume_from is not None and verbose:
            self._print(f"resumed from {os.fspath(resume_from)} after epoch {self.epoch}")
            if self.stop_training:
                self._print(f"that run had already stopped: {self.history.stop_reason}")
        show_bar = verbose and (stdout_is_terminal() if progress is None else bool(progress))
        while self.epoch < epochs and not self.stop_training:
            self._run_epoch(self.epoch + 1, epochs, train_loader, val_loader, verbose, show_bar)
        for callback in self._hooks:
            callback.on_train_end(self)
        if verbose and self.history.stop_reason:
            self._print(f"stopped at epoch {self.history.stopped_epoch}: "
                        f"{self.history.stop_reason}")
        return self.history

    def _check_hooks(self, metrics: LoggedMetrics, monitor: Monitor) -> None:
        for callback in self._hooks:
            callback.check_run(metrics, monitor)

    def stop(self, reason: str) -> None:
        """Asks training to stop after the current epoch; ``reason`` goes to the History."""
        self.stop_training = True
        self._stop_reason = reason

    def _run_epoch(self, epoch, epochs, train_loader, val_loader, verbose, show_bar) -> None:
        started = time.perf_counter()
        for callback in self._hooks:
            callback.on_epoch_begin(self, epoch)
        lr = float(self.optimizer.param_groups[0]["lr"])
        train = self._train_epoch(train_loader, epoch, epochs, lr, show_bar)
        if train is None:  # NaN / inf loss: no row, no callbacks for this epoch
            return
        logs = {f"train_{k}": v for k, v in train.items()}
        if val_loader is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
        logs["lr"] = lr
        logs["epoch_time"] = time.perf_counter() - started
        self._end_epoch(epoch, epochs, logs, verbose)

    def _train_epoch(
        self, loader, epoch: int, epochs: int, lr: float, show_bar: bool
    ) -> dict | None:
        """One pass over ``loader`` in train mode; the sample-weighted mean loss and accuracy."""
        self.model.train()
        bar = EpochBar(epoch, epochs, batch_count(loader), lr, show_bar)
        tally = Tally()
        try:
            for batch, item in enumerate(loader, 1):
                step = self._train_batch(*batch_pair(item, "train_loader", batch))
                if isinstance(step, str):
                    self._stop_on_non_finite(
                        f"{step} at epoch {epoch}, batch {batch}; training stopped before this "
                        f"batch's update: the parameters, the buffers and the optimizer's state "
                        f"are those after the previous batch (or the best epoch's, if "
                        f"EarlyStopping restores them)", epoch)
                    return None
                loss, correct, count, measured = step
                tally.add(loss, correct, count)
                self._end_batch(epoch, batch, measured)
                bar.update(batch, tally.running)
        finally:
            bar.close()
        means = tally.means("train_loader")
        if not math.isfinite(means["loss"]):  # a lazy loss, read only now
            self._stop_on_non_finite(
                f"the mean loss of epoch {epoch} is {means['loss']}; training stopped after "
                f"that epoch's updates (the weights are theirs, or the best epoch's if "
                f"EarlyStopping restores them)", epoch)
            return None
        return means

    def _train_batch(self, xb, yb) -> tuple[object, object, int, Mapping | None] | str:
        """One training step, all or nothing: ``_forward``'s ``(loss, correct, count)`` and
        what ``_update`` measured, or why the step was refused (a NaN/inf loss or gradient),
        after ``_discard_step`` undid it. An exception anywhere in the step is raised after
        the same undoing.

        The run's first batch also tells whether the targets are class indices; if they
        are not, the hooks are checked again without the accuracies, before the update.
        """
        self._begin_step()
        try:
            loss, correct, count = self._forward(xb, yb)
            if self._metrics.classification is None:
                self._metrics = LoggedMetrics(self.has_validation, correct is not None)
                if correct is None:
                    self._check_hooks(self._metrics, self.monitor)
            outcome = (f"loss is {loss}" if isinstance(loss, float) and not math.isfinite(loss)
                       else self._update())
        except BaseException:
            self._discard_step()
            raise
        if isinstance(outcome, str):
            self._discard_step()
            return outcome
        return loss, correct, count, outcome

    def _end_batch(self, epoch: int, batch: int, measured: Mapping[str, float] | None) -> None:
        """The step's record, when the run keeps them (the lr is read before a per-batch
        scheduler steps: the lr this step used), then every hook's ``on_train_batch_end``."""
        if measured is not None or self.scheduler_interval == "batch":
            lr = float(self.optimizer.param_groups[0]["lr"])
            self.history.append_step({"epoch": epoch, "lr": lr, **(measured or {})})
        for callback in self._hooks:
            callback.on_train_batch_end(self, epoch, batch)

    def _stop_on_non_finite(self, reason: str, epoch: int) -> None:
        warnings.warn(reason, RuntimeWarning, stacklevel=5)  # points at the fit() call
        self.stop(reason)
        self.history.stopped_epoch = epoch
        self.history.stop_reason = reason

    def _end_epoch(self, epoch: int, epochs: int, logs: dict, verbose: bool) -> None:
        """History row, summary line, then the hooks' two phases (the scheduler steps first)."""
        self.epoch = epoch
        self.history.append(logs)
        if verbose:
            self._print(summary_line(epoch, epochs, logs))
        for callback in self._hooks:
            callback.on_epoch_end(self, epoch, logs)
        keeper = self._best_keeper
        self.history.best_epoch = (
            keeper.best_epoch if keeper is not None else self.history.compute_best_epoch()
        )
        if self.stop_training:
            self.history.stopped_epoch = epoch
            self.history.stop_reason = self._stop_reason
        for callback in self._hooks:
            callback.after_epoch(self, epoch, logs)

    # -- evaluate -----------------------------------------------------------------------
    def evaluate(self, loader: Iterable) -> dict[str, float]:
        """Mean loss (and accuracy, for class-index targets) over ``loader`` in eval mode.

        Returns:
            ``{"loss": float, "acc": float}`` (``"acc"`` only for integer targets), means
            weighted by batch size. The model's train/eval mode is restored afterwards.
        """
        check_loader(loader, "evaluate: loader")
        tally = Tally()
        with self._evaluating():
            for batch, item in enumerate(loader, 1):
                tally.add(*self._forward(*batch_pair(item, "evaluate: the loader", batch)))
        return tally.means("evaluate: the loader")

    # -- state (run_state.py) -----------------------------------------------------------
    def state_dict(self) -> dict:
        """Epoch, Generator state, History and callbacks' state (not model/optimizer/scheduler:
        ``minigrad.checkpoint.save(path, trainer=...)`` saves those alongside)."""
        return run_state_dict(self)

    def load_state_dict(self, state: Mapping) -> None:
        """Restores ``state_dict()`` output, all or nothing (see ``run_state.load_run_state``)."""
        load_run_state(self, state)
