"""CIFAR-10 from official-layout files written from the real subset; forged and corrupt files."""

from __future__ import annotations

import gzip
import io
import pickle
import shutil
import tarfile
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigrad.data import load_cifar10, write_cifar10_python
from minigrad.data.cifar import (
    ARCHIVE_NAME,
    BATCH_FOLDER,
    MAX_ARCHIVE_BYTES,
    MAX_BATCH_BYTES,
    TEST_BATCH,
    TRAIN_BATCHES,
    _py2_pickle,
    parse_batch,
)
from tests.data.helpers import CALLED, Exploit


def _assert_equal_sets(loaded, expected):
    for got, want in zip(loaded, expected, strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_cifar_archive_in_the_official_layout_loads_the_exact_pixels(cifar_root, cifar_subset):
    folder_only = cifar_root.parent / "archive_only"
    (folder_only / "cifar10").mkdir(parents=True, exist_ok=True)
    shutil.copy(cifar_root / "cifar10" / ARCHIVE_NAME, folder_only / "cifar10")
    loaded = load_cifar10(folder_only, download=False, verify=False)
    _assert_equal_sets(loaded, cifar_subset)
    assert loaded[0].shape == (4000, 3, 32, 32) and loaded[2].shape == (1000, 3, 32, 32)
    assert loaded[0].flags.writeable and loaded[2].flags.writeable


def test_cifar_extracted_folder_loads_the_same(cifar_root, cifar_subset):
    _assert_equal_sets(load_cifar10(cifar_root, download=False, verify=False), cifar_subset)


def test_cifar_first_pixels_and_labels_match_the_published_values(cifar_root):
    x_train, _, _, y_test = load_cifar10(cifar_root, download=False, verify=False)
    red = [59, 43, 50, 68, 98, 119, 139, 145, 149, 149, 131, 125, 142, 144, 137, 129]
    assert x_train[0, 0, 0, :16].tolist() == red
    assert y_test[:20].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]


def test_torchvision_reads_the_written_files_as_it_reads_the_official_ones(
    cifar_root, cifar_subset, monkeypatch
):
    cifar_module = pytest.importorskip("torchvision.datasets.cifar")
    # the files are not the official ones, so torchvision's MD5 check must be bypassed
    monkeypatch.setattr(cifar_module, "check_integrity", lambda *args, **kwargs: True)
    monkeypatch.setattr(cifar_module.CIFAR10, "_check_integrity", lambda self: True)
    for train, x, y in ((True, cifar_subset[0], cifar_subset[1]), (False, *cifar_subset[2:])):
        theirs = cifar_module.CIFAR10(str(cifar_root / "cifar10"), train=train, download=False)
        np.testing.assert_array_equal(theirs.data, x.transpose(0, 2, 3, 1))
        assert theirs.targets == y.tolist()
        assert theirs.classes[0] == "airplane" and theirs.classes[9] == "truck"


def test_written_files_fail_verification_with_advice(cifar_root):
    with pytest.raises(ValueError, match=r"data_batch_1: MD5 .* verify=False"):
        load_cifar10(cifar_root, download=False)


def test_write_cifar10_python_splits_training_images_into_five_batches(cifar_root):
    folder = cifar_root / "cifar10" / BATCH_FOLDER
    sizes = [len(parse_batch((folder / n).read_bytes(), n)[1]) for n in TRAIN_BATCHES]
    assert sizes == [800] * 5
    assert len(parse_batch((folder / TEST_BATCH).read_bytes(), TEST_BATCH)[1]) == 1000
    with tarfile.open(cifar_root / "cifar10" / ARCHIVE_NAME) as tar:
        names = set(tar.getnames())
    assert {f"{BATCH_FOLDER}/{n}" for n in (*TRAIN_BATCHES, TEST_BATCH, "batches.meta")} <= names


def test_write_cifar10_python_rejects_bad_images_and_labels(tmp_path):
    images = np.zeros((2, 3, 32, 32), np.uint8)
    with pytest.raises(ValueError, match=r"x_train must be uint8 \(n, 3, 32, 32\)"):
        write_cifar10_python(tmp_path, images[:, :, :16], [0, 1], images, [0, 1])
    with pytest.raises(ValueError, match=r"y_test must lie in \[0, 9\]"):
        write_cifar10_python(tmp_path, images, [0, 1], images, [0, 10])


def test_a_partial_folder_without_archive_lists_the_missing_batches(cifar_root, tmp_path):
    folder = tmp_path / "cifar10" / BATCH_FOLDER
    folder.mkdir(parents=True)
    shutil.copy(cifar_root / "cifar10" / BATCH_FOLDER / "data_batch_1", folder)
    with pytest.raises(FileNotFoundError, match=r"missing there: data_batch_2, .*test_batch"):
        load_cifar10(tmp_path, download=False, verify=False)


