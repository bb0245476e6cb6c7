"""Seeded splits and the mini-batch DataLoader."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from minigrad.checks import check_bool, check_int

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def random_split(
    n_or_arrays,
    fractions: Sequence[float] = (0.8, 0.2),
    seed: int = 0,
    stratify: np.ndarray | None = None,
):
    """Splits indices 0..n-1 (or arrays along their first axis) at random, reproducibly.

    One permutation from ``np.random.default_rng(seed)`` is cut into parts of
    ``floor(fraction * n)`` items, the leftover items going one each to the
    first parts (torch's ``random_split`` rule), so the split depends only on
    ``seed``, never on the global RNG. With ``stratify=labels`` each class is
    split by that rule on its own, keeping class proportions (so a part may
    differ from the unstratified size by up to one item per class), and each
    part is then shuffled.

    Args:
        n_or_arrays: an int ``n``; an array; or a tuple/list of arrays of equal length.
        fractions: positive, summing to 1.
        seed: seed of the split's own Generator.
        stratify: optional (n,) labels.

    Returns:
        One entry per fraction: an int64 index array (for ``n``), the array's
        part (for an array), or a tuple of parts (for a tuple of arrays), e.g.
        ``(x_tr, y_tr), (x_val, y_val) = random_split((x, y))``.
    """
    n, arrays = _split_input(n_or_arrays)
    fractions = _check_fractions(fractions)
    generator = _seeded_generator(seed, "random_split: seed")
    if stratify is None:
        parts = _cut(generator.permutation(n), fractions)
    else:
        parts = _stratified_parts(np.asarray(stratify), n, fractions, generator)
    if arrays is None:
        return parts
    if isinstance(arrays, np.ndarray):
        return [arrays[part] for part in parts]
    return [tuple(a[part] for a in arrays) for part in parts]


def _seeded_generator(seed, name: str) -> np.random.Generator:
    """``np.random.default_rng(seed)``, with an error naming ``name`` for a bad seed.

    Whatever numpy takes as a seed is taken (a SeedSequence too), except a bool. As the checks
    in ``minigrad.checks``: a seed of the wrong type is a TypeError, a negative one a ValueError.
    """
    message = f"{name} must be None or an int >= 0, got {seed!r}"
    if isinstance(seed, bool):
        raise TypeError(message)
    try:
        return np.random.default_rng(seed)
    except TypeError:
        raise TypeError(message) from None
    except ValueError:
        raise ValueError(message) from None


def _split_input(n_or_arrays) -> tuple[int, object]:
    if isinstance(n_or_arrays, int | np.integer) and not isinstance(n_or_arrays, bool):
        return check_int(n_or_arrays, "random_split: n", minimum=0), None
    if isinstance(n_or_arrays, np.ndarray) and n_or_arrays.ndim:
        return len(n_or_arrays), n_or_arrays
    if not isinstance(n_or_arrays, list | tuple) or not n_or_arrays:
        raise TypeError(
            "random_split takes an int n, an array, or a tuple/list of arrays, "
            f"got {type(n_or_arrays).__name__} {n_or_arrays!r:.100}"
        )
    arrays = tuple(np.asarray(a) for a in n_or_arrays)
    if any(a.ndim == 0 for a in arrays):
        raise TypeError("random_split arrays must have a first axis to split, got a scalar")
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"random_split arrays must have equal lengths, got {sorted(lengths)}")
    return lengths.pop(), arrays


def _check_fractions(fractions) -> np.ndarray:
    try:
        fractions = np.asarray(fractions, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"fractions must be positive numbers, got {fractions!r}") from None
    if fractions.ndim != 1 or not fractions.size or not np.all(fractions > 0):
        raise ValueError(f"fractions must be positive numbers, got {fractions.tolist()}")
    if not math.isclose(fractions.sum(), 1.0, abs_tol=1e-6):
        raise ValueError(
            f"fractions must sum to 1, got {fractions.tolist()} (sum {fractions.sum()})"
        )
    return fractions


def _cut(order: np.ndarray, fractions: np.ndarray) -> list[np.ndarray]:
    """Cuts ``order`` into consecutive parts of floor(f * n), leftovers to the first parts."""
    sizes = np.floor(fractions * len(order)).astype(np.int64)
    sizes[: len(order) - sizes.sum()] += 1
    return np.split(order.astype(np.int64), np.cumsum(sizes)[:-1])


def _stratified_parts(labels, n, fractions, generator) -> list[np.ndarray]:
    if labels.shape != (n,):
        raise ValueError(f"stratify must hold {n} labels, got shape {labels.shape}")
    per_class = [
        _cut(generator.permutation(np.flatnonzero(labels == c)), fractions)
        for c in np.unique(labels)
    ]
    return [
        generator.permutation(np.concatenate([parts[k] for parts in per_class]))
        for k in range(len(fractions))
    ]


class DataLoader:
    """Mini-batches ``(xb, yb)`` of images and labels, reshuffled every epoch.

    ``xb`` is C-contiguous NCHW: uint8 input becomes float32 in [0, 1]
    (``x / 255``) batch by batch, never for the whole set at once; float input
    keeps its dtype (float64 stays float64). ``yb`` is int64.

    Randomness: the public attribute ``generator`` (a ``numpy.random.Generator``,
    ``np.random.default_rng(seed)`` at construction) is the loader's ONLY
    source of randomness. Each ``iter(loader)`` reads ``self.generator`` anew,
    draws the epoch's permutation from it at once (if ``shuffle``), then hands
    it to ``transform`` for every batch. Replacing the attribute (as the
    Trainer does, to drive a whole run from one Generator) therefore takes
    effect at the next epoch, and restoring a Generator's state replays the
    exact same batches. Permutations are drawn fresh each epoch, so
    consecutive epochs see different orders (two orders coincide with
    probability 1/n!).

    ``transform(xb, generator) -> xb`` receives each batch in the input's dtype
    (uint8 stays uint8 until after the transform, so augmentation can work on
    bytes); if it returns uint8, the loader converts to float32 / 255 itself.

    Args:
        x: (N, C, H, W) uint8, float32 or float64 images.
        y: (N,) integer labels.
        batch_size: items per batch (the last one may be smaller).
        shuffle: a new random order each epoch; else 0..N-1.
        drop_last: skip the last batch if it is smaller than ``batch_size``.
        transform: optional ``t(batch, generator) -> batch``.
        seed: seed of ``generator``; None draws one from the OS.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        transform: Transform | None = None,
        seed: int | None = None,
    ):
        self.x, self.y = _check_data(x, y)
        self.batch_size = check_int(batch_size, "DataLoader: batch_size", minimum=1)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable t(batch, generator), got {transform!r}")
        self.shuffle = check_bool(shuffle, "DataLoader: shuffle")
        self.drop_last = check_bool(drop_last, "DataLoader: drop_last")
        self.transform = transform
        self.generator = _seeded_generator(seed, "DataLoader: seed")

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        generator = self.generator
        if not isinstance(generator, np.random.Generator):
            raise TypeError(f"DataLoader.generator must be a numpy Generator, got {generator!r}")
        n = len(self.x)
        order = generator.permutation(n) if self.shuffle else np.arange(n)
        return self._batches(order, generator)

    def _batches(self, order: np.ndarray, generator: np.random.Generator):
        for b in range(len(self)):
            index = order[b * self.batch_size : (b + 1) * self.batch_size]
            xb = self.x[index]  # fancy indexing copies: transforms never see the data set itself
            if self.transform is not None:
                xb = _check_transformed(self.transform(xb, generator), len(index), self.transform)
            yield _as_float(xb), self.y[index]

    def __repr__(self) -> str:
        return (
            f"DataLoader(n={len(self.x)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, transform={self.transform!r})"
        )


