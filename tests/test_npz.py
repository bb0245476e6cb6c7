"""NpzReader: np.savez archives read exactly; forged directories, headers and sizes refused
before anything large is allocated."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigrad.npz import NpzError, NpzReader
from tests.crafted_zip import Entry, deflated_zeros, npy_bytes, npy_header, zip_bytes

GIB = 1 << 30


def write(tmp_path, payload: bytes, name: str = "a.npz"):
    path = tmp_path / name
    path.write_bytes(payload)
    return path


def read_all(path) -> dict[str, np.ndarray]:
    with NpzReader(path) as archive:
        return {name: archive.read(name) for name in archive.names}


def peak_and_outcome(call):
    """(result or the NpzError, peak traced bytes, seconds)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = call()
    except NpzError as error:
        result = error
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, peak, seconds


@pytest.mark.parametrize("compressed", [False, True])
def test_np_savez_archives_read_exactly_as_np_load_reads_them(tmp_path, compressed):
    rng = np.random.default_rng(0)
    arrays = {
        "weights": rng.standard_normal((3, 4)).astype(np.float32),
        "fortran": np.asfortranarray(rng.standard_normal((2, 5))),
        "big_endian": np.arange(6, dtype=">i4"),
        "scalar": np.array(7, dtype=np.int64),
        "empty": np.zeros((0, 3), np.float64),
        "flags": np.array([True, False]),
        "text": np.array(["ab", "c"]),
        "when": np.array(["2024-01-01"], dtype="datetime64[D]"),
        "nested/name.with.dots": np.ones(2, np.uint8),
    }
    path = tmp_path / "a.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    loaded = read_all(path)
    assert list(loaded) == list(arrays)
    with np.load(path) as reference:
        for name, array in loaded.items():
            assert array.dtype == reference[name].dtype and array.shape == reference[name].shape
            assert array.flags.f_contiguous == reference[name].flags.f_contiguous
            assert array.flags.writeable
            np.testing.assert_array_equal(array, reference[name])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (npy_bytes(np.ones(3)), "a single .npy array"),
        (b"\x80\x04N.", "a pickle, not an .npz archive"),
        (b"hello", "not an .npz archive"),
        (b"PK\x03\x04" + bytes(40), "a truncated zip archive"),
    ],
)
def test_files_that_are_not_npz_archives_are_refused(tmp_path, payload, message):
    with pytest.raises(NpzError, match=message):
        NpzReader(write(tmp_path, payload))


def test_a_missing_file_is_a_file_not_found_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="typo.npz"):
        NpzReader(tmp_path / "typo.npz")


def test_duplicate_entry_names_are_refused(tmp_path):
    entry = Entry("w.npy", npy_bytes(np.ones(2)))
    path = write(tmp_path, zip_bytes([entry, Entry("w.npy", npy_bytes(np.zeros(2)))]))
    with pytest.raises(NpzError, match="entry 'w' appears twice"):
        NpzReader(path)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ((1, 1), "listing 1 entries in its end record, but not all"),
        ((2, 1), "does not describe the file"),
        ((0xFFFF, 0xFFFF), "65535 or more entries"),
    ],
)
def test_an_end_record_that_disagrees_with_the_directory_is_refused(tmp_path, counts, message):
    # zipfile ignores these counts: a flipped byte there would silently drop entries
    payload = bytearray(zip_bytes([Entry("a.npy", npy_bytes(np.ones(2))), Entry("b.npy", b"")]))
    payload[-14:-10] = struct.pack("<2H", *counts)
    with pytest.raises(NpzError, match=message):
        NpzReader(write(tmp_path, bytes(payload)))


def test_entries_that_share_bytes_are_refused(tmp_path):
    # two names for one entry: inflating both would read its bytes twice (a zip bomb's trick)
    entries = [Entry("a.npy", npy_bytes(np.ones(4)))]
    path = write(tmp_path, zip_bytes(entries, directory=[(0, "a.npy"), (0, "b.npy")]))
    with pytest.raises(NpzError, match="overlaps the next entry"):
        NpzReader(path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (Entry("x.txt", b"hi"), "'x.txt' is not a .npy array"),
        (Entry("x.npy", b"", method=12), "compressed other than by deflate"),
        (Entry("x.npy", b"abc", file_size=4), "claims 4 bytes from 3"),
        (Entry("x.npy", b"abc", file_size=GIB, method=8), "more than its compression can"),
    ],
)
def test_directory_entries_no_savez_could_write_are_refused(tmp_path, entry, message):
    with pytest.raises(NpzError, match=message):
        NpzReader(write(tmp_path, zip_bytes([entry])))


