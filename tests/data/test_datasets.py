"""MNIST and Fashion-MNIST from the real files: content, where they are looked for, bad input."""

from __future__ import annotations

import gzip
import json
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from minigrad.data import files, load_fashion_mnist, load_mnist
from minigrad.data.datasets import IDX_STEMS
from tests.data.helpers import write_idx

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def _link_mnist(shared_data: Path, folder: Path, skip: tuple[str, ...] = ()) -> Path:
    """A folder with symlinks to the real MNIST archives (no data copied)."""
    folder.mkdir(parents=True)
    for stem in IDX_STEMS:
        if stem not in skip:
            (folder / f"{stem}.gz").symlink_to(shared_data / "mnist" / f"{stem}.gz")
    return folder


def test_load_mnist_returns_60000_and_10000_images_with_the_true_label_counts(mnist):
    x_train, y_train, x_test, y_test = mnist
    assert x_train.shape == (60000, 1, 28, 28) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 1, 28, 28) and x_test.dtype == np.uint8
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert x_train.flags.c_contiguous and x_train.flags.writeable


def test_load_mnist_pixels_agree_with_torchvision_reader(mnist, shared_data, tmp_path):
    reader = pytest.importorskip("torchvision.datasets.mnist")
    raw = tmp_path / "t10k-images-idx3-ubyte"
    source = shared_data / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw.write_bytes(gzip.decompress(source.read_bytes()))
    np.testing.assert_array_equal(mnist[2][:, 0], reader.read_image_file(str(raw)).numpy())


def test_load_mnist_finds_the_data_through_the_environment_variable(
    mnist, shared_data, monkeypatch
):
    monkeypatch.setenv("MINIGRAD_DATA", str(shared_data))
    x_train, y_train, _, _ = load_mnist(download=False)
    np.testing.assert_array_equal(y_train, mnist[1])


def test_load_fashion_mnist_returns_6000_and_1000_images_per_class(shared_data):
    x_train, y_train, x_test, y_test = load_fashion_mnist(shared_data, download=False)
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_loading_from_the_read_only_data_folder_writes_nothing_there(mnist, shared_data):
    before = _snapshot(shared_data / "mnist"), _snapshot(shared_data)
    load_mnist(shared_data, download=False)
    assert (_snapshot(shared_data / "mnist"), _snapshot(shared_data)) == before


def test_uncompressed_files_are_accepted_and_checked_against_their_own_md5(
    mnist, shared_data, tmp_path
):
    folder = _link_mnist(shared_data, tmp_path / "mnist", skip=("t10k-images-idx3-ubyte",))
    source = shared_data / "mnist" / "t10k-images-idx3-ubyte.gz"
    (folder / "t10k-images-idx3-ubyte").write_bytes(gzip.decompress(source.read_bytes()))
    _, _, x_test, _ = load_mnist(tmp_path, download=False)
    np.testing.assert_array_equal(x_test, mnist[2])