def test_a_truncated_archive_is_an_error_naming_it(cifar_root, tmp_path):
    (tmp_path / "cifar10").mkdir()
    payload = (cifar_root / "cifar10" / ARCHIVE_NAME).read_bytes()
    (tmp_path / "cifar10" / ARCHIVE_NAME).write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match=r"cifar-10-python\.tar\.gz: corrupt or truncated"):
        load_cifar10(tmp_path, download=False, verify=False)
    with pytest.raises(ValueError, match=r"cifar-10-python\.tar\.gz: MD5"):
        load_cifar10(tmp_path, download=False)


def test_an_archive_without_the_batches_is_rejected(tmp_path):
    (tmp_path / "cifar10").mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("something/else")
        tar.addfile(info, io.BytesIO(b""))
    (tmp_path / "cifar10" / ARCHIVE_NAME).write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="no cifar-10-batches-py/data_batch_1 inside"):
        load_cifar10(tmp_path, download=False, verify=False)


def test_the_restricted_unpickler_never_calls_what_a_pickle_names():
    CALLED.clear()
    for protocol in (2, 4, 5):
        raw = pickle.dumps({"data": Exploit(), "labels": []}, protocol=protocol)
        with pytest.raises(ValueError, match=r"evil_batch: not a CIFAR-10.*record_call"):
            parse_batch(raw, "evil_batch")
    assert CALLED == []


@pytest.mark.parametrize("dtype", [np.float64, np.int64, object])
def test_the_restricted_unpickler_admits_only_uint8_arrays(dtype):
    array = np.zeros((2, 3072), dtype=dtype)
    raw = pickle.dumps({"data": array, "labels": [0, 1]}, protocol=4)
    with pytest.raises(ValueError, match="batch_x: not a CIFAR-10"):
        parse_batch(raw, "batch_x")


def test_python3_pickles_of_batches_are_read_too():
    rows = np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072)
    raw = pickle.dumps({b"data": rows, b"labels": [7, 2]}, protocol=4)
    images, labels = parse_batch(raw, "py3")
    np.testing.assert_array_equal(images.reshape(2, -1), rows)
    assert labels.tolist() == [7, 2] and labels.dtype == np.int64


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, r"lie in \[0, 9\]"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, "2 images but 1 labels"),
        ({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, r"\(n, 3072\)"),
        ({"labels": [0]}, "'data' should be"),
        ({"data": np.zeros((1, 3072), np.uint8), "labels": ["a"]}, "list of ints"),
    ],
)
def test_malformed_batches_are_errors_naming_the_source(batch, message):
    with pytest.raises(ValueError, match=f"my_batch: .*{message}"):
        parse_batch(_py2_pickle(batch), "my_batch")


def test_garbage_bytes_are_not_a_batch():
    with pytest.raises(ValueError, match="junk: not a CIFAR-10 python batch"):
        parse_batch(b"\x80\x02}q\x01(U\x04data", "junk")


# -- reliability: bounded, all-or-nothing reading of forged or corrupted files ----------------
def _tiny_set(seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=6)
    return images[:5], labels[:5], images[5:], labels[5:]


@pytest.fixture(scope="module")
def tiny_archive(tmp_path_factory) -> tuple[bytes, tuple]:
    """The bytes of a CIFAR-10 archive of 5 training and 1 test image, and those images."""
    folder = tmp_path_factory.mktemp("tiny")
    expected = _tiny_set()
    write_cifar10_python(folder, *expected, archive=True)
    return (folder / ARCHIVE_NAME).read_bytes(), expected


def _archive_root(tmp_path, payload: bytes):
    (tmp_path / "cifar10").mkdir(exist_ok=True)
    (tmp_path / "cifar10" / ARCHIVE_NAME).write_bytes(payload)
    return tmp_path


