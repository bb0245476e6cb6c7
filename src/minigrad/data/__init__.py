"""Data: the real data sets, seeded splits, the DataLoader and batched augmentation.

``load_mnist`` / ``load_fashion_mnist`` / ``load_cifar10`` read the original
files (see docs/data.md for where they are looked for), ``random_split`` makes
a reproducible train/validation split, ``DataLoader`` yields float mini-batches,
and ``transforms`` augments whole batches with per-sample random parameters.
"""

from minigrad.data import functional, transforms
from minigrad.data.datasets import (
    MIRRORS,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    read_idx,
    write_cifar10_python,
)
from minigrad.data.loader import DataLoader, random_split

__all__ = [
    "MIRRORS",
    "DataLoader",
    "functional",
    "load_cifar10",
    "load_fashion_mnist",
    "load_mnist",
    "random_split",
    "read_idx",
    "transforms",
    "write_cifar10_python",
]
