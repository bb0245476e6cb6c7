"""load_torch_state_dict on mutated archives: a state_dict of arrays or a TorchFileError,
never another exception, never a large allocation."""

from __future__ import annotations

import tempfile
import tracemalloc
from collections import OrderedDict
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigrad.interop import TorchFileError, load_torch_state_dict
from tests.interop import helpers

WEIGHT = np.arange(6, dtype=np.float32).reshape(2, 3)
PICKLE = helpers.state_dict_pickle({
    "w": helpers.tensor("FloatStorage", "0", 6, 0, [2, 3], [3, 1]),
    "w_t": helpers.tensor("FloatStorage", "0", 6, 1, [2, 2], [1, 3]),
    "n": helpers.tensor("LongStorage", "1", 1, 0, [], []),
})
STORAGES = {"0": WEIGHT.tobytes(), "1": np.array([3], np.int64).tobytes()}
ARCHIVE = helpers.archive(PICKLE, STORAGES)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load_or_refuse(payload: bytes):
    """Loads ``payload``; checks the outcome is a state_dict or a TorchFileError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.pt"
        path.write_bytes(payload)
        tracemalloc.start()
        try:
            state = load_torch_state_dict(path)
        except TorchFileError as err:
            assert "fuzz.pt" in str(err)
            state = None
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert peak < 4 << 20
    if state is not None:
        assert isinstance(state, OrderedDict)
        assert all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in state.items())
    return state


def test_the_unmutated_archive_loads():
    state = _load_or_refuse(ARCHIVE)
    np.testing.assert_array_equal(state["w"], WEIGHT)
    np.testing.assert_array_equal(state["w_t"], [[1, 4], [2, 5]])  # storage[1 + i + 3 j]
    assert state["n"] == 3


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, len(PICKLE) - 1), st.integers(0, 255)),
                      min_size=1, max_size=4),
       cut=st.integers(-8, 0))
def test_mutated_pickles_give_a_state_dict_or_a_torch_file_error(edits, cut):
    pickle = bytearray(PICKLE)
    for position, value in edits:
        pickle[position] = value
    _load_or_refuse(helpers.archive(bytes(pickle[:len(pickle) + cut]), STORAGES))


@FUZZ
@given(position=st.integers(0, len(ARCHIVE) - 1), value=st.integers(0, 255),
       cut=st.integers(-64, 0))
def test_mutated_archive_bytes_give_a_state_dict_or_a_torch_file_error(position, value, cut):
    payload = bytearray(ARCHIVE)
    payload[position] = value
    _load_or_refuse(bytes(payload[:len(payload) + cut]))


@FUZZ
@given(pickle=st.binary(max_size=96))
def test_random_pickles_give_a_state_dict_or_a_torch_file_error(pickle):
    _load_or_refuse(helpers.archive(b"\x80\x02" + pickle, STORAGES))
