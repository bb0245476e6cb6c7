"""The images a benchmark run trains on: the official files, cut to the profile's sizes.

CIFAR-10's official files may be absent (they are on the machine this was written on): the
quick and smoke profiles then write the partial set ``<data root>/cifar10-partial/
cifar10_partial.npz`` (the first 4,000 training and 1,000 test images, exact pixels) in the
official python-batch format into a temporary folder and read it back through
``load_cifar10``, so the same reader runs as for the real files. Without the partial set
either, they use random images of the right shape. ``partial=True`` asks for the partial set
at any profile, the full one included, whether or not the official files are there.
``DataSource.label`` names the set every output shows ("CIFAR-10 partial set (4,000 train /
1,000 test)", never plain "CIFAR-10"), ``DataSource.description`` says where it came from.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minigrad.data import load_cifar10, load_mnist, write_cifar10_python
from minigrad.data.files import resolve_root
from minigrad_bench.accuracy.profiles import Profile

PARTIAL_CIFAR = Path("cifar10-partial") / "cifar10_partial.npz"


class DataMissing(Exception):
    """The data a run needs cannot be found; the message says where it looked and what to do."""


@dataclass
class DataSource:
    """Images (uint8 NCHW) and int64 labels, with what they are and where they came from.

    ``name`` is the set's key in results and folder names ("mnist", "cifar10",
    "cifar10-partial", "cifar10-synthetic"), ``label`` its name for people.
    """

    name: str
    label: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str

    def sizes(self) -> dict:
        return {"train_and_validation": len(self.x_train), "test": len(self.x_test),
                "image_shape": list(self.x_train.shape[1:])}


def check_partial(dataset: str, partial: bool) -> None:
    """Raises a ValueError if the partial set is asked for with a data set other than CIFAR-10."""
    if partial and dataset != "cifar10":
        raise ValueError(f"--cifar10-partial needs --dataset cifar10, got --dataset {dataset}")


def load(dataset: str, profile: Profile, root=None, download: bool = False,
         partial: bool = False) -> DataSource:
    """The training and test images for ``dataset``, cut to ``profile``'s sizes.

    ``partial`` (CIFAR-10 only): the partial set, whatever the profile and whether or not the
    official files are present.

    Raises:
        DataMissing: the files are missing (MNIST; CIFAR-10 under the full profile; the
            partial set when ``partial``).
        ValueError: ``partial`` with a data set other than CIFAR-10.
    """
    check_partial(dataset, partial)
    if dataset == "mnist":
        try:
            arrays = load_mnist(root, download=download, progress=False)
        except FileNotFoundError as err:
            raise DataMissing(str(err)) from None
        source = DataSource("mnist", "MNIST", *arrays,
                            f"MNIST, official files under {_root(root)}")
    elif partial:
        source = _requested_partial(root)
    else:
        source = _cifar10(profile, root, download)
    return _cut(source, profile)


def _root(root) -> Path:
    return resolve_root(root)[0]


def _cifar10(profile: Profile, root, download: bool) -> DataSource:
    try:
        arrays = load_cifar10(root, download=download, progress=False)
        return DataSource("cifar10", "CIFAR-10", *arrays,
                          f"CIFAR-10, official files under {_root(root)}")
    except FileNotFoundError as err:
        if profile.needs_real_cifar:
            raise DataMissing(
                f"{err}\nThe {profile.name} profile needs the official CIFAR-10 files; "
                "--profile quick or smoke run on the partial set instead, and "
                "--cifar10-partial runs this profile's recipe on the partial set."
            ) from None
        missing = f"official files not found under {_root(root) / 'cifar10'}"
    partial = _root(root) / PARTIAL_CIFAR
    if partial.is_file():
        return _partial_cifar10(partial, missing)
    return _synthetic_cifar10(f"{missing}; no partial set at {partial} either")


def _requested_partial(root) -> DataSource:
    partial = _root(root) / PARTIAL_CIFAR
    if not partial.is_file():
        raise DataMissing(f"--cifar10-partial: the CIFAR-10 partial set {partial} is missing")
    return _partial_cifar10(partial, "asked for with --cifar10-partial")


def _partial_cifar10(path: Path, why: str) -> DataSource:
    """The partial set, written in the official format and read back by ``load_cifar10``."""
    with np.load(path, allow_pickle=False) as npz:
        x_train, y_train = npz["x_train"], npz["y_train"]
        x_test, y_test = npz["x_test"], npz["y_test"]
    with tempfile.TemporaryDirectory(prefix="minigrad-bench-cifar10-") as root:
        write_cifar10_python(Path(root) / "cifar10", x_train, y_train, x_test, y_test)
        # Our own files: their MD5s are not the official ones, their content is still checked.
        arrays = load_cifar10(root, download=False, verify=False, progress=False)
    label = f"CIFAR-10 partial set ({len(arrays[0]):,} train / {len(arrays[2]):,} test)"
    return DataSource(
        "cifar10-partial", label, *arrays,
        f"CIFAR-10 PARTIAL SET ({why}): the first {len(arrays[0]):,} training and "
        f"{len(arrays[2]):,} test images of the official files (exact pixels, {path}), "
        "written in the official batch format and read back with load_cifar10",
    )


def _synthetic_cifar10(reason: str) -> DataSource:
    """Random images in the official format: enough to check that the code runs, nothing more."""
    g = np.random.default_rng(0)
    x_train = g.integers(0, 256, (1000, 3, 32, 32), dtype=np.uint8)
    x_test = g.integers(0, 256, (200, 3, 32, 32), dtype=np.uint8)
    y_train, y_test = g.integers(0, 10, 1000), g.integers(0, 10, 200)
    with tempfile.TemporaryDirectory(prefix="minigrad-bench-cifar10-") as root:
        write_cifar10_python(Path(root) / "cifar10", x_train, y_train, x_test, y_test)
        arrays = load_cifar10(root, download=False, verify=False, progress=False)
    return DataSource("cifar10-synthetic", "SYNTHETIC images in the CIFAR-10 format", *arrays,
                      f"SYNTHETIC random images in the CIFAR-10 format ({reason})")


def _cut(source: DataSource, profile: Profile) -> DataSource:
    """The first ``profile.train_images`` / ``test_images`` images (all when None)."""
    n_train, n_test = profile.train_images, profile.test_images
    source.x_train, source.y_train = source.x_train[:n_train], source.y_train[:n_train]
    source.x_test, source.y_test = source.x_test[:n_test], source.y_test[:n_test]
    return source