def test_a_gibibyte_of_deflated_zeros_behind_a_small_header_is_refused_unread(tmp_path):
    header = npy_bytes(np.ones(2, np.float32))[:128]  # declares 8 bytes of data
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream += deflated_zeros(GIB)[:-2]  # the final empty block of the zeros' stream is kept
    bomb = Entry("bomb.npy", stream, file_size=128 + GIB, method=8)
    path = write(tmp_path, zip_bytes([bomb]))
    assert path.stat().st_size < 2 << 20
    with NpzReader(path) as archive:
        result, peak, seconds = peak_and_outcome(lambda: archive.read("bomb"))
    assert isinstance(result, NpzError) and "declares float32 (2,) (8 bytes" in str(result)
    assert peak < 1 << 20 and seconds < 5  # read the header only


def test_a_declared_ten_terabyte_shape_is_refused_before_allocating(tmp_path):
    header = npy_header("<f8", (1_250_000_000_000,))
    path = write(tmp_path, zip_bytes([Entry("huge.npy", header + bytes(16))]))
    with NpzReader(path) as archive:
        result, peak, _ = peak_and_outcome(lambda: archive.read("huge"))
    assert isinstance(result, NpzError) and "(1250000000000,)" in str(result)
    assert "truncated or forged" in str(result) and peak < 1 << 20


def test_a_truncated_array_is_reported_as_truncated_not_as_a_pickle(tmp_path):
    cut = npy_bytes(np.ones((8, 4), np.float32))[:-28]
    path = write(tmp_path, zip_bytes([Entry("w.npy", cut)]))
    with NpzReader(path) as archive, pytest.raises(NpzError, match="truncated") as error:
        archive.read("w")
    assert "pickle" not in str(error.value)


def test_object_arrays_are_refused_as_pickled_objects(tmp_path):
    path = tmp_path / "o.npz"
    np.savez(path, o=np.array([{}, 1], dtype=object))
    with NpzReader(path) as archive, pytest.raises(NpzError, match="holds pickled Python objects"):
        archive.read("o")


def test_a_corrupted_byte_is_caught_by_the_crc(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, w=np.arange(100, dtype=np.int64))
    payload = bytearray(path.read_bytes())
    payload[300] ^= 0x01  # inside the data of the only entry
    path.write_bytes(bytes(payload))
    with NpzReader(path) as archive, pytest.raises(NpzError, match="corrupt or truncated"):
        archive.read("w")


def test_read_refuses_more_than_max_bytes_before_allocating(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, w=np.zeros(1000, np.uint8))
    with NpzReader(path) as archive, pytest.raises(NpzError, match="holds 1000 bytes, at most 10"):
        archive.read("w", max_bytes=10)


# -- fuzzing ----------------------------------------------------------------------------
def _savez_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, a=np.arange(12, dtype=np.float32).reshape(3, 4), b=np.array([1, 2], np.int8))
    return buffer.getvalue()


SAVEZ = _savez_bytes()
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(payload: bytes, tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.npz"
    path.write_bytes(payload)

    def read():
        with NpzReader(path) as archive:
            return {name: archive.read(name) for name in archive.names}

    result, peak, seconds = peak_and_outcome(read)
    assert peak < (4 << 20) + 64 * len(payload) and seconds < 2  # bounds, not speed
    assert isinstance(result, NpzError | dict)


@FUZZ
@given(position=st.integers(0, 2**31), flip=st.integers(1, 255), cut=st.integers(0, 3))
def test_fuzz_flipped_or_truncated_archives_read_or_raise_npz_error(
    tmp_path_factory, position, flip, cut
):
    payload = bytearray(SAVEZ)
    payload[position % len(payload)] ^= flip
    _check(bytes(payload[: len(payload) - cut * 97]), tmp_path_factory)


npy_header_text = st.sampled_from(
    [
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
        b"{'descr': '|O', 'fortran_order': False, 'shape': (3,), }",
        b"{'descr': [('a', '<f4')], 'fortran_order': True, 'shape': (), }",
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
    ]
)


@FUZZ
@given(
    text=npy_header_text,
    edits=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=3),
    data=st.binary(max_size=64),
    method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
)
def test_fuzz_npy_headers_with_a_valid_crc_read_or_raise_npz_error(
    tmp_path_factory, text, edits, data, method
):
    header = bytearray(text)
    for position, value in edits:
        header[position % len(header)] = value
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        archive.writestr("x.npy", npy)
    _check(buffer.getvalue(), tmp_path_factory)
