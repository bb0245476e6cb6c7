import numpy as np
import pytest

from minigrad.nn import workspace


def test_consecutive_reservations_reuse_one_buffer():
    workspace.release()
    with workspace.reserve(4096) as first:
        a = first.take(1000)
    with workspace.reserve(2048) as second:
        b = second.take(1000)
    assert np.shares_memory(a, b)


def test_a_nested_reservation_never_overlaps_the_open_one():
    workspace.release()
    with workspace.reserve(1000, spare=2000) as outer:
        a = outer.take(1000)
        with workspace.reserve(1500) as inner:  # fits in the spare room
            b = inner.take(1500)
        with workspace.reserve(10_000) as inner:  # does not: a fresh array
            c = inner.take(10_000)
    assert not np.shares_memory(a, b) and not np.shares_memory(a, c)
    assert np.shares_memory(b, workspace._local.buffer)
    assert not np.shares_memory(c, workspace._local.buffer)


def test_carved_arrays_are_aligned_and_bounded():
    with workspace.reserve(workspace.padded(10) + 64) as carver:
        carver.take(10)
        aligned = carver.take(64)
        assert aligned.ctypes.data % workspace.ALIGN == 0
        with pytest.raises(ValueError, match="cannot hold 1 more"):
            carver.take(1)


def test_release_inside_a_reservation_is_refused():
    with workspace.reserve(64):
        with pytest.raises(RuntimeError, match="inside an open reservation"):
            workspace.release()
