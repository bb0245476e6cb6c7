"""CrossEntropyLoss and MSELoss with torch's reductions ("mean", "sum", "none").

``loss = fn(output, target)`` returns a Python float ("mean", "sum") or the per-sample
losses as an array ("none"); ``fn.backward(dy)`` returns dL/doutput for the latest call not
yet matched (``dy`` a number, default 1, or for "none" an array of the losses' shape). The
returned gradient is the caller's: the loss keeps no reference to it.
"""

from __future__ import annotations

import numbers

import numpy as np

from minigrad.nn.activation import log_softmax
from minigrad.nn.module import DEFAULT_DTYPE, Module, is_grad_enabled
from minigrad.nn.validation import check_float_input, check_int, check_number, describe

REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    """Subclasses compute per-sample losses and their slopes, then call ``_reduce``."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__} reduction must be one of {REDUCTIONS}, "
                             f"got {reduction!r}")
        self.reduction = reduction

    def _reduce(self, losses: np.ndarray, slope: np.ndarray | None, total: float):
        """Reduces ``losses`` and saves dL/doutput (``slope``, d losses / d output; None
        under ``no_grad``) for backward.

        ``total`` divides the sum for "mean" (the sample count, or the summed class weights):
        with a zero total the loss is NaN and the gradient zero, as torch.
        """
        if self.reduction == "none":
            if slope is not None:
                self.save_for_backward(slope, losses.shape)
            return losses
        if self.reduction == "sum":
            scale = slope_scale = 1.0
        elif total:
            scale = slope_scale = 1.0 / float(total)
        else:
            scale, slope_scale = float("nan"), 0.0
        if slope is not None:
            self.save_for_backward(slope * slope.dtype.type(slope_scale), None)
        return float(losses.sum()) * scale

    def backward(self, dy=1.0) -> np.ndarray:
        """dL/doutput of the latest call not yet matched, times the upstream gradient ``dy``
        (a number; for reduction="none" an array shaped like the losses)."""
        slope, loss_shape = self.pop_saved()
        if loss_shape is None:
            if isinstance(dy, bool) or not isinstance(dy, numbers.Real):
                self._saved.append((slope, loss_shape))
                raise TypeError(f"{describe(self)}: backward of a reduced loss takes a number, "
                                f"got {type(dy).__name__}")
            return slope if dy == 1.0 else slope * slope.dtype.type(dy)
        if not isinstance(dy, np.ndarray) or dy.shape != loss_shape:
            self._saved.append((slope, loss_shape))
            got = dy.shape if isinstance(dy, np.ndarray) else type(dy).__name__
            raise ValueError(f"{describe(self)} with reduction='none': backward needs dy of the "
                             f"losses' shape {loss_shape}, got {got}")
        dy = dy.astype(slope.dtype, copy=False)
        return slope * dy.reshape(loss_shape + (1,) * (slope.ndim - dy.ndim))


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits (N, C) and integer class targets (N,), as torch.

    Fused with log-softmax, so it stays finite for logits of +-1e4. Sample n's loss is
    ``-weight[t] * log p[n, t]`` (``weight`` of shape (C,), all ones by default); with
    ``label_smoothing`` eps it is ``(1 - eps)`` times that plus ``eps / C`` times
    ``-sum_c weight[c] * log p[n, c]``. Targets equal to ``ignore_index`` contribute 0.
    "mean" divides the sum by the summed weights of the non-ignored targets (their count
    without ``weight``): an empty batch, or every target ignored, gives NaN and a zero
    gradient, as torch. ``weight`` is a buffer named as torch's (so ``state_dict`` agrees).
    """

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        if weight is None:
            self.weight = None
        else:
            self.register_buffer("weight", _class_weights(weight))
        self.ignore_index = check_int("CrossEntropyLoss", "ignore_index", ignore_index)
        self.label_smoothing = check_number("CrossEntropyLoss", "label_smoothing",
                                            label_smoothing, low=0.0, high=1.0)

    def forward(self, logits: np.ndarray, target: np.ndarray):
        check_float_input(self, logits, (2,), "(N, C) logits")
        n, classes = logits.shape
        kept = self._check_target(logits, target) != self.ignore_index  # (N,)
        target = np.where(kept, target, 0)  # ignored rows index class 0, with weight 0
        weight = self._weight(classes, logits.dtype)
        log_probs = log_softmax(logits, axis=1)
        rows = np.arange(n)
        # w_t: each sample's weight, 0 where ignored
        w_t = kept.astype(logits.dtype) if weight is None else \
            np.where(kept, weight[target], 0).astype(logits.dtype, copy=False)
        eps = self.label_smoothing
        losses = -log_probs[rows, target] * w_t
        if eps:
            smooth = -(log_probs.sum(axis=1) if weight is None else log_probs @ weight)
            losses = (1 - eps) * losses + (eps / classes) * np.where(kept, smooth, 0)
        slope = self._slope(log_probs, rows, target, kept, w_t, weight) \
            if is_grad_enabled() else None
        return self._reduce(losses, slope, total=w_t.sum())

    def _slope(self, log_probs, rows, target, kept, w_t, weight):
        """d losses[n] / d logits[n]: (1 - eps) w_t (p - onehot) + eps/C (sum(w) p - w)."""
        eps, classes = self.label_smoothing, log_probs.shape[1]
        p = np.exp(log_probs)
        slope = p * ((1 - eps) * w_t)[:, None]
        slope[rows, target] -= (1 - eps) * w_t
        if eps:
            smooth = eps * p - eps / classes if weight is None else \
                (eps / classes) * (weight.sum() * p - weight)
            slope += np.where(kept[:, None], smooth, 0)
        return slope

    def _weight(self, classes: int, dtype) -> np.ndarray | None:
        if self.weight is None:
            return None
        if self.weight.shape != (classes,):
            raise ValueError(f"{describe(self)}: weight has shape {self.weight.shape}, but the "
                             f"logits have {classes} classes")
        return self.weight.astype(dtype, copy=False)

    def _check_target(self, logits, target):
        if not isinstance(target, np.ndarray) or not np.issubdtype(target.dtype, np.integer):
            got = target.dtype if isinstance(target, np.ndarray) else type(target).__name__
            raise TypeError(f"{describe(self)} expects integer class targets, got {got}")
        if target.shape != (logits.shape[0],):
            raise ValueError(f"{describe(self)} expected targets of shape ({logits.shape[0]},) "
                             f"for logits of shape {logits.shape}, got {target.shape}")
        scored = target[target != self.ignore_index]
        if scored.size and (scored.min() < 0 or scored.max() >= logits.shape[1]):
            raise ValueError(f"{describe(self)}: targets must lie in [0, {logits.shape[1]}), "
                             f"got values from {scored.min()} to {scored.max()} (targets "
                             f"equal to ignore_index={self.ignore_index} are skipped)")
        return target

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""


def _class_weights(weight) -> np.ndarray:
    """A (C,) float array of class weights (float32 unless given as float64)."""
    array = np.asarray(weight)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.floating)
                               or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"CrossEntropyLoss weight must be a 1-D real-valued array of one "
                        f"weight per class, got dtype {array.dtype} of shape {array.shape}")
    return array.astype(array.dtype if array.dtype == np.float64 else DEFAULT_DTYPE)


class MSELoss(_Loss):
    """Mean (or sum, or per element with "none") of squared differences."""

    def forward(self, output: np.ndarray, target: np.ndarray):
        check_float_input(self, output, tuple(range(0, 9)), "an array")
        target = np.asarray(target)
        if target.shape != output.shape:
            raise ValueError(f"{describe(self)}: output shape {output.shape} and target shape "
                             f"{target.shape} differ")
        diff = output - target.astype(output.dtype, copy=False)
        slope = diff * output.dtype.type(2) if is_grad_enabled() else None
        return self._reduce(np.square(diff), slope, total=diff.size)
