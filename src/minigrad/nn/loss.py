"""Losses: ``loss = fn(output, target)`` returns a float; ``fn.backward()`` returns dL/doutput."""

from __future__ import annotations

import numpy as np

from minigrad.nn.activation import log_softmax
from minigrad.nn.module import Module, is_grad_enabled
from minigrad.nn.validation import check_float_input, check_number, describe

REDUCTIONS = ("mean", "sum")


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__} reduction must be one of {REDUCTIONS}, "
                             f"got {reduction!r}")
        self.reduction = reduction

    def backward(self, dy: float = 1.0) -> np.ndarray:
        """dL/doutput of the latest call not yet matched, times ``dy`` (the upstream scalar
        gradient). The array is the caller's: the loss keeps no reference to it."""
        (grad,) = self.pop_saved()
        return grad if dy == 1.0 else grad * grad.dtype.type(dy)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits (N, C) and integer class targets (N,).

    Fused with log-softmax, so it stays finite for logits of +-1e4. With
    ``label_smoothing`` eps the target distribution is (1 - eps) * one_hot + eps / C, as torch.
    """

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.label_smoothing = check_number("CrossEntropyLoss", "label_smoothing",
                                            label_smoothing, low=0.0, high=1.0)

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float:
        check_float_input(self, logits, (2,), "(N, C) logits")
        target = self._check_target(logits, target)
        n, classes = logits.shape
        log_probs = log_softmax(logits, axis=1)
        rows = np.arange(n)
        eps = self.label_smoothing
        nll = -log_probs[rows, target]
        if eps:
            nll = (1 - eps) * nll - eps / classes * log_probs.sum(axis=1)
        scale = 1.0 / n if self.reduction == "mean" else 1.0
        if is_grad_enabled():
            grad = np.exp(log_probs)
            grad[rows, target] -= 1 - eps
            if eps:
                grad -= eps / classes
            self.save_for_backward(grad * logits.dtype.type(scale))
        return float(nll.sum() * scale)

    def _check_target(self, logits, target):
        if not isinstance(target, np.ndarray) or not np.issubdtype(target.dtype, np.integer):
            got = target.dtype if isinstance(target, np.ndarray) else type(target).__name__
            raise TypeError(f"{describe(self)} expects integer class targets, got {got}")
        if target.shape != (logits.shape[0],):
            raise ValueError(f"{describe(self)} expected targets of shape ({logits.shape[0]},) "
                             f"for logits of shape {logits.shape}, got {target.shape}")
        if target.size and (target.min() < 0 or target.max() >= logits.shape[1]):
            raise ValueError(f"{describe(self)}: targets must lie in [0, {logits.shape[1]}), "
                             f"got values from {target.min()} to {target.max()}")
        return target

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""


class MSELoss(_Loss):
    """Mean (or sum) of squared differences over all elements."""

    def forward(self, output: np.ndarray, target: np.ndarray) -> float:
        check_float_input(self, output, tuple(range(0, 9)), "an array")
        target = np.asarray(target)
        if target.shape != output.shape:
            raise ValueError(f"{describe(self)}: output shape {output.shape} and target shape "
                             f"{target.shape} differ")
        diff = output - target.astype(output.dtype, copy=False)
        scale = 1.0 / max(diff.size, 1) if self.reduction == "mean" else 1.0
        if is_grad_enabled():
            self.save_for_backward(diff * output.dtype.type(2 * scale))
        return float(np.square(diff).sum() * scale)
