"""restricted_loads: what Python and numpy pickle comes back the same; anything else is refused
quickly, in bounded memory, and without calling or changing anything."""

from __future__ import annotations

import pickle
import struct
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigrad.data import safe_pickle
from minigrad.data.safe_pickle import PickleRefused, restricted_loads
from tests.data.helpers import CALLED, Exploit

MAX_OPCODES = 1 << 16


def assert_same(got, want):
    """Equal values of the same types, arrays included (dtype, shape, layout, writable)."""
    assert type(got) is type(want), (got, want)
    if isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.flags.f_contiguous == want.flags.f_contiguous and got.flags.writeable
        np.testing.assert_array_equal(got, want)
    elif isinstance(want, dict):
        assert list(got) == list(want)
        for key in want:
            assert_same(got[key], want[key])
    elif isinstance(want, list | tuple):
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert_same(a, b)
    else:
        assert got == want or (got != got and want != want)


def bounded(raw: bytes, max_opcodes: int = MAX_OPCODES):
    """Runs restricted_loads; returns (result or the PickleRefused, peak bytes, seconds)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = restricted_loads(raw, max_opcodes)
    except PickleRefused as refused:
        result = refused
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, peak, seconds


# -- what it reads ----------------------------------------------------------------------
atoms = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
uint8_arrays = st.builds(
    lambda shape, fortran, seed: np.asarray(
        np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8),
        order="F" if fortran else "C",
    ),
    st.lists(st.integers(0, 4), max_size=3).map(tuple),
    st.booleans(),
    st.integers(0, 2**16),
)
plain = st.recursive(
    atoms | uint8_arrays,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=4) | st.integers(0, 9), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=plain, protocol=st.integers(2, 5))
def test_pickles_of_plain_data_and_uint8_arrays_come_back_as_pickle_reads_them(value, protocol):
    raw = pickle.dumps(value, protocol=protocol)
    assert_same(restricted_loads(raw, MAX_OPCODES), pickle.loads(raw, encoding="bytes"))


def test_python2_strings_come_back_as_bytes():
    # cPickle protocol 2 of {"k": ["ab", u"c"]}: SHORT_BINSTRING for str, BINUNICODE for unicode
    raw = b"\x80\x02}q\x01U\x01kq\x02]q\x03(U\x02abq\x04X\x01\x00\x00\x00cq\x05es."
    assert restricted_loads(raw, MAX_OPCODES) == {b"k": [b"ab", "c"]}


def test_shared_and_self_referencing_containers_keep_their_identity():
    shared = [1, 2]
    loop = [shared, shared]
    loop.append(loop)
    result = restricted_loads(pickle.dumps(loop, protocol=4), MAX_OPCODES)
    assert result[0] is result[1] and result[2] is result


# -- what it refuses --------------------------------------------------------------------
def test_the_memo_bomb_of_nine_bytes_is_refused_without_allocating():
    bomb = b"\x80\x02}r" + (200_000_000).to_bytes(4, "little") + b"."
    result, peak, _ = bounded(bomb)
    assert isinstance(result, PickleRefused) and "memo index 200000000" in str(result)
    assert peak < 1 << 20


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b".", "needs 4611686018427387904 bytes"),
        (b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"N.", "a frame of 1099511627776 bytes"),
        (b"\x80\x02T" + struct.pack("<i", -5) + b".", "negative length"),
        (b"\x80\x02j" + struct.pack("<I", 7) + b".", "memo entry 7, never stored"),
        (b"\x80\x02N.N", "1 bytes follow the end"),
        (b"\x80\x02NN.", "exactly one value"),
        (b"\x80\x02(N.", "exactly one value"),
        (b"\x80\x02N", "ends without a STOP"),
        (b"(N.", "does not start with a PROTO"),
        (b"\x80\x01N.", "protocol 1"),
        (b"\x80\x02\x8b\x00\x00\x00\x00.", "opcode b'\\x8b'"),
        (b"\x80\x02t.", "needs a MARK"),
        (b"\x80\x02\x85.", "pops an empty stack"),
        (b"\x80\x02Na.", "needs a list"),
        (b"\x80\x02N]a.", "needs a list"),
        (b"\x80\x02}]Ns.", "dict key of type list"),
        (b"\x80\x02](NNu.", "needs a dict"),
        (b"\x80\x02cos\nsystem\n.", "refers to os.system"),
        (b"\x80\x02cnumpy\nndarray\n)R.", "numpy.ndarray may only be an argument"),
        (b"\x80\x04cnumpy\ndtype\n\x8c\x02f8K\x00K\x01\x87R.", "dtype 'f8': only uint8"),
        (b"\x80\x02cnumpy\nndarray\n.", "unfinished numpy.ndarray"),
        (b"\x80\x02cnumpy\n" + b"x" * 300 + b"\n.", "longer than 256 bytes"),
        (b"\x80\x04\x8c\x02\xff\xfe.", "not valid UTF-8"),
    ],
)
def test_malformed_or_forged_pickles_are_refused_with_the_reason(raw, message):
    result, peak, _ = bounded(raw)
    assert isinstance(result, PickleRefused)
    assert message in str(result)
    assert peak < 1 << 20


def test_nothing_a_pickle_names_is_called():
    CALLED.clear()
    for protocol in (2, 3, 4, 5):
        with pytest.raises(PickleRefused, match="record_call"):
            restricted_loads(pickle.dumps([Exploit()], protocol=protocol), MAX_OPCODES)
    assert CALLED == []


def test_build_cannot_change_module_level_objects():
    # BUILD with a (None, {name: value}) state sets attributes on its target: when the
    # target could be a module-level stand-in for numpy's names, a rejected pickle could
    # change it (here its __defaults__) for the rest of the process.
    attack = b"N}X\x0c\x00\x00\x00__defaults__(K\x01ts\x86b."
    for name in (b"numpy.core.multiarray\n_reconstruct\n", b"numpy\nndarray\n", b"numpy\ndtype\n"):
        with pytest.raises(PickleRefused, match="sets the state of the global"):
            restricted_loads(b"\x80\x02c" + name + attack, MAX_OPCODES)
    assert safe_pickle._reconstruct.__defaults__ is None
    assert vars(safe_pickle._reconstruct) == {}


def test_uint8_arrays_only_and_of_the_declared_size():
    for array in (np.zeros(3, np.float64), np.zeros(3, np.int64), np.array([{}], dtype=object)):
        for protocol in (2, 4, 5):
            with pytest.raises(PickleRefused):
                restricted_loads(pickle.dumps(array, protocol=protocol), MAX_OPCODES)
    raw = pickle.dumps(np.zeros((2, 3), np.uint8), protocol=4)
    forged = raw.replace(b"K\x02K\x03\x86", b"K\x02K\x04\x86")  # shape (2, 4) for 6 bytes
    with pytest.raises(PickleRefused, match="does not hold the 8 values declared"):
        restricted_loads(forged, MAX_OPCODES)


def test_tuple_keys_are_refused_so_hashing_a_shared_tuple_dag_cannot_hang():
    # t[0] = (); t[k+1] = (t[k], t[k]) through the memo: hashing t[60] visits 2**60 tuples
    dag = b"".join(
        b"r" + struct.pack("<I", k) + b"j" + struct.pack("<I", k) + b"\x86" for k in range(60)
    )
    result, _, seconds = bounded(b"\x80\x02})" + dag + b"Ns.")
    assert isinstance(result, PickleRefused) and "dict key of type tuple" in str(result)
    assert seconds < 5  # a hang guard only


def test_the_opcode_budget_bounds_time_and_memory():
    many_lists = b"\x80\x02" + b"]" * 100_000 + b"."
    result, peak, _ = bounded(many_lists, max_opcodes=1000)
    assert isinstance(result, PickleRefused) and "more than 1000 opcodes" in str(result)
    assert peak < 1 << 20
    many_marks = b"\x80\x02" + b"(" * 100_000 + b"."
    result, peak, _ = bounded(many_marks, max_opcodes=1000)
    assert isinstance(result, PickleRefused) and peak < 1 << 20


# -- fuzzing ----------------------------------------------------------------------------
SEED_PICKLES = [
    pickle.dumps(
        {"data": np.arange(24, dtype=np.uint8).reshape(2, 12), "labels": [3, 7], "n": (1.5, b"x")},
        protocol=protocol,
    )
    for protocol in (2, 4, 5)
]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_bounded(raw: bytes) -> None:
    result, peak, seconds = bounded(raw, max_opcodes=4096)
    assert peak < (1 << 20) + 64 * len(raw)
    assert seconds < 2  # a hang guard, not a speed test
    assert isinstance(result, (PickleRefused, list, tuple, dict, *safe_pickle.LEAF_TYPES))


@FUZZ
@given(
    seed=st.sampled_from(SEED_PICKLES),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 8),
)
def test_fuzz_mutated_pickles_give_plain_data_or_a_refusal_in_bounded_time_and_memory(
    seed, edits, cut
):
    raw = bytearray(seed)
    for position, value in edits:
        raw[position % len(raw)] = value
    _check_bounded(bytes(raw[: len(raw) - cut]))


memo_opcodes = st.sampled_from([b"q", b"r", b"h", b"j", b"\x94", b"(", b"]", b"}", b"e", b"u"])


@FUZZ
@given(
    parts=st.lists(
        st.tuples(memo_opcodes, st.integers(0, 2**32 - 1)), min_size=1, max_size=40
    )
)
def test_fuzz_memo_opcodes_with_any_index_stay_bounded(parts):
    raw = bytearray(b"\x80\x02]")
    for opcode, index in parts:
        raw += opcode
        raw += {b"q": bytes([index & 0xFF]), b"h": bytes([index & 0xFF])}.get(
            opcode, struct.pack("<I", index) if opcode in (b"r", b"j") else b""
        )
    _check_bounded(bytes(raw + b"."))
