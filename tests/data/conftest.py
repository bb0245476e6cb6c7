"""Fixtures for the data tests: the real data sets, IDX writing, official-format CIFAR files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from minigrad.data import files, write_cifar10_python


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Keeps the checksum cache (and the default data root) out of the real home folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setattr(files, "_VERIFIED", {})


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data folder named by $MINIGRAD_DATA."""
    root = os.environ.get("MINIGRAD_DATA")
    if not root or not (Path(root) / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("set MINIGRAD_DATA to the folder holding mnist/ (e.g. /work/shared/data)")
    return Path(root)


@pytest.fixture(scope="session")
def mnist(shared_data):
    """(x_train, y_train, x_test, y_test) read once per session."""
    from minigrad.data import load_mnist

    return load_mnist(shared_data, download=False)


@pytest.fixture(scope="session")
def cifar_subset(shared_data):
    """The real CIFAR-10 subset: first 4,000 train and 1,000 test images, NCHW uint8."""
    path = shared_data / "cifar10-partial" / "cifar10_partial.npz"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    with np.load(path) as npz:  # allow_pickle stays False
        x_train, y_train = npz["x_train"], npz["y_train"]
        x_test, y_test = npz["x_test"], npz["y_test"]
    return (
        x_train.reshape(-1, 3, 32, 32),
        y_train.astype(np.int64),
        x_test.reshape(-1, 3, 32, 32),
        y_test.astype(np.int64),
    )


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory, cifar_subset) -> Path:
    """A data root whose cifar10/ holds the subset in the official layout, folder and tar.gz."""
    root = tmp_path_factory.mktemp("cifar_root")
    write_cifar10_python(root / "cifar10", *cifar_subset, archive=True)
    return root