def _check_data(x, y) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be an (N, C, H, W) array, got {getattr(x, 'shape', type(x))}")
    if x.dtype not in (np.uint8, np.float32, np.float64):
        raise TypeError(f"x must be uint8, float32 or float64, got {x.dtype}")
    y = np.asarray(y)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold {len(x)} integer labels, got {y.dtype} {y.shape}")
    return x, y.astype(np.int64, copy=False)


def _check_transformed(xb, n: int, transform) -> np.ndarray:
    """The transform's output must still be n images, or labels would pair with wrong images."""
    if not isinstance(xb, np.ndarray):
        raise TypeError(
            f"the transform {transform!r} returned a {type(xb).__name__}, expected an "
            "(N, C, H, W) numpy array"
        )
    if xb.ndim != 4 or len(xb) != n:
        raise ValueError(
            f"the transform {transform!r} returned shape {xb.shape} for a batch of {n} "
            "images; it must return (N, C, H, W) with the same N"
        )
    return xb


def _as_float(xb: np.ndarray) -> np.ndarray:
    """uint8 -> float32 / 255; float32/float64 unchanged; C-contiguous either way."""
    if xb.dtype == np.uint8:
        return np.divide(xb, np.float32(255), dtype=np.float32)
    if xb.dtype not in (np.float32, np.float64):
        raise TypeError(f"the transform must return uint8, float32 or float64, got {xb.dtype}")
    return np.ascontiguousarray(xb)
