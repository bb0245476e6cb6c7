"""MNIST, Fashion-MNIST and CIFAR-10, read from their original files.

Each loader returns ``(x_train, y_train, x_test, y_test)``: images uint8 NCHW,
labels int64. Files are looked for in ``<root>/<set>/`` (``mnist/``,
``fashion-mnist/``, ``cifar10/``), where the root is the ``root`` argument,
else ``$MINIGRAD_DATA``, else ``~/.cache/minigrad``. Missing files are
downloaded (if ``download=True``) from the mirrors in ``MIRRORS``, tried in
order. Every file is checked against its published MD5 before use unless
``verify=False``; a check that passed is remembered (see ``files``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from minigrad.data import cifar, files
from minigrad.data.cifar import write_cifar10_python
from minigrad.data.idx import read_idx

__all__ = [
    "MIRRORS",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
    "read_idx",
    "write_cifar10_python",
]

# Base URLs, tried in order. Edit (or pass ``mirrors=``) to use your own mirror.
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
}

IDX_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Published MD5s: file name -> md5, for the .gz archives and the files they hold.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
CIFAR10_MD5 = {
    cifar.ARCHIVE_NAME: "c58f30108f718f92721af3b95e74349a",
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}

# train-images-idx3-ubyte, the largest file of either set, holds 47,040,016 bytes: a
# larger file, or a header declaring more, is not the published one (refused unread).
IDX_MAX_BYTES = 1 << 26

Root = str | os.PathLike | None
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load_mnist(
    root: Root = None,
    download: bool = True,
    *,
    verify: bool = True,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
) -> Arrays:
    """MNIST from the four original ``*-idx?-ubyte.gz`` files (or the same, uncompressed).

    Args:
        root: data root holding ``mnist/``; default ``$MINIGRAD_DATA``, else
            ``~/.cache/minigrad``.
        download: fetch missing files from ``mirrors``.
        verify: check each file against its published MD5 (uncompressed files
            against the MD5 of their content). Off only for files you made yourself.
        mirrors: base URLs to try in order; default ``MIRRORS["mnist"]``.
        progress: show a progress bar while downloading.

    Returns:
        ``x_train`` (60000, 1, 28, 28) uint8, ``y_train`` (60000,) int64,
        ``x_test`` (10000, 1, 28, 28) uint8, ``y_test`` (10000,) int64.

    Raises:
        FileNotFoundError: files missing and not downloadable; says where it looked.
        ValueError: a file is corrupt, truncated or not what it should be.
    """
    return _load_idx_set("MNIST", "mnist", MNIST_MD5, root, download, verify, mirrors, progress)


def load_fashion_mnist(
    root: Root = None,
    download: bool = True,
    *,
    verify: bool = True,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
) -> Arrays:
    """Fashion-MNIST, exactly as ``load_mnist`` but from ``<root>/fashion-mnist/``."""
    return _load_idx_set(
        "Fashion-MNIST",
        "fashion-mnist",
        FASHION_MNIST_MD5,
        root,
        download,
        verify,
        mirrors,
        progress,
    )


def load_cifar10(
    root: Root = None,
    download: bool = True,
    *,
    verify: bool = True,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
) -> Arrays:
    """CIFAR-10 from ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py/``.

    The extracted folder is used when it holds all six batches, else the
    archive is read in place (nothing is extracted to disk). Batches are read
    with ``safe_pickle.restricted_loads``, which cannot run code and is bounded by the
    file's size, whatever ``verify`` says.

    Args:
        root: data root holding ``cifar10/``; default ``$MINIGRAD_DATA``, else
            ``~/.cache/minigrad``.
        download: fetch the archive (170 MB) from ``mirrors`` if neither form is present.
        verify: check the archive, or each batch file, against the published
            MD5s. Pass ``False`` for files written by ``write_cifar10_python``
            (their content is still fully validated).
        mirrors: base URLs to try in order; default ``MIRRORS["cifar10"]``.
        progress: show a progress bar while downloading.

    Returns:
        ``x_train`` (50000, 3, 32, 32) uint8, ``y_train`` (50000,) int64,
        ``x_test`` (10000, 3, 32, 32) uint8, ``y_test`` (10000,) int64.

    Raises:
        FileNotFoundError: files missing and not downloadable; says where it looked.
        ValueError: a file is corrupt, truncated or not a CIFAR-10 batch.
    """
    folder, root_path, origin = _data_folder(root, "cifar10")
    batches_dir = folder / cifar.BATCH_FOLDER
    names = (*cifar.TRAIN_BATCHES, cifar.TEST_BATCH)
    missing = [name for name in names if not (batches_dir / name).is_file()]
    if not missing:
        if verify:
            for name in names:
                files.verify_md5(batches_dir / name, CIFAR10_MD5[name], cifar.MAX_BATCH_BYTES)
        raw = {name: cifar.read_batch_file(batches_dir / name) for name in names}
        sources = {name: str(batches_dir / name) for name in names}
    else:
        archive = folder / cifar.ARCHIVE_NAME
        if not archive.is_file():
            wanted = (
                f"{cifar.ARCHIVE_NAME}, or the extracted {cifar.BATCH_FOLDER}/ "
                f"(missing there: {', '.join(missing)})"
            )
            _obtain(
                "CIFAR-10",
                folder,
                root_path,
                origin,
                [cifar.ARCHIVE_NAME],
                wanted,
                CIFAR10_MD5,
                mirrors or MIRRORS["cifar10"],
                download,
                progress,
            )
        if verify:
            files.verify_md5(archive, CIFAR10_MD5[cifar.ARCHIVE_NAME], cifar.MAX_ARCHIVE_BYTES)
        raw = cifar.read_archive_members(archive, names)
        sources = {name: f"{archive}:{cifar.BATCH_FOLDER}/{name}" for name in names}
    train = [cifar.parse_batch(raw.pop(name), sources[name]) for name in cifar.TRAIN_BATCHES]
    test = [cifar.parse_batch(raw.pop(cifar.TEST_BATCH), sources[cifar.TEST_BATCH])]
    return (*_concatenate(train), *_concatenate(test))


def _concatenate(parts) -> tuple[np.ndarray, np.ndarray]:
    """Joins (images, labels) batches into new, writable arrays."""
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _data_folder(root: Root, subfolder: str) -> tuple[Path, Path, str]:
    """(``<root>/<subfolder>``, root, where the root came from); the root must not be a file."""
    root_path, origin = files.resolve_root(root)
    if root_path.exists() and not root_path.is_dir():
        raise NotADirectoryError(f"data root {root_path} (from {origin}) is not a folder")
    return root_path / subfolder, root_path, origin


def _load_idx_set(title, subfolder, md5s, root, download, verify, mirrors, progress) -> Arrays:
    """Finds (or fetches), verifies and reads the four IDX files of an MNIST-like set."""
    folder, root_path, origin = _data_folder(root, subfolder)
    missing = [stem for stem in IDX_STEMS if _idx_path(folder, stem) is None]
    if missing:
        wanted = ", ".join(f"{stem}.gz" for stem in missing)
        _obtain(
            title,
            folder,
            root_path,
            origin,
            [f"{stem}.gz" for stem in missing],
            wanted,
            md5s,
            mirrors or MIRRORS[subfolder],
            download,
            progress,
        )
    arrays = []
    for stem in IDX_STEMS:
        path = _idx_path(folder, stem)
        if verify:
            files.verify_md5(path, md5s[path.name], IDX_MAX_BYTES)
        arrays.append((read_idx(path, IDX_MAX_BYTES), path))
    return (
        *_images_and_labels(*arrays[0], *arrays[1]),
        *_images_and_labels(*arrays[2], *arrays[3]),
    )


def _idx_path(folder: Path, stem: str) -> Path | None:
    """The uncompressed file if present (faster to read), else the .gz, else None."""
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _images_and_labels(images, image_path, labels, label_path) -> tuple[np.ndarray, np.ndarray]:
    """Checks an image/label file pair; returns (n, 1, 28, 28) uint8 and (n,) int64."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{image_path}: expected uint8 images (n, 28, 28), got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{label_path}: expected {len(images)} uint8 labels, got {labels.dtype} {labels.shape}"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{label_path}: labels must lie in [0, 9], found {labels.max()}")
    return images[:, None], labels.astype(np.int64)


