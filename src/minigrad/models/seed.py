"""The reference network of the course project minigrad re-does (docs/results.md)."""

from __future__ import annotations

import numpy as np

from minigrad import nn


def seed_net(dropout: float = 0.3, *, generator: np.random.Generator | None = None,
             dtype=np.float32) -> nn.Sequential:
    """The reference numpy network (softmax fused into the loss): 297,790 parameters.

    Conv2d(1, 2, 5) -> GELU -> Flatten -> Linear(1152, 256) -> GELU -> Dropout(dropout)
    -> Linear(256, 10), for (N, 1, 28, 28) input; logits (N, 10). torch's default
    initialisation, drawn from ``generator`` in layer order (same seed, same weights).
    """
    g = np.random.default_rng() if generator is None else generator
    return nn.Sequential(
        nn.Conv2d(1, 2, 5, generator=g, dtype=dtype), nn.GELU(), nn.Flatten(),
        nn.Linear(1152, 256, generator=g, dtype=dtype), nn.GELU(), nn.Dropout(dropout),
        nn.Linear(256, 10, generator=g, dtype=dtype),
    )
