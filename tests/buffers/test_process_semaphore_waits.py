"""The semaphore variant between processes keeps its waits off the buffer's mutex.

A process holds the mutex while it copies a batch into or out of shared memory. A blocked actor
is counted for observers (``waiting``, ``repr``) under its semaphore's own lock instead; and a
``get_many`` hands back the permits of items it left (the rest of a run, a shutdown token) after
letting go of the mutex. These tests hold or watch the mutex from the test's own thread, in one
process, where what holds it is exact.
"""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from pcmodel.buffers import make_buffer
from pcmodel.buffers.identity import current_identity
from pcmodel.errors import ShutDown
from tests.conftest import wait_until

FORK = multiprocessing.get_context("fork")
SPAWN = multiprocessing.get_context("spawn")
SOON = 10  # seconds: a waiter that cannot be counted makes the test fail by a timeout

pytestmark = pytest.mark.timeout(60)


def start(target):
    thread = threading.Thread(target=target, name="waiter")
    thread.start()
    return thread


def test_a_getter_is_counted_as_waiting_while_the_mutex_is_held_elsewhere():
    with make_buffer("semaphore", 4, "process", context=FORK) as buf:
        got = []
        with buf._mutex:  # as a peer copying a batch would hold it
            getter = start(lambda: got.append(buf.get(timeout=SOON)))
            wait_until(lambda: buf.waiting == (0, 1), SOON)
        buf.put("item")
        getter.join(SOON)
        assert got == ["item"] and buf.waiting == (0, 0)


def test_a_putter_is_counted_as_waiting_while_the_mutex_is_held_elsewhere():
    with make_buffer("semaphore", 2, "process", context=FORK) as buf:
        buf.put_many(["a", "b"])
        with buf._mutex:
            putter = start(lambda: buf.put_many(["c"], timeout=SOON))
            wait_until(lambda: buf.waiting == (1, 0), SOON)
        assert buf.get() == "a"
        putter.join(SOON)
        assert buf.waiting == (0, 0) and buf.get_many(2) == ["b", "c"]


def _get_one(buf, results):
    results.put(buf.get(timeout=SOON))


def test_a_spawned_getter_is_counted_through_its_own_copy_of_the_semaphore():
    with make_buffer("semaphore", 4, "process", context=SPAWN) as buf:
        results = SPAWN.Queue()
        child = SPAWN.Process(target=_get_one, args=(buf, results))
        with buf._mutex:
            child.start()
            wait_until(lambda: buf.waiting == (0, 1), 3 * SOON)
        buf.put("item")
        assert results.get(timeout=SOON) == "item"
        child.join(SOON)
        assert child.exitcode == 0 and buf.waiting == (0, 0)


def record_gives(buf):
    """(semaphore, permits, mutex held by this process) for every run of permits given."""
    given = []
    real = buf._release

    def release(semaphore, n):
        given.append((semaphore, n, buf._mutex._owner.value == current_identity()))
        real(semaphore, n)

    buf._release = release
    return given


def test_get_many_hands_back_the_permits_of_a_run_it_left_after_letting_go_of_the_mutex():
    with make_buffer("semaphore", 16, "process", context=FORK) as buf:
        buf.put_many(range(3))
        buf.put_many(range(10, 13))
        given = record_gives(buf)
        assert buf.get_many(5) == [0, 1, 2]  # five permits taken, a run of three
        surplus = [(n, held) for semaphore, n, held in given if semaphore is buf._full_slots]
        assert surplus == [(2, False)]
        assert buf.get_many(5, block=False) == [10, 11, 12]


def test_a_shutdown_token_is_handed_on_after_letting_go_of_the_mutex():
    with make_buffer("semaphore", 4, "process", context=FORK) as buf:
        buf.shutdown()
        given = record_gives(buf)
        for _ in range(2):  # the token is handed on, so the second getter finds it too
            with pytest.raises(ShutDown):
                buf.get_many(4, timeout=SOON)
        relayed = [(n, held) for semaphore, n, held in given if semaphore is buf._full_slots]
        assert relayed == [(1, False), (1, False)]