def _tar_gz(entries) -> bytes:
    """A tar.gz of (TarInfo, payload) entries, written as given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, payload in entries:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buffer.getvalue()


def _member(name: str, payload: bytes = b"", kind=tarfile.REGTYPE) -> tuple:
    info = tarfile.TarInfo(f"{BATCH_FOLDER}/{name}")
    info.type, info.size = kind, len(payload)
    return info, payload if kind == tarfile.REGTYPE else None


def _peak_of(call) -> tuple[object, int]:
    tracemalloc.start()
    try:
        try:
            result = call()
        except ValueError as err:
            result = err
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_labels_beyond_int64_are_a_value_error_naming_the_source():
    raw = pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [2**100, 1]}, protocol=2)
    with pytest.raises(ValueError, match=r"big_label: labels must lie in \[0, 9\].*1267650600"):
        parse_batch(raw, "big_label")


def test_bytes_after_the_pickle_are_refused():
    raw = _py2_pickle({"data": np.zeros((1, 3072), np.uint8), "labels": [1]})
    with pytest.raises(ValueError, match="trailing: .*4 bytes follow the end of the pickle"):
        parse_batch(raw + b"junk", "trailing")


def test_the_nine_byte_memo_bomb_is_refused_at_once():
    bomb = b"\x80\x02}r" + (200_000_000).to_bytes(4, "little") + b"."
    result, peak = _peak_of(lambda: parse_batch(bomb, "bomb"))
    assert isinstance(result, ValueError) and "bomb: not a CIFAR-10" in str(result)
    assert peak < 1 << 20


def test_an_extracted_batch_larger_than_any_batch_is_refused_before_it_is_read(tmp_path):
    folder = tmp_path / "cifar10" / BATCH_FOLDER
    folder.mkdir(parents=True)
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        (folder / name).write_bytes(b"")
    with open(folder / "data_batch_1", "wb") as file:
        file.truncate(MAX_BATCH_BYTES + 1)  # sparse: no disk space used
    result, peak = _peak_of(lambda: load_cifar10(tmp_path, download=False, verify=False))
    assert isinstance(result, ValueError)
    assert f"data_batch_1: {MAX_BATCH_BYTES + 1} bytes, more than any CIFAR-10 batch" in str(result)
    assert peak < 1 << 20


def test_an_archive_larger_than_the_cifar_archive_is_refused_before_it_is_hashed(tmp_path):
    (tmp_path / "cifar10").mkdir()
    with open(tmp_path / "cifar10" / ARCHIVE_NAME, "wb") as file:
        file.truncate(MAX_ARCHIVE_BYTES + 1)  # sparse
    for verify in (True, False):
        with pytest.raises(ValueError, match=f"{ARCHIVE_NAME}: {MAX_ARCHIVE_BYTES + 1} bytes"):
            load_cifar10(tmp_path, download=False, verify=verify)


def test_a_member_declaring_more_than_a_batch_is_refused_before_it_is_inflated(tmp_path):
    info, _ = _member("data_batch_1")
    info.size = MAX_BATCH_BYTES + 1
    forged = gzip.compress(info.tobuf(tarfile.GNU_FORMAT) + bytes(4096))
    root = _archive_root(tmp_path, forged)
    result, peak = _peak_of(lambda: load_cifar10(root, download=False, verify=False))
    assert isinstance(result, ValueError) and "more or larger entries" in str(result)
    assert peak < 1 << 20


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([_member("data_batch_1", kind=tarfile.SYMTYPE)], "tar type b'2'"),
        ([_member("x" * 120)], "tar type b'L'"),  # a GNU long-name header
        ([_member("data_batch_1", b"a"), _member("data_batch_1", b"b")], "appears twice"),
        ([_member("data_batch_1", kind=tarfile.DIRTYPE)], "data_batch_1 is not a regular file"),
    ],
)
def test_archives_with_links_extension_headers_or_duplicates_are_refused(
    tmp_path, entries, message
):
    root = _archive_root(tmp_path, _tar_gz(entries))
    with pytest.raises(ValueError, match=f"{ARCHIVE_NAME}: .*{message}"):
        load_cifar10(root, download=False, verify=False)


def test_a_corrupt_header_after_the_first_is_reported_as_corruption(tmp_path, tiny_archive):
    tar = bytearray(gzip.decompress(tiny_archive[0]))
    tar[512 + 100] ^= 0xFF  # the mode field of the second header: its checksum fails
    root = _archive_root(tmp_path, gzip.compress(bytes(tar)))
    with pytest.raises(ValueError, match="corrupt tar header"):
        load_cifar10(root, download=False, verify=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(0, 2**31), flip=st.integers(1, 255))
def test_fuzz_an_archive_with_any_byte_flipped_loads_exactly_or_is_a_value_error(
    tiny_archive, position, flip
):
    payload, expected = tiny_archive
    corrupted = bytearray(payload)
    corrupted[position % len(corrupted)] ^= flip
    with tempfile.TemporaryDirectory() as folder:
        root = _archive_root(Path(folder), bytes(corrupted))
        try:
            loaded = load_cifar10(root, download=False, verify=False)
        except ValueError as err:
            assert ARCHIVE_NAME in str(err)
        else:  # a flip the gzip CRC cannot see (its header's mtime, say) changes no pixel
            _assert_equal_sets(loaded, expected)
