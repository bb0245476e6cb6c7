"""Times augmenting one MNIST training epoch: rotation + crop, parameters drawn per sample.

The epoch is the 48,000-image training part of a seeded 4:1 split of MNIST's 60,000
images (1x28x28 uint8). The pipeline is ``RandomRotation(15)`` then
``RandomCrop(28, padding=2)``, each image with its own angle and offset. It is timed
two ways: as one call on the whole epoch, and through a ``DataLoader`` (batches of
128, uint8 -> float32 included) against the same loader without augmentation.

Usage (the data as in docs/data.md)::

    MINIGRAD_DATA=../shared/data python benchmarks/bench_augment.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from minigrad.data import DataLoader, load_mnist, random_split
from minigrad.data.transforms import Compose, RandomCrop, RandomRotation


def timed(function, repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process-CPU seconds of ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


def report(label: str, walls: list[float], cpus: list[float]) -> None:
    print(
        f"{label:<44} best {min(walls):.3f} s   median {statistics.median(walls):.3f} s   "
        f"(CPU best {min(cpus):.3f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="data root (default: $MINIGRAD_DATA)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    x, y, _, _ = load_mnist(args.root, download=False)
    (x_train, y_train), _ = random_split((x, y), seed=0)
    augment = Compose([RandomRotation(15), RandomCrop(28, padding=2)])
    generator = np.random.default_rng(0)
    print(f"epoch: {x_train.shape[0]} MNIST images {x_train.shape[1:]} {x_train.dtype}")
    print(f"pipeline: {augment!r}")

    first = time.perf_counter()
    augment(x_train[:256], generator)  # numba compiles, or loads its on-disk cache
    print(f"{'first call (numba compile or cache load)':<44} {time.perf_counter() - first:.3f} s")

    report("one epoch, one call", *timed(lambda: augment(x_train, generator), args.repeats))
    augmented = DataLoader(x_train, y_train, args.batch_size, transform=augment, seed=0)
    plain = DataLoader(x_train, y_train, args.batch_size, seed=0)
    for label, loader in (("augmented", augmented), ("no transform", plain)):
        walls, cpus = timed(lambda loader=loader: sum(1 for _ in loader), args.repeats)
        report(f"one epoch, DataLoader({args.batch_size}), {label}", walls, cpus)


if __name__ == "__main__":
    main()
