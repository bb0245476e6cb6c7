"""Embedding: a lookup table of learned vectors, indexed by integers."""

from __future__ import annotations

import numpy as np

from minigrad.checks import check_int
from minigrad.nn import init
from minigrad.nn.module import DEFAULT_DTYPE, Module, Parameter, as_float_dtype
from minigrad.nn.validation import check_grad_shape, describe


class Embedding(Module):
    """Row ``i`` of ``weight`` for each integer index ``i``, as torch.nn.Embedding.

    Shapes: indices (*) of any integer dtype and any shape -> (*, embedding_dim); weight
    (num_embeddings, embedding_dim), initialised N(0, 1) as in torch. Indices must lie in
    [0, num_embeddings). ``padding_idx`` (negative counts from the end) names a row that is
    zero-initialised and never receives a gradient.

    ``backward(dy)`` adds each row of ``dy`` into the weight row it was read from (an index
    repeated k times gets k contributions) and returns None: integer input has no gradient,
    so an Embedding comes first in a network.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 *, dtype=DEFAULT_DTYPE, generator: np.random.Generator | None = None):
        super().__init__()
        self.num_embeddings = check_int(num_embeddings, "Embedding: num_embeddings", minimum=1)
        self.embedding_dim = check_int(embedding_dim, "Embedding: embedding_dim", minimum=1)
        if padding_idx is not None:
            padding_idx = check_int(padding_idx, "Embedding: padding_idx",
                                    minimum=-self.num_embeddings,
                                    maximum=self.num_embeddings - 1) % self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim),
                                         as_float_dtype(dtype)))
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> Embedding:
        init.normal_(self.weight, generator=generator)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0
        return self

    def forward(self, indices: np.ndarray) -> np.ndarray:
        self._check_indices(indices)
        self.save_for_backward(indices)
        # take always copies (a 0-d index array would otherwise give a view of the row)
        return np.take(self.weight.data, indices, axis=0)

    def _check_indices(self, indices) -> None:
        if not isinstance(indices, np.ndarray) or not np.issubdtype(indices.dtype, np.integer):
            got = f"dtype {indices.dtype}" if isinstance(indices, np.ndarray) \
                else type(indices).__name__
            raise TypeError(f"{describe(self)} expects an ndarray of integer indices, got {got}")
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_embeddings):
            raise IndexError(f"{describe(self)}: indices must lie in [0, {self.num_embeddings})"
                             f", got values from {indices.min()} to {indices.max()}")

    def backward(self, dy: np.ndarray) -> None:
        (indices,) = self.pop_saved()
        check_grad_shape(self, dy, indices.shape + (self.embedding_dim,))
        rows = indices.reshape(-1)
        grads = dy.reshape(-1, self.embedding_dim)
        if self.padding_idx is not None:
            keep = rows != self.padding_idx
            rows, grads = rows[keep], grads[keep]
        # unbuffered: a row indexed several times sums all its contributions
        np.add.at(self.weight.grad, rows, grads)
        return None

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text if self.padding_idx is None else text + f", padding_idx={self.padding_idx}"
