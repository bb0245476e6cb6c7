"""Trainer: fit / evaluate / predict for minigrad models, with callbacks, a scheduler and resume.

One batch: ``logits = model(xb)``, ``loss = loss_fn(logits, yb)``, ``optimizer.zero_grad()``,
``model.backward(loss_fn.backward())``, ``optimizer.step()``. Everything around the batch
(epochs, validation, the History, the scheduler, callbacks, stopping, checkpoints) is the
framework-neutral ``EpochLoop`` in ``loop.py``.

A step is all or nothing. The model's buffers (BatchNorm's running statistics: a few
values per channel) are remembered before the forward; the parameters are not copied.
Instead nothing reaches them until the loss is finite and every gradient has its
parameter's shape and dtype and is finite. A step refused (NaN/inf loss or gradient) or
raising (bad labels, bad shapes, an error in a layer's forward or backward) gets its
buffers put back and the model's pending forward contexts dropped, so parameters, buffers
and optimizer state are as before the batch. Only an exception raised inside
``optimizer.step()`` itself (a custom optimizer's) may leave parameters it already updated.

Reproducibility: the Trainer owns ONE ``numpy.random.Generator`` (``trainer.generator``,
from ``seed``). ``fit`` hands it to the model (``model.set_generator``: dropout) and to every
loader that has a ``generator`` attribute (shuffling, augmentation), so a seed fixes the
whole run; its state is saved in checkpoints, so a resumed run continues bit for bit. The
global numpy RNG is never used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from minigrad.checks import check_int
from minigrad.nn.module import Module
from minigrad.nn.state import snapshot_buffers
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
        self._restore_buffers = None  # set before each training forward

    # -- the batch step -----------------------------------------------------------------
    def _forward(self, xb, yb) -> tuple[float, int | None, int]:
        logits = self.model(xb)
        loss = float(self.loss_fn(logits, yb))
        # Counted before backward, which may reuse the logits' memory.
        correct = (int(np.count_nonzero(logits.argmax(1) == yb))
                   if _is_classification(logits, yb) else None)
        return loss, correct, len(yb)

    def _update(self) -> str | None:
        self.optimizer.zero_grad()
        self.model.backward(self.loss_fn.backward())
        refused = _gradient_problem(self.optimizer, self.model)
        if refused is not None:
            return refused
        try:
            self.optimizer.step()
        except BaseException as error:
            error.add_note("minigrad.train.Trainer: optimizer.step() raised; the parameters it "
                           "had updated before keep their new values (the Trainer checks the "
                           "gradients before the step but does not copy the parameters)")
            raise
        return None

    def _begin_step(self) -> None:
        self._restore_buffers = snapshot_buffers(self.model)

    def _discard_step(self) -> None:
        self._restore_buffers()
        self.model.clear_saved()
        if isinstance(self.loss_fn, Module):
            self.loss_fn.clear_saved()

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
        given = x
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"predict: x must be an array of numbers (N, ...), got "
                            f"{type(given).__name__} of dtype {x.dtype}")
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


def _gradient_problem(optimizer, model: Module) -> str | None:
    """Why the optimizer must not step: the first parameter whose gradient is not finite
    (None if all are). One reduction per parameter: a gradient's sum is finite unless it
    holds a NaN or inf, or its finite values overflow the sum (then checked one by one).

    Raises:
        ValueError: a gradient that is not an array of its parameter's shape and dtype (a
            layer's backward wrote something else): the step would be wrong, not refused.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            grad = p.grad
            if (not isinstance(grad, np.ndarray) or grad.shape != p.data.shape
                    or grad.dtype != p.data.dtype):
                got = (f"shape {grad.shape}, dtype {grad.dtype}" if isinstance(grad, np.ndarray)
                       else type(grad).__name__)
                raise ValueError(
                    f"the gradient of parameter {_name_of(p, model)} is {got}, but the "
                    f"parameter has shape {p.data.shape}, dtype {p.data.dtype}; a layer's "
                    "backward must add into p.grad in place")
            if not math.isfinite(grad.sum()) and not np.isfinite(grad).all():
                return f"the gradient of parameter {_name_of(p, model)} is not finite"
    return None


def _name_of(parameter, model: Module) -> str:
    name = next((n for n, p in model.named_parameters() if p is parameter), None)
    return repr(name) if name is not None else "(not in the model)"


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
