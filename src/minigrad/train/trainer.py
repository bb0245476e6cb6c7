"""Trainer: fit / evaluate / predict for minigrad models, with callbacks, a scheduler and resume.

One batch: ``logits = model(xb)``, ``loss = loss_fn(logits, yb)``, ``optimizer.zero_grad()``,
``model.backward(loss_fn.backward())``, ``optimizer.step()``. Everything around the batch
(epochs, validation, the History, the scheduler, callbacks, stopping, checkpoints) is the
framework-neutral ``EpochLoop`` in ``loop.py``.

Reproducibility: the Trainer owns ONE ``numpy.random.Generator`` (``trainer.generator``,
from ``seed``). ``fit`` hands it to the model (``model.set_generator``: dropout) and to every
loader that has a ``generator`` attribute (shuffling, augmentation), so a seed fixes the
whole run; its state is saved in checkpoints, so a resumed run continues bit for bit. The
global numpy RNG is never used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from minigrad.checks import check_int
from minigrad.nn.module import Module
from minigrad.train.hooks import Callback
from minigrad.train.loop import EpochLoop


class Trainer(EpochLoop):
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
        self.loss_fn = loss_fn
        super().__init__(model, optimizer, scheduler, callbacks, seed, scheduler_monitor)

    # -- the batch step -----------------------------------------------------------------
    def _forward(self, xb, yb) -> tuple[float, int | None, int]:
        logits = self.model(xb)
        loss = float(self.loss_fn(logits, yb))
        # Counted before backward, which may reuse the logits' memory.
        correct = (int(np.count_nonzero(logits.argmax(1) == yb))
                   if _is_classification(logits, yb) else None)
        return loss, correct, len(yb)

    def _update(self) -> None:
        self.optimizer.zero_grad()
        self.model.backward(self.loss_fn.backward())
        self.optimizer.step()

    def _share_generator(self, loaders: list) -> None:
        for loader in loaders:
            if hasattr(loader, "generator"):
                loader.generator = self.generator
        self.model.set_generator(self.generator)

    def weights(self) -> dict:
        """A copy of the model's weights (``state_dict`` copies), safe to keep."""
        return self.model.state_dict()

    def load_weights(self, weights: Mapping) -> None:
        """Loads weights taken by ``weights()`` back into the model."""
        self.model.load_state_dict(weights)

    # -- predict ------------------------------------------------------------------------
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
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        with self._evaluating():
            first = self.model(x[:batch_size])
            out = np.empty((len(x), *first.shape[1:]), dtype=first.dtype)
            out[: len(first)] = first
            for start in range(batch_size, len(x), batch_size):
                out[start : start + batch_size] = self.model(x[start : start + batch_size])
        return softmax(out) if probabilities else out


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over dim 1, shifted by the row max so large logits cannot overflow; keeps dtype."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _is_classification(logits: np.ndarray, targets: np.ndarray) -> bool:
    targets = np.asarray(targets)
    return logits.ndim == 2 and targets.ndim == 1 and targets.dtype.kind in "iu"


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
