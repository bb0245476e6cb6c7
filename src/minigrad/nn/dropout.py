"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from minigrad.kernels import dropout as kernels
from minigrad.nn.module import Module
from minigrad.nn.validation import check_bool, check_float_input, check_grad_shape, check_number


class Dropout(Module):
    """Zeroes each element with probability ``p`` in training and scales the rest by 1/(1-p).

    Identity in eval mode. The mask is drawn from ``generator`` (a numpy Generator); the
    Trainer replaces it with its own via ``model.set_generator`` so one seed drives a run.
    ``inplace`` is accepted as in torch (and shown in the repr), but the output is always a
    new array: without torch's version counters, overwriting an input that another layer
    keeps for its backward would go unnoticed.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *,
                 generator: np.random.Generator | None = None):
        super().__init__()
        p = check_number("Dropout", "p", p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must be between 0 and 1, got {p}")
        self.p = p
        self.inplace = check_bool("Dropout", "inplace", inplace)
        self.generator = np.random.default_rng() if generator is None else generator

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, tuple(range(1, 9)), "an array")
        if not self.training or self.p == 0.0:
            self.save_for_backward(x.shape, None)
            return x
        if self.p == 1.0:
            self.save_for_backward(x.shape, np.zeros((), x.dtype))  # broadcasts in backward
            return np.zeros_like(x)
        mask = self.generator.random(x.shape, dtype=x.dtype)  # becomes the mask in place
        y = np.empty_like(x)
        kernels.apply_mask(np.ascontiguousarray(x), mask, x.dtype.type(self.p),
                           x.dtype.type(1.0 / (1.0 - self.p)), y)
        self.save_for_backward(x.shape, mask)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy times the forward's mask (0 or 1/(1-p)); a copy of dy where the forward was
        the identity."""
        saved = (shape, mask) = self.pop_saved()
        check_grad_shape(self, dy, shape, saved)
        return dy.copy() if mask is None else dy * mask

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
