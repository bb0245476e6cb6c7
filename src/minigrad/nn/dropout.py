"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from minigrad.kernels import dropout as kernels
from minigrad.nn.module import Module
from minigrad.nn.validation import check_float_input, check_grad_shape, require_forward


class Dropout(Module):
    """Zeroes each element with probability ``p`` in training and scales the rest by 1/(1-p).

    Identity in eval mode. The mask is drawn from ``generator`` (a numpy Generator); the
    Trainer replaces it with its own via ``model.set_generator`` so one seed drives a run.
    """

    def __init__(self, p: float = 0.5, *, generator: np.random.Generator | None = None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must be between 0 and 1, got {p}")
        self.p = float(p)
        self.generator = np.random.default_rng() if generator is None else generator
        self._mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, tuple(range(1, 9)), "an array")
        if not self.training or self.p == 0.0:
            self._mask = 1
            return x
        if self.p == 1.0:
            self._mask = np.zeros_like(x)
            return self._mask.copy()
        self._mask = self.generator.random(x.shape, dtype=x.dtype)
        y = np.empty_like(x)
        kernels.apply_mask(np.ascontiguousarray(x), self._mask, x.dtype.type(self.p),
                           x.dtype.type(1.0 / (1.0 - self.p)), y)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        require_forward(self, self._mask)
        if isinstance(self._mask, np.ndarray):
            check_grad_shape(self, dy, self._mask.shape)
        return dy * self._mask

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"
