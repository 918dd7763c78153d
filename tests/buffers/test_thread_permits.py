"""The thread backend takes and gives a batch's semaphore permits in one hold."""

from __future__ import annotations

import threading

import pytest

from pcmodel.buffers import ThreadBackend, make_buffer
from tests.conftest import count_rings, wait_until

pytestmark = pytest.mark.timeout(30)


class CountedSemaphore(threading.Semaphore):
    """Not the standard library's own class: served one permit at a time."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.acquires = 0

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        self.acquires += 1
        return super().acquire(blocking, timeout)


class CountingLock:
    """A lock that counts how often it is held (by ``acquire()`` or ``with``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.holds = 0
        self.release = self._lock.release

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self.holds += 1
        return self._lock.acquire(blocking, timeout)

    def __enter__(self):
        self.holds += 1
        return self._lock.__enter__()

    def __exit__(self, *exc_info):
        return self._lock.__exit__(*exc_info)


def drain(semaphore) -> int:
    count = 0
    while semaphore.acquire(False):
        count += 1
    return count


def test_up_to_n_permits_are_taken_at_once_and_the_rest_stay():
    backend = ThreadBackend()
    semaphore = backend.semaphore(5)
    semaphore._lock = lock = CountingLock()
    assert backend.acquire_up_to(semaphore, 3) == 3
    assert backend.acquire_up_to(semaphore, 10) == 2
    assert backend.acquire_up_to(semaphore, 4) == 0
    backend.release(semaphore, 4)
    assert lock.holds == 4  # one per call, whatever the number of permits
    assert drain(semaphore) == 4


def test_another_semaphore_type_is_served_one_permit_at_a_time(monkeypatch):
    monkeypatch.setattr(threading, "Semaphore", CountedSemaphore)  # as a scheduler replaces it
    backend = ThreadBackend()
    semaphore = backend.semaphore(3)
    assert type(semaphore) is CountedSemaphore
    assert backend.acquire_up_to(semaphore, 5) == 3
    assert semaphore.acquires == 4  # three permits, then the try that found none


def test_releasing_n_permits_reaches_n_sleepers():
    backend = ThreadBackend()
    semaphore = backend.semaphore(0)
    woken = []
    sleepers = [threading.Thread(target=lambda: woken.append(semaphore.acquire(True, 20)))
                for _ in range(3)]
    for thread in sleepers:
        thread.start()
    wait_until(lambda: len(semaphore._sleepers) == 3)
    backend.release(semaphore, 3)
    for thread in sleepers:
        thread.join(20)
    assert woken == [True, True, True]
    assert drain(semaphore) == 0


def test_one_put_many_wakes_as_many_blocked_getters_as_it_brings_items():
    buf = make_buffer("semaphore", 8)
    got = []
    getters = [threading.Thread(target=lambda: got.append(buf.get(timeout=20))) for _ in range(4)]
    for thread in getters:
        thread.start()
    wait_until(lambda: buf.waiting == (0, 4))
    buf.put_many(["a", "b", "c", "d"])
    for thread in getters:
        thread.join(20)
    assert sorted(got) == ["a", "b", "c", "d"]
    assert buf.qsize() == 0


def test_permits_given_with_nobody_waiting_notify_nobody():
    backend = ThreadBackend()
    semaphore = backend.semaphore(0)
    rung = count_rings(semaphore)
    backend.release(semaphore, 5)
    assert rung == [] and backend.acquire_up_to(semaphore, 9) == 5
    taker = threading.Thread(target=semaphore.acquire)
    taker.start()
    wait_until(lambda: len(semaphore._sleepers) == 1)
    backend.release(semaphore, 1)
    taker.join(timeout=10)
    assert rung == [1] and not taker.is_alive()