def test_a_corrupt_file_is_an_error_naming_it(shared_data, tmp_path):
    folder = _link_mnist(shared_data, tmp_path / "mnist", skip=("t10k-labels-idx1-ubyte",))
    payload = (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(payload[:-100])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: MD5 .* published"):
        load_mnist(tmp_path, download=False)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: corrupt or truncated"):
        load_mnist(tmp_path, download=False, verify=False)


def test_a_huge_file_is_refused_before_it_is_hashed_or_read(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for stem in IDX_STEMS:
        with open(folder / stem, "wb") as file:
            file.truncate(1 << 36)  # 64 GiB, sparse: hashing it would take minutes
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: 68719476736 bytes, more"):
        load_mnist(tmp_path, download=False)
    header = b"\x00\x00\x08\x03" + struct.pack(">3I", 1_000_000, 28, 28)  # 784 MB of pixels
    with open(folder / "train-images-idx3-ubyte", "wb") as file:
        file.write(header)
        file.truncate(len(header) + 784_000_000)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: header declares shape"):
        load_mnist(tmp_path, download=False, verify=False)
    assert time.perf_counter() - start < 5  # a hang guard: nothing was hashed or read


def _write_small_set(folder: Path, labels: np.ndarray, image_shape=(28, 28)) -> None:
    folder.mkdir(parents=True)
    images = np.zeros((len(labels), *image_shape), np.uint8)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)


def test_verify_false_reads_files_that_are_not_the_published_ones(tmp_path):
    _write_small_set(tmp_path / "mnist", np.array([3, 1, 4], np.uint8))
    with pytest.raises(ValueError, match="MD5"):
        load_mnist(tmp_path, download=False)
    x_train, y_train, _, _ = load_mnist(tmp_path, download=False, verify=False)
    assert x_train.shape == (3, 1, 28, 28) and y_train.tolist() == [3, 1, 4]


def test_labels_out_of_range_are_an_error_naming_the_label_file(tmp_path):
    _write_small_set(tmp_path / "mnist", np.array([3, 10], np.uint8))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: labels must lie in \[0, 9\]"):
        load_mnist(tmp_path, download=False, verify=False)


def test_images_of_the_wrong_shape_are_an_error_naming_the_image_file(tmp_path):
    _write_small_set(tmp_path / "mnist", np.array([1, 2], np.uint8), image_shape=(32, 32))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: expected uint8 images"):
        load_mnist(tmp_path, download=False, verify=False)


def test_a_wrong_path_says_what_is_missing_where_and_how_to_place_it(tmp_path):
    root = tmp_path / "no-such-root"
    with pytest.raises(FileNotFoundError) as error:
        load_mnist(root, download=False)
    message = str(error.value)
    assert str(root / "mnist") in message and "the root argument" in message
    assert all(f"{stem}.gz" in message for stem in IDX_STEMS)
    assert "download=False" in message and "by hand" in message
    assert not root.exists()


def test_an_existing_empty_folder_lists_every_missing_file(tmp_path):
    (tmp_path / "fashion-mnist").mkdir()
    with pytest.raises(FileNotFoundError, match=r"Fashion-MNIST files missing from .*fashion-mni"):
        load_fashion_mnist(tmp_path, download=False)


def test_only_the_missing_files_are_listed(shared_data, tmp_path):
    _link_mnist(shared_data, tmp_path / "mnist", skip=("train-labels-idx1-ubyte",))
    with pytest.raises(FileNotFoundError) as error:
        load_mnist(tmp_path, download=False)
    assert "train-labels-idx1-ubyte.gz" in str(error.value)
    assert "train-images-idx3-ubyte.gz" not in str(error.value)


def test_a_root_that_is_a_file_is_rejected(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        load_mnist(tmp_path / "file", download=False)


def test_the_environment_variable_is_named_when_it_chose_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"\$MINIGRAD_DATA"):
        load_mnist(download=False)


def test_without_root_or_environment_the_user_cache_folder_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "minigrad" / "mnist")):
        load_mnist(download=False)
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert files.resolve_root(None)[0] == Path.home() / ".cache" / "minigrad"


def test_verified_checksums_are_remembered_in_memory_and_in_the_user_cache(
    shared_data, monkeypatch
):
    calls = []
    real_md5 = files.file_md5
    monkeypatch.setattr(files, "file_md5", lambda path: calls.append(path) or real_md5(path))
    load_mnist(shared_data, download=False)
    assert len(calls) == 4
    load_mnist(shared_data, download=False)
    assert len(calls) == 4  # memory
    monkeypatch.setattr(files, "_VERIFIED", {})
    load_mnist(shared_data, download=False)
    assert len(calls) == 4  # the cache file
    assert (Path(os.environ["XDG_CACHE_HOME"]) / "minigrad" / "checksums.json").is_file()


def test_a_file_changed_after_verification_is_checked_again(shared_data, tmp_path):
    folder = _link_mnist(shared_data, tmp_path / "mnist", skip=("t10k-labels-idx1-ubyte",))
    good = (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    target = folder / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(good)
    load_mnist(tmp_path, download=False)
    target.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # same size, new content
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match="MD5"):
        load_mnist(tmp_path, download=False)


def test_the_checksum_cache_keeps_one_entry_per_file(shared_data, tmp_path):
    folder = _link_mnist(shared_data, tmp_path / "mnist", skip=("t10k-labels-idx1-ubyte",))
    target = folder / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes((shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    files.remember_verified(target, "0" * 32)
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    load_mnist(tmp_path, download=False)
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "minigrad" / "checksums.json"
    entries = [k for k in json.loads(cache.read_text()) if k.startswith(str(target.resolve()))]
    assert len(entries) == 1
