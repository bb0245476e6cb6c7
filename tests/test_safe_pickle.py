"""SafeUnpickler (minigrad/safe_pickle.py): Python's own pickles of plain data read back equal;
the caller's functions and hooks are the only calls. The bounds and refusals are pinned
through both of its callers too: tests/data/test_safe_pickle.py, tests/interop/."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigrad.safe_pickle import Function, PickleRefused, SafeUnpickler

plain_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (st.lists(children) | st.lists(children).map(tuple)
                      | st.dictionaries(st.text() | st.integers(), children)),
    max_leaves=40)


def _load(data: bytes, allowed_globals=None, persistent_load=None):
    return SafeUnpickler(data, allowed_globals or {}, persistent_load or (lambda pid: pid)).load()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=plain_data, protocol=st.integers(2, 5))
def test_pythons_pickles_of_plain_data_read_back_equal(value, protocol):
    assert _load(pickle.dumps(value, protocol=protocol)) == value


def test_shared_references_stay_shared_and_long_memo_indices_work():
    shared = [1, 2]
    value = {"a": shared, "b": shared, "many": [str(i) for i in range(300)]}
    loaded = _load(pickle.dumps(value, protocol=2))
    assert loaded == value and loaded["a"] is loaded["b"]


def test_reduce_calls_only_the_callers_functions_and_tokens_stay_inert():
    calls = []
    allowed = {("lib", "make"): Function("make", lambda *args: calls.append(args) or "made"),
               ("lib", "Token"): "token"}
    pickle_bytes = b"\x80\x02clib\nmake\nK\x01K\x02\x86R" + b"clib\nToken\n\x86."
    assert _load(pickle_bytes, allowed) == ("made", "token")
    assert calls == [(1, 2)]
    with pytest.raises(PickleRefused, match="REDUCE at byte 14 applies a str"):
        _load(b"\x80\x02clib\nToken\n)R.", allowed)
    with pytest.raises(PickleRefused, match="make called with 0 arguments"):
        _load(b"\x80\x02clib\nmake\n)R.", {("lib", "make"): Function("make", lambda a: a)})


def test_persistent_ids_go_to_the_hook_and_build_is_refused_by_default():
    assert _load(b"\x80\x02X\x02\x00\x00\x00idQ.", persistent_load=lambda pid: ("got", pid)) \
        == ("got", "id")
    with pytest.raises(PickleRefused, match=r"BUILD \(setting the state of a list\)"):
        _load(b"\x80\x02]}b.")


def test_build_may_replace_its_object_and_the_memo_follows():
    # numpy's array pickle: a stand-in, memoized, then filled by BUILD; a later BINGET of
    # the same memo entry must give the built object, as pickle's in-place BUILD does
    class Pending:
        pass

    allowed = {("lib", "pending"): Function("pending", Pending)}
    raw = b"\x80\x02clib\npending\n)R\x94K\x07b]h\x00a\x86."
    first, shared = SafeUnpickler(raw, allowed, build=lambda obj, state: ("built", state)).load()
    assert first == ("built", 7) and shared == [("built", 7)] and shared[0] is first


def test_build_never_sets_the_state_of_an_admitted_global():
    token = ("inert",)
    raw = b"\x80\x02clib\ntoken\nN}\x86b."
    with pytest.raises(PickleRefused, match="sets the state of the global lib.token"):
        SafeUnpickler(raw, {("lib", "token"): token}, build=lambda obj, state: None).load()


def test_persistent_ids_are_refused_without_a_hook_and_the_opcode_budget_holds():
    with pytest.raises(PickleRefused, match="pickle opcode BINPERSID at byte 3 is not allowed"):
        SafeUnpickler(b"\x80\x02NQ.", {}).load()
    # PROTO, EMPTY_LIST, EMPTY_LIST, POP, STOP: five opcodes
    with pytest.raises(PickleRefused, match="more than 4 opcodes"):
        SafeUnpickler(b"\x80\x02]]0.", {}, max_opcodes=4).load()
    assert SafeUnpickler(b"\x80\x02]]0.", {}, max_opcodes=5).load() == []
