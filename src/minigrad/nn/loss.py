"""Classification losses with torch's semantics: CrossEntropyLoss (on logits), NLLLoss (on
log-probabilities) and BCEWithLogitsLoss (binary, on logits).

Reductions and backward are ``ReducedLoss``'s (nn/loss_reduction.py). Class weights and
``pos_weight`` are buffers named as in torch (so ``state_dict`` agrees and ``to(dtype)``
casts them); they are cast to the input's dtype when used.
"""

from __future__ import annotations

import numpy as np

from minigrad.checks import check_int, check_number
from minigrad.nn.activation import log_softmax
from minigrad.nn.loss_reduction import ReducedLoss, same_shape_target
from minigrad.nn.module import DEFAULT_DTYPE, is_grad_enabled
from minigrad.nn.validation import check_float_input, describe


def _float_buffer(values, loss: str, name: str, ndim: int | None = None) -> np.ndarray:
    """``values`` as a float buffer (float64 stays, anything else becomes float32)."""
    array = np.asarray(values)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)) \
            or (ndim is not None and array.ndim != ndim):
        shape = " 1-D" if ndim == 1 else ""
        raise TypeError(f"{loss} {name} must be a{shape} real-valued array, got "
                        f"{array.dtype} of shape {array.shape}")
    dtype = array.dtype if array.dtype in (np.float32, np.float64) else DEFAULT_DTYPE
    return array.astype(dtype)


def _broadcast_to_input(loss, array: np.ndarray, name: str, shape: tuple, dtype) -> np.ndarray:
    """``array`` in the input's dtype, refused unless it broadcasts to the input ``shape``."""
    try:
        fits = np.broadcast_shapes(array.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{describe(loss)}: {name} of shape {array.shape} does not broadcast "
                         f"to the input shape {shape}")
    return array.astype(dtype, copy=False)


class CrossEntropyLoss(ReducedLoss):
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
            weight = _float_buffer(weight, "CrossEntropyLoss", "weight", ndim=1)
            self.register_buffer("weight", weight)
        self.ignore_index = check_int(ignore_index, "CrossEntropyLoss: ignore_index")
        self.label_smoothing = check_number(label_smoothing, "CrossEntropyLoss: label_smoothing",
                                            minimum=0, maximum=1)

    def forward(self, logits: np.ndarray, target: np.ndarray):
        check_float_input(self, logits, (2,), "(N, C) logits")
        n, classes = logits.shape
        kept, every = self._check_target(logits, target)
        if not every:
            target = np.where(kept, target, 0)  # ignored rows index class 0, with weight 0
        weight = self._weight(classes, logits.dtype)
        # Each sample's weight, 0 where ignored; None when all are 1 (the common case)
        w_t = None if weight is None and every else kept.astype(logits.dtype) \
            if weight is None else np.where(kept, weight[target], 0).astype(logits.dtype)
        log_probs = log_softmax(logits, axis=1)
        rows = np.arange(n)
        losses = -log_probs[rows, target]
        if w_t is not None:
            losses *= w_t
        eps = self.label_smoothing
        if eps:
            smooth = -(log_probs.sum(axis=1) if weight is None else log_probs @ weight)
            if not every:
                smooth[~kept] = 0
            losses = (1 - eps) * losses + (eps / classes) * smooth
        slope = self._slope(log_probs, rows, target, kept, w_t, weight) \
            if is_grad_enabled() else None
        return self._reduce(losses, slope, total=n if w_t is None else w_t.sum(),
                            class_axis=1)

    def _slope(self, log_probs, rows, target, kept, w_t, weight):
        """d losses[n] / d logits[n]: (1 - eps) w_t (p - onehot) + eps/C (sum(w) p - w)."""
        eps, classes = self.label_smoothing, log_probs.shape[1]
        p = np.exp(log_probs)
        smooth = None
        if eps:
            smooth = eps * p - eps / classes if weight is None else \
                (eps / classes) * (weight.sum() * p - weight)
            smooth[~kept] = 0
        step = 1 - eps if w_t is None else (1 - eps) * w_t  # a number or (N,)
        slope = p  # scaled in place: p is not needed any more
        if w_t is not None:
            slope *= step[:, None]
        elif eps:
            slope *= step
        slope[rows, target] -= step
        if smooth is not None:
            slope += smooth
        return slope

    def _weight(self, classes: int, dtype) -> np.ndarray | None:
        if self.weight is None:
            return None
        if self.weight.shape != (classes,):
            raise ValueError(f"{describe(self)}: weight has shape {self.weight.shape}, but the "
                             f"logits have {classes} classes")
        return self.weight.astype(dtype, copy=False)

    def _check_target(self, logits, target) -> tuple[np.ndarray, bool]:
        """Checks the targets; returns which ones count (not ``ignore_index``) and whether
        all do."""
        if not isinstance(target, np.ndarray) or not np.issubdtype(target.dtype, np.integer):
            got = target.dtype if isinstance(target, np.ndarray) else type(target).__name__
            raise TypeError(f"{describe(self)} expects integer class targets, got {got}")
        if target.shape != (logits.shape[0],):
            raise ValueError(f"{describe(self)} expected targets of shape ({logits.shape[0]},) "
                             f"for logits of shape {logits.shape}, got {target.shape}")
        kept = target != self.ignore_index
        every = bool(kept.all())
        scored = target if every else target[kept]
        if scored.size and (scored.min() < 0 or scored.max() >= logits.shape[1]):
            raise ValueError(f"{describe(self)}: targets must lie in [0, {logits.shape[1]}), "
                             f"got values from {scored.min()} to {scored.max()} (targets "
                             f"equal to ignore_index={self.ignore_index} are skipped)")
        return kept, every

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""


