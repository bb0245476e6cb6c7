"""The base of every loss: torch's three reductions ("mean", "sum", "none") and the backward.

``loss = fn(output, target)`` returns a Python float ("mean", "sum") or the per-element
losses as an array ("none"); ``fn.backward(dy)`` returns dL/doutput for the latest call not
yet matched (``dy`` a number, default 1, or for "none" an array of the losses' shape). Each
call saves its own context, so one loss may score several outputs before their backward
calls. The returned gradient is the caller's: the loss keeps no reference to it.
"""

from __future__ import annotations

import numbers

import numpy as np

from minigrad.checks import check_choice
from minigrad.nn.module import Module
from minigrad.nn.validation import check_float_input, describe

REDUCTIONS = ("mean", "sum", "none")


class ReducedLoss(Module):
    """Subclasses compute per-element losses and their slopes, then return ``_reduce``'s
    result."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_choice(reduction, f"{type(self).__name__}: reduction", REDUCTIONS)

    def _reduce(self, losses: np.ndarray, slope: np.ndarray | None, total=None,
                class_axis: int | None = None):
        """Reduces ``losses`` and saves dL/doutput for backward.

        Args:
            losses: per-element losses, the "none" result.
            slope: d losses / d output, shaped like the output; None where no backward can
                follow (inside ``no_grad``), so a loss may skip computing it.
            total: the mean's divisor, ``losses.size`` by default (weighted losses: the
                summed weights). A zero divisor gives a NaN loss and zero gradient, as torch.
            class_axis: the output's class axis that ``losses`` lacks (CrossEntropyLoss and
                NLLLoss: 1), along which a "none" backward broadcasts ``dy``.
        """
        losses = np.asarray(losses)  # numpy turns 0-d results into scalars: keep arrays
        if self.reduction == "none":
            if slope is not None:
                self.save_for_backward(np.asarray(slope), losses.shape, class_axis)
            return losses
        total = losses.size if total is None else total
        if self.reduction == "sum":
            scale = slope_scale = 1.0
        elif total:
            scale = slope_scale = 1.0 / float(total)
        else:
            scale, slope_scale = float("nan"), 0.0
        if slope is not None:
            slope = np.asarray(slope)
            self.save_for_backward(slope * slope.dtype.type(slope_scale), None, None)
        return float(losses.sum()) * scale

    def backward(self, dy=1.0) -> np.ndarray:
        """dL/doutput of the latest call not yet matched, times the upstream gradient ``dy``
        (a number; for reduction="none" an array shaped like the losses). A refused ``dy``
        leaves the context in place, so a corrected call can follow."""
        saved = slope, loss_shape, class_axis = self.pop_saved()
        if loss_shape is None:
            if isinstance(dy, bool) or not isinstance(dy, numbers.Real):
                self._saved.append(saved)
                raise TypeError(f"{describe(self)}: backward of a reduced loss takes a number, "
                                f"got {type(dy).__name__}")
            return slope if dy == 1.0 else slope * slope.dtype.type(dy)
        if not isinstance(dy, np.ndarray) or dy.shape != loss_shape:
            self._saved.append(saved)
            got = dy.shape if isinstance(dy, np.ndarray) else type(dy).__name__
            raise ValueError(f"{describe(self)} with reduction='none': backward needs dy of the "
                             f"losses' shape {loss_shape}, got {got}")
        dy = dy.astype(slope.dtype, copy=False)
        return slope * (dy if class_axis is None else np.expand_dims(dy, class_axis))


def same_shape_target(loss: Module, output, target) -> np.ndarray:
    """Checks a float ``output`` and a real ``target`` of its shape; returns the target cast
    to the output's dtype."""
    check_float_input(loss, output, tuple(range(0, 9)), "an array")
    if not isinstance(target, np.ndarray) or not (np.issubdtype(target.dtype, np.floating)
                                                  or np.issubdtype(target.dtype, np.integer)):
        got = f"dtype {target.dtype}" if isinstance(target, np.ndarray) else type(target).__name__
        raise TypeError(f"{describe(loss)} expects a real-valued ndarray target, got {got}")
    if target.shape != output.shape:
        raise ValueError(f"{describe(loss)}: target shape {target.shape} differs from output "
                         f"shape {output.shape}")
    return target.astype(output.dtype, copy=False)
