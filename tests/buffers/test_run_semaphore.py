"""The thread backend's semaphore: a counter and a queue of sleepers, with threading.Semaphore's
calls.

It keeps its own count and its own sleepers (nothing of ``threading.Semaphore``'s insides), takes
and gives permits in runs, wakes one sleeper per run and relays, and every permit operation of a
buffer is one Python call. Blocking tests reach the moment through the semaphore's queue of
sleepers and fail by a timeout if a wake-up is lost.
"""

from __future__ import annotations

import sys
import threading

import pytest

from pcmodel.buffers import ThreadBackend, make_buffer
from pcmodel.buffers.backends import RunSemaphore
from tests.conftest import Interrupted, interrupt_the_first_sleeper, wait_until, watch_bells

SOON = 5  # seconds: a lost wake-up makes a waiter time out and the test fail

pytestmark = pytest.mark.timeout(60)


def test_it_keeps_working_whatever_threading_semaphore_keeps_inside(monkeypatch):
    # As if a later Python renamed the standard semaphore's private count and condition.
    def init_with_other_names(self, value=1):
        self._count, self._condition = value, threading.Condition(threading.Lock())

    monkeypatch.setattr(threading.Semaphore, "__init__", init_with_other_names)
    semaphore = RunSemaphore(3)
    assert semaphore.acquire_up_to(2) == 2
    assert semaphore.acquire(False) and not semaphore.acquire(False)
    semaphore.release(4)
    assert semaphore.acquire_up_to(10) == 4


def test_calls_and_mistakes_are_those_of_threading_semaphore():
    semaphore = RunSemaphore(1)
    with semaphore:
        assert not semaphore.acquire(False)
    assert semaphore.acquire(True, 0.01) and not semaphore.acquire(timeout=0.01)
    semaphore.release()
    with pytest.raises(ValueError, match="non-blocking"):
        semaphore.acquire(False, 1.0)
    with pytest.raises(ValueError, match="one or more"):
        semaphore.release(0)
    with pytest.raises(ValueError, match=">= 0"):
        RunSemaphore(-1)
    assert semaphore.acquire_up_to(5) == 1  # the mistakes changed nothing
    assert repr(RunSemaphore(2)) == "<RunSemaphore value=2 sleepers=0>"


def test_a_wait_that_times_out_takes_nothing_and_leaves_no_sleeper():
    semaphore = RunSemaphore(0)
    assert semaphore.acquire_waiting(3, 0.01) == 0
    assert not semaphore.acquire(True, 0.01)
    assert not semaphore._sleepers and semaphore.acquire_up_to(1) == 0


def test_a_sleeper_whose_wait_times_out_as_a_permit_comes_takes_it():
    semaphore = RunSemaphore(0)
    # The release rings the sleeper's bell just as its sleep runs out.
    watch_bells(semaphore, after_sleep=lambda woken: semaphore.release(2))
    assert semaphore.acquire_waiting(5, 0.01) == 2
    assert not semaphore._sleepers and semaphore.acquire_up_to(9) == 0


def test_a_sleeper_takes_up_to_its_share_of_a_run_and_wakes_the_next():
    semaphore = RunSemaphore(0)
    taken: list[int] = []
    sleepers = [threading.Thread(target=lambda: taken.append(semaphore.acquire_waiting(2, SOON)))
                for _ in range(3)]
    for thread in sleepers:
        thread.start()
    wait_until(lambda: len(semaphore._sleepers) == 3)
    semaphore.release(5)  # one wake-up, relayed: 2, 2, then 1
    for thread in sleepers:
        thread.join(SOON + 5)
    assert sorted(taken) == [1, 2, 2]
    assert not semaphore._sleepers and semaphore.acquire_up_to(9) == 0


def test_a_sleeper_interrupted_as_it_wakes_passes_its_wake_up_on():
    semaphore = RunSemaphore(0)
    interrupt_the_first_sleeper(semaphore)
    outcome: dict[str, object] = {}

    def sleeper() -> None:
        name = threading.current_thread().name
        try:
            outcome[name] = semaphore.acquire(True, 6 * SOON)
        except Interrupted:
            outcome[name] = "Interrupted"

    first = threading.Thread(target=sleeper, name="first")
    first.start()
    wait_until(lambda: len(semaphore._sleepers) == 1)
    second = threading.Thread(target=sleeper, name="second")
    second.start()
    wait_until(lambda: len(semaphore._sleepers) == 2)
    semaphore.release()  # wakes the first sleeper, which is interrupted as it wakes
    wait_until(lambda: len(outcome) == 2, SOON)
    first.join(SOON)
    second.join(SOON)
    assert outcome == {"first": "Interrupted", "second": True}
    assert not semaphore._sleepers and semaphore._value == 0


def _calls(action) -> list[str]:
    """The Python functions ``action()`` calls, by name (built-ins and C methods not seen)."""
    names: list[str] = []

    def record(frame, event, _arg):
        if event == "call":
            names.append(frame.f_code.co_name)

    sys.setprofile(record)
    try:
        action()
    finally:
        sys.setprofile(None)
    return names[1:]  # not the action itself


def _permit_calls(action) -> list[str]:
    return [name for name in _calls(action) if "acquire" in name or "release" in name]


def test_each_permit_operation_of_a_batch_is_one_python_call():
    buf = make_buffer("semaphore", 1024)
    items = list(range(100))
    buf.put_many(items)
    assert buf.get_many(100) == items
    assert _permit_calls(lambda: buf.put_many(items)) == ["acquire_up_to", "release"]
    assert _permit_calls(lambda: buf.get_many(100)) == ["acquire_up_to", "release"]


def test_each_permit_operation_of_a_single_item_is_one_python_call():
    buf = make_buffer("semaphore", 4)
    assert _permit_calls(lambda: buf.put("a")) == ["acquire", "release"]
    assert _permit_calls(buf.get) == ["acquire", "release"]


def test_the_backend_serves_its_own_semaphores_through_their_methods():
    backend = ThreadBackend()
    semaphore = backend.semaphore(4)
    assert type(semaphore) is RunSemaphore
    assert backend.acquire_up_to(semaphore, 3) == 3
    backend.release(semaphore, 2)
    assert backend.acquire_waiting(semaphore, 5, 0.01) == 3
    assert backend.acquire_waiting(semaphore, 5, 0.01) == 0
