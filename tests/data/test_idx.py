"""read_idx: every IDX type, gz or not, and clear errors for anything malformed."""

from __future__ import annotations

import gzip
import math
import struct
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigrad.data import read_idx
from tests.crafted_zip import deflated_zeros
from tests.data.helpers import IDX_CODES, idx_bytes, write_idx

ITEMSIZE = {code: np.dtype(dt).itemsize for dt, code in IDX_CODES.items()}


@pytest.mark.parametrize("dtype", list(IDX_CODES))
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_every_idx_type(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    result = read_idx(write_idx(tmp_path / "a.idx", array, compress))
    assert result.dtype == dtype and result.dtype.isnative
    np.testing.assert_array_equal(result, array)
    assert result.flags.writeable and result.flags.c_contiguous


def test_read_idx_detects_gzip_by_content_not_by_name(tmp_path):
    array = np.arange(12, dtype=np.int32).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "plain", array, True)), array)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "x.gz", array, False)), array)


def test_read_idx_agrees_with_torchvision_on_real_mnist(tmp_path, shared_data):
    mnist = pytest.importorskip("torchvision.datasets.mnist")
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        raw = tmp_path / name
        raw.write_bytes(gzip.decompress((shared_data / "mnist" / f"{name}.gz").read_bytes()))
        expected = mnist.read_sn3_pascalvincent_tensor(str(raw)).numpy()
        np.testing.assert_array_equal(read_idx(raw), expected)
        np.testing.assert_array_equal(read_idx(shared_data / "mnist" / f"{name}.gz"), expected)


def test_read_idx_rejects_a_wrong_magic_number_naming_the_file(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 2) + b"ab")
    with pytest.raises(ValueError, match=r"bad\.idx.*magic number 12340801"):
        read_idx(path)


def test_read_idx_rejects_an_unknown_type_code(tmp_path):
    path = tmp_path / "type.idx"
    path.write_bytes(b"\x00\x00\x0a\x01" + struct.pack(">I", 2) + b"ab")
    with pytest.raises(ValueError, match="magic number 00000a01"):
        read_idx(path)


@pytest.mark.parametrize("delta", [-1, 1])
def test_read_idx_rejects_data_shorter_or_longer_than_the_header(tmp_path, delta):
    payload = idx_bytes(np.zeros((4, 5), np.int16))
    path = tmp_path / "short.idx"
    path.write_bytes(payload[:delta] if delta < 0 else payload + b"\x00")
    with pytest.raises(ValueError, match=r"short\.idx.*shape \(4, 5\) of int16 \(40 bytes"):
        read_idx(path)


def test_read_idx_rejects_a_file_that_ends_inside_the_header(tmp_path):
    path = tmp_path / "header.idx"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">I", 2))
    with pytest.raises(ValueError, match="ends inside the header"):
        read_idx(path)


def test_read_idx_rejects_a_truncated_gzip_naming_the_file(tmp_path, shared_data):
    payload = (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz.*truncated gzip"):
        read_idx(path)


def test_read_idx_rejects_a_gzip_with_a_bad_checksum(tmp_path):
    payload = bytearray(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8))))
    payload[-8] ^= 0xFF  # the CRC32 of the trailer
    path = tmp_path / "crc.gz"
    path.write_bytes(bytes(payload))
    with pytest.raises(ValueError, match=r"crc\.gz.*corrupt"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_a_forged_huge_header_fails_without_a_huge_allocation(tmp_path, compress):
    # claims 2^32-1 x 2^32-1 x 2^32-1 float64 values, holds 16 bytes
    forged = b"\x00\x00\x0e\x03" + b"\xff" * 12 + bytes(16)
    path = tmp_path / "forged.idx"
    path.write_bytes(gzip.compress(forged) if compress else forged)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="forged.idx"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_a_header_declaring_more_than_max_bytes_is_refused_before_reading(tmp_path):
    path = write_idx(tmp_path / "big.idx", np.zeros((4, 5), np.int16))
    assert read_idx(path, max_bytes=40).shape == (4, 5)
    with pytest.raises(ValueError, match=r"big\.idx: .*\(40 bytes of values\), more than the 39"):
        read_idx(path, max_bytes=39)


def test_a_gzip_bomb_behind_a_small_header_stops_after_the_declared_size(tmp_path):
    # declares 16 uint8 values, then inflates to 1 GiB of zeros from a 1 MB file
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    header = b"\x00\x00\x08\x01" + struct.pack(">I", 16)
    stream = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream += deflated_zeros(1 << 30)
    path = tmp_path / "bomb.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + stream + bytes(8))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=r"bomb\.gz.*\(16 bytes of values\).*more than that"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20 and time.perf_counter() - start < 5  # bounds, not speed


def _expected_parse(data: bytes):
    """An independent model of a valid IDX file: the array, or None if invalid."""
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in ITEMSIZE:
        return None
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        return None
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = data[4 + 4 * ndim :]
    if len(body) != math.prod(shape) * ITEMSIZE[data[2]]:
        return None
    dtype = next(dt for dt, code in IDX_CODES.items() if code == data[2])
    return np.frombuffer(body, dtype=dtype.newbyteorder(">")).reshape(shape)


def _check_against_model(data: bytes, compress: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.idx"
        path.write_bytes(gzip.compress(data) if compress else data)
        expected = _expected_parse(data)
        if expected is None:
            with pytest.raises(ValueError, match="fuzz.idx"):
                read_idx(path)
        else:
            np.testing.assert_array_equal(read_idx(path), expected)


small_arrays = st.builds(
    lambda dtype, shape, seed: (
        np.random.default_rng(seed).integers(-100, 100, size=shape).astype(dtype)
    ),
    st.sampled_from(list(IDX_CODES)),
    st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple),
    st.integers(0, 2**32 - 1),
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.binary(max_size=64), compress=st.booleans())
def test_read_idx_fuzz_random_bytes_give_an_array_or_a_value_error(data, compress):
    _check_against_model(data, compress)


@FUZZ
@given(
    array=small_arrays,
    position=st.integers(0, 40),
    new_byte=st.integers(0, 255),
    cut=st.integers(-3, 3),
    compress=st.booleans(),
)
def test_read_idx_fuzz_mutated_headers_and_lengths(array, position, new_byte, cut, compress):
    data = bytearray(idx_bytes(array))
    if position < len(data):
        data[position] = new_byte
    data = data[:cut] if cut < 0 else data + bytes(cut)
    _check_against_model(bytes(data), compress)


@FUZZ
@given(array=small_arrays, compress=st.booleans())
def test_read_idx_fuzz_valid_files_round_trip(array, compress):
    _check_against_model(idx_bytes(array), compress)
