"""Channel dropout (torch.nn.Dropout2d)."""

from __future__ import annotations

import numpy as np

from minigrad.nn.module import Module
from minigrad.nn.validation import check_float_input, check_grad_shape


class Dropout2d(Module):
    """Zeroes whole channels with probability ``p`` in training and scales the rest by 1/(1-p).

    Shapes: x (N, C, H, W) -> y of the same shape. Like torch, a 3-D input is read as
    (N, C, L) and its (n, c) rows are dropped (channel-wise 1-D dropout). Identity in eval
    mode and for ``p=0``; all zeros for ``p=1``.

    The mask is drawn exactly as ``Dropout`` draws its own, one uniform number per channel
    instead of per element: ``generator.random((N, C), dtype=x.dtype)``, and channel (n, c)
    is kept where its draw is ``>= p``. The Trainer replaces ``generator`` with its own via
    ``model.set_generator``, so one seed reproduces every mask.
    """

    def __init__(self, p: float = 0.5, *, generator: np.random.Generator | None = None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout2d probability must be between 0 and 1, got {p}")
        self.p = float(p)
        self.generator = np.random.default_rng() if generator is None else generator

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, (3, 4), "(N, C, H, W) or (N, C, L)")
        if not self.training or self.p == 0.0:
            self.save_for_backward(None, x.shape)
            return x
        if self.p == 1.0:
            mask = np.zeros(x.shape[:2], x.dtype)
        else:
            draws = self.generator.random(x.shape[:2], dtype=x.dtype)
            mask = np.where(draws >= self.p, x.dtype.type(1 / (1 - self.p)), x.dtype.type(0))
        mask = mask.reshape(mask.shape + (1,) * (x.ndim - 2))
        self.save_for_backward(mask, x.shape)
        return x * mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        mask, shape = self.pop_saved()
        check_grad_shape(self, dy, shape)
        return dy if mask is None else dy * mask

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"
