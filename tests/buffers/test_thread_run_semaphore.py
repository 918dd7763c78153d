"""The semaphore variant on threads wakes one sleeper per run of permits, and it relays.

A ``put_many`` that brings a run of items wakes one sleeping getter, which takes its share; a
single put or get with nobody asleep wakes nobody; a woken sleeper that leaves by an exception
passes its wake-up on. The tests block real threads, reach the moment through
the semaphore's own queue of sleepers, and fail by a timeout if a wake-up is lost.
"""

from __future__ import annotations

import _thread
import threading

import pytest

from pcmodel.buffers import make_buffer
from pcmodel.errors import ShutDown
from tests.conftest import Interrupted, count_rings, interrupt_the_first_sleeper, wait_until

SOON = 5  # seconds: a lost wake-up makes a waiter time out and the test fail

pytestmark = pytest.mark.timeout(60)


def test_a_run_of_items_wakes_one_sleeping_getter_not_one_per_item():
    buf = make_buffer("semaphore", 200)
    items = buf._full_slots
    taken: list[int] = []

    def getter() -> None:
        try:
            taken.append(len(buf.get_many(100, timeout=SOON)))
        except ShutDown:
            pass

    getters = [threading.Thread(target=getter) for _ in range(4)]
    woken = count_rings(items)  # before they sleep: their bells are the watched ones
    for thread in getters:
        thread.start()
    wait_until(lambda: len(items._sleepers) == 4)
    buf.put_many(range(100))
    wait_until(lambda: taken == [100])  # the one woken took the whole run
    woken_by_the_run = sum(woken)
    buf.shutdown()  # the others leave
    for thread in getters:
        thread.join(SOON + 5)
    assert woken_by_the_run == 1
    assert buf.qsize() == 0


def test_single_items_with_nobody_asleep_notify_nobody():
    buf = make_buffer("semaphore", 4)
    notified_items = count_rings(buf._full_slots)
    notified_space = count_rings(buf._empty_slots)
    buf.put("a")
    buf.put_many(["b", "c"])
    assert buf.get() == "a" and buf.get_many(5) == ["b", "c"]
    assert notified_items == [] and notified_space == []  # not even a notify() for nobody


def test_a_woken_getter_interrupted_passes_its_wake_up_on():
    buf = make_buffer("semaphore", 4)
    interrupt_the_first_sleeper(buf._full_slots)
    outcome: dict[str, object] = {}

    def getter() -> None:
        name = threading.current_thread().name
        try:
            # Long: a getter that wakes only when this runs out has lost a wake-up.
            outcome[name] = buf.get(timeout=6 * SOON)
        except (Interrupted, ShutDown) as exc:
            outcome[name] = type(exc).__name__

    first = threading.Thread(target=getter, name="first")
    first.start()
    wait_until(lambda: len(buf._full_slots._sleepers) == 1)
    second = threading.Thread(target=getter, name="second")
    second.start()
    wait_until(lambda: len(buf._full_slots._sleepers) == 2)
    try:
        buf.put("item")  # wakes the first sleeper, which is interrupted as it wakes
        wait_until(lambda: len(outcome) == 2, SOON)
    finally:
        buf.shutdown()
        first.join(6 * SOON + 5)
        second.join(6 * SOON + 5)
    assert outcome == {"first": "Interrupted", "second": "item"}
    assert buf.waiting == (0, 0)


def test_a_sleeper_that_wants_fewer_than_a_run_wakes_the_next():
    buf = make_buffer("semaphore", 8)
    got: list[list[int]] = []
    lock = threading.Lock()

    def getter() -> None:
        items = buf.get_many(2, timeout=SOON)
        with lock:
            got.append(items)

    getters = [threading.Thread(target=getter) for _ in range(3)]
    for thread in getters:
        thread.start()
    wait_until(lambda: buf.waiting == (0, 3))
    buf.put_many(range(6))  # one wake-up, relayed from sleeper to sleeper
    for thread in getters:
        thread.join(SOON + 5)
    assert sorted(x for items in got for x in items) == list(range(6))
    assert [len(items) for items in got] == [2, 2, 2]


class HeldCount:
    """A lock that counts how often it is taken."""

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self.holds = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self.holds += 1
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def test_a_sleeper_is_counted_by_its_semaphore_not_under_the_buffers_mutex(monkeypatch):
    with monkeypatch.context() as patched:  # the buffer's locks only, not the test's threads'
        patched.setattr(threading, "Lock", HeldCount)
        buf = make_buffer("semaphore", 1)
    buf.put("a")
    buf._mutex.holds = 0
    putter = threading.Thread(target=buf.put, args=("b",))
    putter.start()
    try:
        wait_until(lambda: buf.waiting == (1, 0))
        assert buf._mutex.holds == 0  # the way to sleep took no hold of the mutex
        assert "waiting_put=1 waiting_get=0" in repr(buf)
        assert buf.get() == "a"
        putter.join(SOON)
        assert buf.get() == "b" and buf.waiting == (0, 0)
    finally:
        buf.shutdown(immediate=True)  # lets the putter go if a check failed first
        putter.join(SOON)
