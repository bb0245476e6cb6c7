"""Target 2: one epoch of the reference recipe through the Trainer, timed."""

from __future__ import annotations

import time

import numpy as np

from minigrad_bench.reference import Recipe, build_trainer, reference_loaders


def _images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST if it can be found without downloading, else random digits-shaped data."""
    try:
        from minigrad.data import load_mnist

        x, y, _, _ = load_mnist(download=False)
        return x[:n], y[:n]
    except (FileNotFoundError, OSError, ValueError):
        g = np.random.default_rng(0)
        return g.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8), g.integers(0, 10, n)


def reference_epoch(n_train: int = 48_000, n_val: int = 12_000, epochs: int = 2) -> dict:
    """Seconds per epoch (the last of ``epochs``, so compilation is excluded).

    The recipe's 4:1 split of ``n_train + n_val`` images gives the train/val sizes.
    """
    x, y = _images(n_train + n_val)
    recipe = Recipe(epochs=epochs)
    train, val = reference_loaders("mnist", x, y, recipe)
    trainer = build_trainer(recipe)
    history = trainer.fit(train, val, epochs=epochs, verbose=False, progress=False)
    augment = train.transform
    batch = x[:recipe.batch_size]
    g = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(len(train)):
        augment(batch, g)
    return {"n_train": len(train.x), "n_val": len(val.x), "seconds": history["epoch_time"][-1],
            "augment_seconds": time.perf_counter() - start}
