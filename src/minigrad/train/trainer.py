"""Trainer: fit / evaluate / predict for minigrad models, with callbacks, a scheduler and resume.

One batch: ``logits = model(xb)``, ``loss = loss_fn(logits, yb)``, ``optimizer.zero_grad()``,
``model.backward(loss_fn.backward())``, the optional gradient clipping, ``optimizer.step()``.
Everything around the batch (epochs, validation, the History, the scheduler, callbacks,
stopping, checkpoints) is the framework-neutral ``EpochLoop`` in ``loop.py``.

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
import numbers
from collections.abc import Iterable, Mapping

import numpy as np

from minigrad.checks import check_int
from minigrad.nn.module import Module
from minigrad.nn.state import snapshot_buffers
from minigrad.nn.utils import clip_grad_value_, clip_grads_with_norm_, get_total_norm
from minigrad.train.hooks import Callback
from minigrad.train.loop import EpochLoop


class Trainer(EpochLoop):
    """Trains ``model`` with ``optimizer`` on ``loss_fn``; see ``fit``.

    Args:
        model: a ``minigrad.nn.Module`` mapping a batch to logits / outputs.
        loss_fn: callable ``loss_fn(outputs, targets) -> float`` (mean over the batch) with
            ``loss_fn.backward()`` returning dL/doutputs, e.g. ``nn.CrossEntropyLoss()``.
        optimizer: a ``minigrad.optim`` optimizer over ``model.parameters()``.
        scheduler: optional lr scheduler, stepped through a ``SchedulerStep`` callback
            that runs before the others: once per epoch after validation, or after every
            batch (``scheduler_interval``). A ``ReduceLROnPlateau`` is stepped with the
            metric ``scheduler_monitor``.
        callbacks: ``Callback`` instances, called in order.
        seed: seed of the Trainer's Generator (shuffling, dropout, augmentation).
        scheduler_monitor: metric a ``ReduceLROnPlateau`` is stepped with. Default: the
            run's monitor (``trainer.monitor``: that of the first EarlyStopping, else of the
            first ModelCheckpoint, else ``"val_loss"``, ``"train_loss"`` without a
            validation loader; see ``MonitorCallback``). A plateau ``mode`` contradicting the
            metric (``"max"`` for a loss) is a ValueError.
        scheduler_interval: ``"epoch"`` (default: one ``scheduler.step()`` per epoch) or
            ``"batch"`` (one after every ``optimizer.step()``, as OneCycleLR and CyclicLR
            expect; each step's lr is then recorded in ``history.steps``). A plateau
            scheduler is stepped per epoch only: ``"batch"`` is a ValueError.
        clip_grad_norm: clip the gradients between backward and ``optimizer.step()`` so
            that their total 2-norm, over every parameter of the optimizer as one vector,
            is at most this (``nn.utils.clip_grad_norm_``); the norm before clipping is
            recorded per step in ``history.steps["grad_norm"]``. A NaN or inf norm is a
            RuntimeError before the step (the update is refused). None: no clipping.
        clip_grad_value: clamp every gradient entry to ``[-clip_grad_value,
            clip_grad_value]`` between backward and step (``nn.utils.clip_grad_value_``).
            At most one of the two; each a finite number > 0.

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
        scheduler_interval: str = "epoch",
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
    ) -> None:
        _check_parts(model, loss_fn, optimizer)
        if clip_grad_norm is not None and clip_grad_value is not None:
            raise ValueError("Trainer: give clip_grad_norm or clip_grad_value, not both")
        self.clip_grad_norm = _checked_clip(clip_grad_norm, "clip_grad_norm")
        self.clip_grad_value = _checked_clip(clip_grad_value, "clip_grad_value")
        self.loss_fn = loss_fn
        super().__init__(model, optimizer, scheduler, callbacks, seed, scheduler_monitor,
                         scheduler_interval)
        self._restore_buffers = None  # set before each training forward

    # -- the batch step -----------------------------------------------------------------
    def _forward(self, xb, yb) -> tuple[float, int | None, int]:
        logits = self.model(xb)
        loss = float(self.loss_fn(logits, yb))
        # Counted before backward, which may reuse the logits' memory.
        correct = (int(np.count_nonzero(logits.argmax(1) == yb))
                   if _is_classification(logits, yb) else None)
        return loss, correct, len(yb)

    def _update(self) -> str | dict[str, float] | None:
        self.optimizer.zero_grad()
        self.model.backward(self.loss_fn.backward())
        refused = _gradient_problem(self.optimizer, self.model)
        if refused is not None:
            return refused
        measured = self._clip_gradients()
        if isinstance(measured, str):
            return measured
        try:
            self.optimizer.step()
        except BaseException as error:
            error.add_note("minigrad.train.Trainer: optimizer.step() raised; the parameters it "
                           "had updated before keep their new values (the Trainer checks the "
                           "gradients before the step but does not copy the parameters)")
            raise
        return measured

    def _clip_gradients(self) -> str | dict[str, float] | None:
        """Clips the gradients the optimizer is about to apply (all finite by now); by norm,
        returns that norm, or why the step is refused if the norm itself overflows."""
        if self.clip_grad_norm is None and self.clip_grad_value is None:
            return None
        parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        if self.clip_grad_value is not None:
            clip_grad_value_(parameters, self.clip_grad_value)
            return None
        with np.errstate(over="ignore"):  # an overflowing norm is refused just below
            norm = get_total_norm([p.grad for p in parameters])
        if not np.isfinite(norm):
            # Scaling by an inf norm would write zeros or NaN into the update: refused.
            return (f"the total gradient norm is {float(norm)} although every gradient is "
                    f"finite (it overflows {norm.dtype})")
        clip_grads_with_norm_(parameters, self.clip_grad_norm, norm)
        return {"grad_norm": float(norm)}

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
        batch_size = check_int(batch_size, "Trainer.predict: batch_size", minimum=1)
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
def _checked_clip(value, name: str) -> float | None:
    """A clipping bound: None (no clipping) or a finite number > 0 (0 would zero every
    gradient, which no one means; Lightning reads 0 as "off")."""
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value <= 0):
        raise ValueError(f"Trainer: {name} must be a finite number > 0 or None, got {value!r}")
    return float(value)


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
