"""Trainer: the fit / evaluate / predict loop, with callbacks, a scheduler and exact resume.

One epoch: for each batch in train mode ``logits = model(xb)``, ``loss = loss_fn(logits, yb)``,
``optimizer.zero_grad()``, ``model.backward(loss_fn.backward())``, ``optimizer.step()``;
then validation in eval mode; then the History row, the scheduler step and the callbacks.

Reproducibility: the Trainer owns ONE ``numpy.random.Generator`` (``trainer.generator``,
from ``seed``). ``fit`` hands it to the model (``model.set_generator``: dropout) and to every
loader that has a ``generator`` attribute (shuffling, augmentation), so a seed fixes the
whole run; its state is saved in checkpoints, so a resumed run continues bit for bit. The
global numpy RNG is never used.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterable, Mapping

import numpy as np

from minigrad import checkpoint
from minigrad.nn.module import Module
from minigrad.train.history import History
from minigrad.train.hooks import Callback, MonitorCallback
from minigrad.train.monitor import Monitor
from minigrad.train.progress import EpochBar, stdout_is_terminal, summary_line
from minigrad.train.scheduling import SchedulerStep


class Trainer:
    """Trains ``model`` with ``optimizer`` on ``loss_fn``; see ``fit``.

    Args:
        model: a ``minigrad.nn.Module`` mapping a batch to logits / outputs.
        loss_fn: callable ``loss_fn(outputs, targets) -> float`` (mean over the batch) with
            ``loss_fn.backward()`` returning dL/doutputs, e.g. ``nn.CrossEntropyLoss()``.
        optimizer: a ``minigrad.optim`` optimizer over ``model.parameters()``.
        scheduler: optional lr scheduler, stepped once per epoch after validation through
            a ``SchedulerStep`` callback that runs before the others. A
            ``ReduceLROnPlateau`` is stepped with the metric ``scheduler_monitor``.
        callbacks: ``Callback`` instances, called in order.
        seed: seed of the Trainer's Generator (shuffling, dropout, augmentation).
        scheduler_monitor: metric a ``ReduceLROnPlateau`` is stepped with. Default: the
            run's monitor (``trainer.monitor``: that of the first EarlyStopping, else of the
            first ModelCheckpoint, else ``"val_loss"``, ``"train_loss"`` without a
            validation loader; see ``MonitorCallback``). A plateau ``mode`` contradicting the
            metric (``"max"`` for a loss) is a ValueError.

    Warns:
        UserWarning: if an EarlyStopping's patience <= a ReduceLROnPlateau's patience: the
            plateau needs ``patience + 1`` bad epochs, so training would stop first and the
            lr would never be reduced.
    """

    def __init__(
        self,
        model: Module,
        loss_fn,
        optimizer,
        scheduler=None,
        callbacks: Iterable[Callback] = (),
        seed: int | None = 0,
        scheduler_monitor: str | None = None,
    ) -> None:
        _check_parts(model, loss_fn, optimizer)
        self.callbacks = list(callbacks)
        for index, callback in enumerate(self.callbacks):
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"callbacks[{index}] must be a minigrad.train.Callback, "
                    f"got {type(callback).__name__}"
                )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler_monitor = scheduler_monitor
        self.scheduler = scheduler
        if self._scheduler_step is not None:
            self._scheduler_step.warn_if_stopped_first(self.callbacks, stacklevel=2)
        self.seed = seed
        self.generator = np.random.default_rng(seed)
        self.history = History()
        self.monitor: Monitor | None = None  # the run's, chosen when fit starts
        self._best_keeper: MonitorCallback | None = None
        self.epoch = 0  # completed epochs
        self.has_validation = False
        self.stop_training = False
        self._stop_reason: str | None = None

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

    # -- the run's monitor -------------------------------------------------------------
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

    def weights(self) -> dict:
        """A copy of the model's weights (``state_dict`` copies), safe to keep."""
        return self.model.state_dict()

    def load_weights(self, weights: Mapping) -> None:
        """Loads weights taken by ``weights()`` back into the model."""
        self.model.load_state_dict(weights)

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
                its ``generator`` attribute, if any, is replaced by ``trainer.generator``.
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
            The History (also ``trainer.history``). A NaN/inf loss stops training with a
            ``RuntimeWarning`` naming epoch and batch; that epoch gets no History row,
            ``history.stopped_epoch`` is it and ``history.stop_reason`` says why.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
        self._start(train_loader, val_loader)
        if resume_from is not None:
            checkpoint.load(resume_from, trainer=self)
            self.stop_training = self.history.stopped_epoch is not None
            if verbose:
                print(f"resumed from {os.fspath(resume_from)} after epoch {self.epoch}")
            if self.stop_training and verbose:
                print(f"that run had already stopped: {self.history.stop_reason}")
        show_bar = verbose and (stdout_is_terminal() if progress is None else bool(progress))
        while self.epoch < epochs and not self.stop_training:
            self._run_epoch(self.epoch + 1, epochs, train_loader, val_loader, verbose, show_bar)
        for callback in self._hooks:
            callback.on_train_end(self)
        if verbose and self.history.stop_reason:
            print(f"stopped at epoch {self.history.stopped_epoch}: {self.history.stop_reason}")
        return self.history

    def _start(self, train_loader: Iterable, val_loader: Iterable | None) -> None:
        """Resets the run state, shares the Generator and lets callbacks reset theirs."""
        for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
            if loader is not None and not isinstance(loader, Iterable):
                raise TypeError(
                    f"{name} must be an iterable of (x, y) batches, got {type(loader).__name__}"
                )
            if hasattr(loader, "generator"):
                loader.generator = self.generator
        self.model.set_generator(self.generator)
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
        model, loss_fn, optimizer = self.model, self.loss_fn, self.optimizer
        model.train()
        bar = EpochBar(epoch, epochs, _length(loader), lr, show_bar)
        tally = _Tally()
        try:
            for batch, (xb, yb) in enumerate(loader, 1):
                logits = model(xb)
                loss = float(loss_fn(logits, yb))
                if not math.isfinite(loss):
                    self._stop_on_non_finite(loss, epoch, batch)
                    return None
                tally.add(loss, logits, yb)  # before backward, which may reuse the logits
                optimizer.zero_grad()
                model.backward(loss_fn.backward())
                optimizer.step()
                bar.update(batch, *tally.running())
        finally:
            bar.close()
        return tally.means("train_loader")

    def _stop_on_non_finite(self, loss: float, epoch: int, batch: int) -> None:
        reason = (
            f"loss is {loss} at epoch {epoch}, batch {batch}; training stopped before "
            f"this batch's update (the weights are those after the previous batch, or the "
            f"best epoch's if EarlyStopping restores them)"
        )
        warnings.warn(reason, RuntimeWarning, stacklevel=5)  # points at the fit() call
        self.stop(reason)
        self.history.stopped_epoch = epoch
        self.history.stop_reason = reason

    def _end_epoch(self, epoch: int, epochs: int, logs: dict, verbose: bool) -> None:
        """History row, summary line, then the hooks' two phases (the scheduler steps first)."""
        self.epoch = epoch
        self.history.append(logs)
        if verbose:
            print(summary_line(epoch, epochs, logs), flush=True)
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

    # -- evaluate / predict -----------------------------------------------------------
    def evaluate(self, loader: Iterable) -> dict[str, float]:
        """Mean loss (and accuracy, for class-index targets) over ``loader`` in eval mode.

        Returns:
            ``{"loss": float, "acc": float}`` (``"acc"`` only for integer targets), means
            weighted by batch size. The model's train/eval mode is restored afterwards.
        """
        was_training = self.model.training
        self.model.eval()
        tally = _Tally()
        try:
            for xb, yb in loader:
                logits = self.model(xb)
                tally.add(float(self.loss_fn(logits, yb)), logits, yb)
        finally:
            self.model.train(was_training)
        return tally.means("evaluate: the loader")

    def predict(
        self, x: np.ndarray, batch_size: int = 256, probabilities: bool = False
    ) -> np.ndarray:
        """The model's outputs for ``x`` (N, ...) in eval mode, computed in batches.

        Args:
            x: inputs, already preprocessed like the training batches (e.g. float32 NCHW).
            batch_size: samples per forward pass.
            probabilities: apply a numerically stable softmax over dim 1 (for logits).

        Returns:
            (N, ...) array in the model's output dtype, e.g. (N, 10) logits.
        """
        x = np.asarray(x)
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"predict expects a non-empty batch of inputs, got shape {x.shape}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        was_training = self.model.training
        self.model.eval()
        try:
            first = self.model(x[:batch_size])
            out = np.empty((len(x), *first.shape[1:]), dtype=first.dtype)
            out[: len(first)] = first
            for start in range(batch_size, len(x), batch_size):
                out[start : start + batch_size] = self.model(x[start : start + batch_size])
        finally:
            self.model.train(was_training)
        return softmax(out) if probabilities else out

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


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over dim 1, shifted by the row max so large logits cannot overflow; keeps dtype."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class _Tally:
    """Batch-size-weighted means of the loss and (for class targets) the accuracy."""

    __slots__ = ("loss_sum", "correct", "seen", "classify")

    def __init__(self) -> None:
        self.loss_sum, self.correct, self.seen, self.classify = 0.0, 0, 0, None

    def add(self, loss: float, logits: np.ndarray, targets: np.ndarray) -> None:
        if self.classify is None:
            self.classify = _is_classification(logits, targets)
        if self.classify:
            self.correct += int(np.count_nonzero(logits.argmax(1) == targets))
        n = len(targets)
        self.loss_sum += loss * n
        self.seen += n

    def running(self) -> tuple[float, float | None]:
        """(mean loss, accuracy or None) so far."""
        return self.loss_sum / self.seen, self.correct / self.seen if self.classify else None

    def means(self, source: str) -> dict[str, float]:
        if self.seen == 0:
            raise ValueError(f"{source} yielded no batches")
        loss, acc = self.running()
        return {"loss": loss} if acc is None else {"loss": loss, "acc": acc}


def _is_classification(logits: np.ndarray, targets: np.ndarray) -> bool:
    targets = np.asarray(targets)
    return logits.ndim == 2 and targets.ndim == 1 and targets.dtype.kind in "iu"


def _length(loader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _check_parts(model, loss_fn, optimizer) -> None:
    if not isinstance(model, Module):
        raise TypeError(f"model must be a minigrad.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn) or not callable(getattr(loss_fn, "backward", None)):
        raise TypeError(
            "loss_fn must be callable with a backward() method (e.g. nn.CrossEntropyLoss()), "
            f"got {type(loss_fn).__name__}"
        )
    for method in ("zero_grad", "step"):
        if not callable(getattr(optimizer, method, None)) or not hasattr(optimizer, "param_groups"):
            raise TypeError(
                "optimizer must be a minigrad.optim optimizer (param_groups, zero_grad, step), "
                f"got {type(optimizer).__name__}"
            )
