"""Inverted dropout: of elements (Dropout) and of whole channels (Dropout2d)."""

from __future__ import annotations

import numpy as np

from minigrad.checks import check_bool, check_number
from minigrad.kernels import dropout as kernels
from minigrad.nn.module import Module
from minigrad.nn.validation import check_float_input, check_grad_shape


class _Dropout(Module):
    """Zeroes units with probability ``p`` in training and scales the rest by 1/(1-p).

    Identity in eval mode and for ``p=0``; ``x * 0`` for ``p=1`` (as torch). Subclasses
    say which input shapes they take and draw the mask (``_drop``) from ``generator`` (a
    numpy Generator); the Trainer replaces it with its own via ``model.set_generator`` so
    one seed drives a run.
    """

    _ndims: tuple[int, ...] = ()
    _shape_text = ""
    inplace = False

    def __init__(self, p: float, generator: np.random.Generator | None):
        super().__init__()
        self.p = check_number(p, f"{type(self).__name__}: p", minimum=0, maximum=1)
        self.generator = np.random.default_rng() if generator is None else generator

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, self._ndims, self._shape_text)
        if not self.training or self.p == 0.0:
            mask, y = None, x
        elif self.p == 1.0:
            mask = np.zeros((), x.dtype)  # broadcasts in backward
            y = x * mask
        else:
            mask, y = self._drop(x, x.dtype.type(1.0 / (1.0 - self.p)))
        self.save_for_backward(x.shape, mask)
        return y

    def _drop(self, x: np.ndarray, scale) -> tuple[np.ndarray, np.ndarray]:
        """(mask, y): the drawn mask (0 or ``scale``, broadcasting to x) and ``x * mask``."""
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy times the forward's mask (0 or 1/(1-p)); a copy of dy where the forward was
        the identity."""
        saved = (shape, mask) = self.pop_saved()
        check_grad_shape(self, dy, shape, saved)
        return dy.copy() if mask is None else dy * mask

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_Dropout):
    """Zeroes each element with probability ``p``; any input with at least one dim.

    ``inplace`` is accepted as in torch (and shown in the repr), but the output is always a
    new array: without torch's version counters, overwriting an input that another layer
    keeps for its backward would go unnoticed.
    """

    _ndims = tuple(range(1, 9))
    _shape_text = "an array"

    def __init__(self, p: float = 0.5, inplace: bool = False, *,
                 generator: np.random.Generator | None = None):
        super().__init__(p, generator)
        self.inplace = check_bool(inplace, "Dropout: inplace")

    def _drop(self, x, scale):
        mask = self.generator.random(x.shape, dtype=x.dtype)  # becomes the mask in place
        y = np.empty_like(x)
        kernels.apply_mask(np.ascontiguousarray(x), mask, x.dtype.type(self.p), scale, y)
        return mask, y


class Dropout2d(_Dropout):
    """Zeroes whole channels with probability ``p`` (torch.nn.Dropout2d).

    Shapes: x (N, C, H, W) -> y of the same shape. Like torch, a 3-D input is read as
    (N, C, L) and its (n, c) rows are dropped (channel-wise 1-D dropout).

    The mask is drawn exactly as ``Dropout`` draws its own, one uniform number per channel
    instead of per element: ``generator.random((N, C), dtype=x.dtype)``, and channel (n, c)
    is kept where its draw is ``>= p``.
    """

    _ndims = (3, 4)
    _shape_text = "(N, C, H, W) or (N, C, L)"

    def __init__(self, p: float = 0.5, *, generator: np.random.Generator | None = None):
        super().__init__(p, generator)

    def _drop(self, x, scale):
        draws = self.generator.random(x.shape[:2], dtype=x.dtype)
        mask = np.where(draws >= self.p, scale, x.dtype.type(0))
        mask = mask.reshape(mask.shape + (1,) * (x.ndim - 2))
        return mask, x * mask
