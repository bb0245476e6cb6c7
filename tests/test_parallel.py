import threading
import time

import pytest

from minigrad import parallel, threads


@pytest.fixture
def two_threads():
    before = threads.get_num_threads()
    threads.set_num_threads(2)
    if parallel.thread_count() < 2:
        pytest.skip("the BLAS library keeps one thread here")
    yield
    threads.set_num_threads(before)


def test_split_covers_the_range_in_order_with_the_caller_taking_the_first(two_threads):
    seen = []

    def task(a, b):
        seen.append((a, b, threading.current_thread() is threading.main_thread()))
        return list(range(a, b))

    results = parallel.split(task, 7)
    assert [x for part in results for x in part] == list(range(7))
    assert sorted(seen) == [(0, 3, True), (3, 7, False)]


def test_split_holds_the_blas_to_one_thread_inside_and_restores_it(two_threads):
    inside = parallel.split(lambda a, b: parallel.thread_count(), 4)
    assert inside == [1, 1]
    assert parallel.thread_count() == 2


def test_a_split_inside_a_split_runs_serially(two_threads):
    nested = parallel.split(lambda a, b: parallel.split(lambda c, d: (c, d), 10), 2)
    assert nested == [[(0, 10)], [(0, 10)]]


def test_split_waits_for_every_range_then_raises_the_first_error(two_threads):
    finished = []

    def task(a, b):
        if a == 0:
            raise ValueError("range 0 failed")
        time.sleep(0.05)
        finished.append(a)

    with pytest.raises(ValueError, match="range 0 failed"):
        parallel.split(task, 2)
    assert finished == [1]
    assert parallel.thread_count() == 2


def test_split_of_an_elementwise_pass_below_serial_below_runs_in_the_caller(two_threads):
    def task(a, b):
        return a, b, threading.current_thread() is threading.main_thread()

    small = parallel.SERIAL_BELOW - 1
    assert parallel.split(task, 4, size=small) == [(0, 4, True)]
    assert parallel.split(task, 4, size=parallel.SERIAL_BELOW) == [(0, 2, True),
                                                                     (2, 4, False)]


def test_split_runs_in_the_caller_with_one_thread_or_one_item(two_threads):
    assert parallel.split(lambda a, b: (a, b, threading.current_thread().name), 1) == [
        (0, 1, threading.current_thread().name)]
    threads.set_num_threads(1)
    assert parallel.split(lambda a, b: (a, b), 5) == [(0, 5)]