class NLLLoss(ReducedLoss):
    """The negative log-likelihood of integer class targets under log-probabilities.

    Shapes: input (N, C) or (N, C, d1, ...) (e.g. ``LogSoftmax(dim=1)`` output), target
    (N,) or (N, d1, ...) of integers in [0, C) or equal to ``ignore_index``. Each element's
    loss is ``-weight[t] * input[n, t]``; ignored targets contribute 0. "mean" divides the
    sum by the summed weights of the non-ignored targets (their count without ``weight``),
    exactly as torch; with every target ignored it is NaN and the gradient is 0.
    """

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        if weight is None:
            self.weight = None
        else:
            self.register_buffer("weight", _float_buffer(weight, "NLLLoss", "weight", ndim=1))
        self.ignore_index = check_int(ignore_index, "NLLLoss: ignore_index")

    def forward(self, log_probs: np.ndarray, target: np.ndarray):
        check_float_input(self, log_probs, tuple(range(2, 9)), "(N, C) or (N, C, d1, ...)")
        classes = log_probs.shape[1]
        self._check_target(log_probs.shape, target)
        weight = np.ones(classes, log_probs.dtype) if self.weight is None else \
            self._class_weights(classes, log_probs.dtype)
        # (N, C, d...) -> (M, C) rows, one per target element
        rows = np.moveaxis(log_probs, 1, -1).reshape(-1, classes)
        flat = target.reshape(-1)
        ignored = flat == self.ignore_index
        safe = np.where(ignored, 0, flat)
        index = np.arange(flat.size)
        picked_weight = np.where(ignored, 0, weight[safe]).astype(log_probs.dtype, copy=False)
        losses = -rows[index, safe] * picked_weight
        slope = np.zeros_like(rows)
        slope[index, safe] = -picked_weight
        slope = np.moveaxis(slope.reshape(target.shape + (classes,)), -1, 1)
        return self._reduce(losses.reshape(target.shape), np.ascontiguousarray(slope),
                            total=picked_weight.sum(), class_axis=1)

    def _check_target(self, shape: tuple, target) -> None:
        if not isinstance(target, np.ndarray) or not np.issubdtype(target.dtype, np.integer):
            got = f"dtype {target.dtype}" if isinstance(target, np.ndarray) \
                else type(target).__name__
            raise TypeError(f"{describe(self)} expects integer class targets, got {got}")
        expected = (shape[0],) + shape[2:]
        if target.shape != expected:
            raise ValueError(f"{describe(self)} expected targets of shape {expected} for input "
                             f"of shape {shape}, got {target.shape}")
        valid = target[target != self.ignore_index]
        if valid.size and (valid.min() < 0 or valid.max() >= shape[1]):
            raise ValueError(f"{describe(self)}: targets must lie in [0, {shape[1]}) or equal "
                             f"ignore_index={self.ignore_index}, got values from {valid.min()} "
                             f"to {valid.max()}")

    def _class_weights(self, classes: int, dtype) -> np.ndarray:
        if self.weight.shape != (classes,):
            raise ValueError(f"{describe(self)}: weight of shape {self.weight.shape} does not "
                             f"match the {classes} classes of the input")
        return self.weight.astype(dtype, copy=False)


class BCEWithLogitsLoss(ReducedLoss):
    """Binary cross-entropy of targets in [0, 1] under sigmoid(logits), fused and stable.

    Shapes: logits and target of any one shape. Per element:
    ``-weight * (pos_weight * y * log s(x) + (1 - y) * log(1 - s(x)))``, computed as
    ``weight * ((1 - y) x + (1 + (pos_weight - 1) y) * softplus(-x))`` with a softplus that
    never overflows, so logits of +-1e4 give exact, finite losses and gradients. ``weight``
    and ``pos_weight`` broadcast against the logits (``pos_weight`` (C,) weights the
    positives of each class along the last axis).
    """

    def __init__(self, weight=None, *, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        for name, values in (("weight", weight), ("pos_weight", pos_weight)):
            if values is None:
                setattr(self, name, None)  # absent from state_dict, as torch's None buffers
            else:
                self.register_buffer(name, _float_buffer(values, "BCEWithLogitsLoss", name))

    def forward(self, logits: np.ndarray, target: np.ndarray):
        target = same_shape_target(self, logits, target)
        shape, dtype = logits.shape, logits.dtype
        # exp of a non-positive number never overflows: softplus(-x) = log(1 + exp(-x))
        # = log1p(exp(-|x|)) + max(-x, 0), and sigmoid(-x) split by the sign of x
        exp_neg = np.exp(-np.abs(logits))
        softplus = np.log1p(exp_neg) + np.maximum(-logits, 0)
        sigmoid_neg = np.where(logits >= 0, exp_neg / (1 + exp_neg), 1 / (1 + exp_neg))
        log_weight = 1 if self.pos_weight is None else 1 + (
            _broadcast_to_input(self, self.pos_weight, "pos_weight", shape, dtype) - 1) * target
        losses = (1 - target) * logits + log_weight * softplus
        slope = (1 - target) - log_weight * sigmoid_neg
        if self.weight is not None:
            weight = _broadcast_to_input(self, self.weight, "weight", shape, dtype)
            losses, slope = losses * weight, slope * weight
        return self._reduce(losses, slope)
