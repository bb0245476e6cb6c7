"""EpochLoop: the epoch driver of a training run, for any framework.

One epoch: the hooks' ``on_epoch_begin``; the training batches in train mode, each a
forward pass with its loss (a NaN or inf loss stops the run before that batch's update)
and an update; validation in eval mode; the History row (``train_*``, ``val_*``, ``lr``,
``epoch_time``); then the hooks' ``on_epoch_end`` (the scheduler's step first) and
``after_epoch``. The loop owns the History, the run's monitor, the stop reason and the
tally of the batch losses and hits.

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
from minigrad.checks import check_int
from minigrad.train.history import History
from minigrad.train.hooks import Callback, MonitorCallback
from minigrad.train.monitor import Monitor
from minigrad.train.progress import EpochBar, stdout_is_terminal, summary_line
from minigrad.train.scheduling import SchedulerStep
from minigrad.train.tally import Tally


class EpochLoop(ABC):
    """Trains ``model`` with ``optimizer`` epoch by epoch; subclasses supply the batch step.

    Args:
        model: the framework's model (``train()``, ``eval()``, ``training``).
        optimizer: the framework's optimizer (``param_groups[0]["lr"]`` is logged).
        scheduler: optional lr scheduler, stepped once per epoch after validation through
            a ``SchedulerStep`` that runs before the callbacks.
        callbacks: ``Callback`` instances, called in order.
        seed: seed of the run's Generator (shuffling, dropout, augmentation).
        scheduler_monitor: the metric a plateau scheduler is stepped with; None: the run's
            monitor (see ``MonitorCallback``).

    Warns:
        UserWarning: if an EarlyStopping's patience <= a ReduceLROnPlateau's patience
            (``SchedulerStep.warn_if_stopped_first``).
    """

    def __init__(self, model, optimizer, scheduler=None, callbacks: Iterable[Callback] = (),
                 seed: int | None = 0, scheduler_monitor: str | None = None) -> None:
        self.callbacks = list(callbacks)
        for index, callback in enumerate(self.callbacks):
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks[{index}] must be a minigrad.train.Callback, "
                                f"got {type(callback).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
        self.model = model
        self.optimizer = optimizer
        self.scheduler_monitor = scheduler_monitor
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
    def _update(self) -> None:
        """Backward from the last training ``_forward``'s loss and one optimizer step."""

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
        self._scheduler_step = (
            None if scheduler is None else SchedulerStep(scheduler, self.scheduler_monitor)
        )

    @property
    def _hooks(self) -> list[Callback]:
        """What is called at each hook: the scheduler's step first, then the callbacks."""
        steps = [] if self._scheduler_step is None else [self._scheduler_step]
        return [*steps, *self.callbacks]

    def _choose_monitor(self) -> tuple[Monitor, MonitorCallback | None]:
        """The run's monitor, and the callback whose ``best_epoch`` is the run's (if any).

        See ``MonitorCallback``: the first one that stops the run, else the first one.
        """
        judges = [c for c in self.callbacks if isinstance(c, MonitorCallback)]
        stopper = next((c for c in judges if c.patience is not None), None)
        chosen = stopper or next(iter(judges), None)
        if chosen is not None:
            return chosen.criterion, stopper
        return Monitor("val_loss" if self.has_validation else "train_loss", "min"), None

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
            The History (also ``self.history``). A NaN/inf loss stops training with a
            ``RuntimeWarning`` naming epoch and batch; that epoch gets no History row,
            ``history.stopped_epoch`` is it and ``history.stop_reason`` says why.
        """
        epochs = check_int(epochs, "epochs", minimum=1)
        self._start(train_loader, val_loader)
        if resume_from is not None:
            checkpoint.load(resume_from, trainer=self)
            self.stop_training = self.history.stopped_epoch is not None
            if verbose:
                self._print(f"resumed from {os.fspath(resume_from)} after epoch {self.epoch}")
            if self.stop_training and verbose:
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

    def _start(self, train_loader: Iterable, val_loader: Iterable | None) -> None:
        """Resets the run state, shares the Generator, takes the run's monitor, and lets the
        hooks reset theirs."""
        for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
            if loader is not None and not isinstance(loader, Iterable):
                raise TypeError(
                    f"{name} must be an iterable of (x, y) batches, got {type(loader).__name__}"
                )
        self._share_generator([loader for loader in (train_loader, val_loader)
                               if loader is not None])
        self.has_validation = val_loader is not None
        self.monitor, self._best_keeper = self._choose_monitor()
        self.history = History(self.monitor.metric, self.monitor.mode)
        self.epoch = 0
        self.stop_training = False
        self._stop_reason = None
        for callback in self._hooks:
            callback.on_train_begin(self)

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
        bar = EpochBar(epoch, epochs, _length(loader), lr, show_bar)
        tally = Tally()
        try:
            for batch, (xb, yb) in enumerate(loader, 1):
                loss, correct, count = self._forward(xb, yb)
                if isinstance(loss, float) and not math.isfinite(loss):
                    self._stop_on_non_finite(
                        f"loss is {loss} at epoch {epoch}, batch {batch}; training stopped "
                        f"before this batch's update (the weights are those after the previous "
                        f"batch, or the best epoch's if EarlyStopping restores them)", epoch)
                    return None
                tally.add(loss, correct, count)
                self._update()
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
        tally = Tally()
        with self._evaluating():
            for xb, yb in loader:
                tally.add(*self._forward(xb, yb))
        return tally.means("evaluate: the loader")

    # -- state --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Epoch, Generator state, History and callbacks' state (not model/optimizer/scheduler:
        ``minigrad.checkpoint.save(path, trainer=...)`` saves those alongside)."""
        return {
            "epoch": self.epoch,
            "generator": self.generator.bit_generator.state,
            "history": self.history.to_dict(),
            "callbacks": [
                {"type": type(c).__name__, "state": c.state_dict()} for c in self.callbacks
            ],
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restores ``state_dict()`` output; checks the callbacks match before changing anything."""
        saved = [entry["type"] for entry in state["callbacks"]]
        current = [type(c).__name__ for c in self.callbacks]
        if saved != current:
            raise ValueError(
                f"checkpoint was saved with callbacks {saved}, this Trainer has {current}"
            )
        generator_kind = type(self.generator.bit_generator).__name__
        if state["generator"].get("bit_generator") != generator_kind:
            raise ValueError(
                f"checkpoint Generator is {state['generator'].get('bit_generator')!r}, "
                f"this Trainer's is {generator_kind!r}"
            )
        history = History.from_dict(state["history"])
        # Set the state in place: the model and loaders hold this same Generator object.
        self.generator.bit_generator.state = state["generator"]
        self.history = history
        self.epoch = int(state["epoch"])
        for callback, entry in zip(self.callbacks, state["callbacks"], strict=True):
            callback.load_state_dict(entry["state"])


def _length(loader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None
