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


def test_a_large_kept_buffer_handed_back_serves_the_next_request_of_its_size(monkeypatch):
    workspace.release()
    monkeypatch.setattr(workspace, "POOL_MIN_BYTES", 4096)
    monkeypatch.setattr(workspace, "POOL_MAX_BYTES", 3 * 8192)
    first = workspace.fresh(8192)
    memory = first.take(8192)
    workspace.give_back(first)
    assert workspace.pooled_bytes() == 8192
    with pytest.raises(AttributeError):  # a handed-back carver hands out nothing more
        first.take(1)
    assert np.shares_memory(workspace.fresh(8192).take(8192), memory)
    assert not np.shares_memory(workspace.fresh(8192).take(8192), memory)  # taken: new
    small = workspace.fresh(1024)
    workspace.give_back(small)  # under POOL_MIN_BYTES: left to malloc
    carvers = [workspace.fresh(8192) for _ in range(4)]
    for carver in carvers:
        workspace.give_back(carver)
    assert workspace.pooled_bytes() == 3 * 8192  # bounded by POOL_MAX_BYTES
    workspace.release()
    assert workspace.pooled_bytes() == 0


def test_winograd_backward_hands_its_kept_memory_to_the_next_forward(monkeypatch):
    """The transformed weights a training forward keeps come back, reused, in the next
    forward, which gives the same output and gradients as fresh memory does."""
    from minigrad import nn
    from tests.nn.cases import generator, random_input

    workspace.release()
    monkeypatch.setattr(workspace, "POOL_MIN_BYTES", 1)
    conv = nn.Conv2d(8, 8, 3, padding=1, algorithm="winograd", generator=generator())
    x, dy = random_input((2, 8, 6, 6), dtype=np.float32), random_input((2, 8, 6, 6), seed=1,
                                                                       dtype=np.float32)
    results = []
    for _ in range(3):
        conv.zero_grad()
        y = conv(x)
        u = conv._saved[-1][-1][0]  # the kept transformed weights
        results.append((y, conv.backward(dy), conv.weight.grad.copy(), u))
    assert workspace.pooled_bytes() > 0
    assert np.shares_memory(results[1][3], results[2][3])
    for first, later in zip(results[0][:3], results[2][:3], strict=True):
        np.testing.assert_array_equal(first, later)
    workspace.release()