def _obtain(title, folder, root_path, origin, filenames, wanted, md5s, mirrors, download, progress):
    """Downloads ``filenames`` into ``folder``, or raises a FileNotFoundError that explains."""
    if not download:
        raise FileNotFoundError(
            _missing_message(
                title,
                folder,
                root_path,
                origin,
                wanted,
                mirrors,
                "download=False, so nothing was fetched.",
            )
        )
    created = [p for p in (root_path, folder) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in filenames:
            files.download(name, mirrors, folder, md5s[name], progress)
    except OSError as err:
        for path in reversed(created):  # leave no empty folders behind
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        reason = "Downloading failed:\n  " + str(err).replace("\n", "\n  ")
        raise FileNotFoundError(
            _missing_message(title, folder, root_path, origin, wanted, mirrors, reason)
        ) from err


def _missing_message(title, folder, root_path, origin, wanted, mirrors, reason) -> str:
    return (
        f"{title} files missing from {folder}: {wanted}.\n"
        f"The data root {root_path} comes from {origin}; "
        "each data set lives in its own subfolder of it.\n"
        f"{reason}\n"
        f"To place the files by hand, copy the original files into {folder}/ "
        f"(e.g. from {mirrors[0] if mirrors else 'the official site'}), or point $MINIGRAD_DATA "
        f"(or root=) at a folder that holds {folder.name}/."
    )
