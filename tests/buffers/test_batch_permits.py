"""A batch's permits move in as few steps as the semaphore variant's algorithm allows.

Every ``put_many`` and ``get_many`` of the semaphore variant takes a run of permits from one
semaphore and gives a run back to the other; with several producers and consumers those are the
steps that run most often outside the pickling itself. These tests pin down, in one process
where it is exact, that a run moves in one hold of the stock's lock, through one call on each
side, and that a sleeper woken for a run takes its share in one hold too.
"""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from pcmodel.buffers import make_buffer, robust_semaphore
from pcmodel.buffers.identity import current_identity
from pcmodel.buffers.robust import Health
from pcmodel.buffers.robust_semaphore import RobustSemaphore
from tests.buffers.python_calls import python_calls
from tests.conftest import wait_until

FORK = multiprocessing.get_context("fork")
SOON = 10  # seconds


class RecordedHolder:
    """The stock lock's holder cell, recording every identity written to it."""

    def __init__(self, real):
        self.real = real
        self.written = []

    @property
    def value(self):
        return self.real.value

    @value.setter
    def value(self, holder):
        self.written.append(holder)
        self.real.value = holder


@pytest.mark.timeout(30)
def test_a_batch_of_the_semaphore_variant_moves_its_permits_in_one_call_each():
    items = [bytes([n]) * 8 for n in range(100)]
    with make_buffer("semaphore", 1024, "process", context=FORK) as buf:
        for _ in range(3):  # past the first use, which claims this process's debt cell
            buf.put_many(items)
            assert buf.get_many(100) == items
        got: list = []
        calls = python_calls(lambda: buf.put_many(items))
        calls += python_calls(lambda: got.append(buf.get_many(100)))
        assert got == [items]
    semaphore_calls = [name for name in calls if name.startswith("RobustSemaphore.")]
    # One take and one give per side: the stock's lock is taken inline in each (a take's in
    # _take_share, the one place that takes a share of permits).
    assert sorted(semaphore_calls) == ["RobustSemaphore._take_share"] * 2 + [
        "RobustSemaphore.acquire_up_to"] * 2 + ["RobustSemaphore.release"] * 2, calls
    # The ring drops the record it hands out without a call of its own (the lock is held).
    assert "SharedRing._drop_head" not in calls, calls
    assert len(calls) <= 26, f"a put_many and a get_many of 100 made {len(calls)} calls: {calls}"


@pytest.mark.timeout(30)
def test_a_sleeper_woken_for_a_run_takes_its_share_in_one_hold_of_the_stock_lock(monkeypatch):
    # Slices longer than the test: only the bell can wake the sleeper in time.
    monkeypatch.setattr(robust_semaphore, "SLICE", 600.0)
    health = Health(FORK)
    sem = RobustSemaphore(FORK, 0, health)
    sem._stock_holder = holder = RecordedHolder(sem._stock_holder)
    result = {}
    sleeper = threading.Thread(
        target=lambda: result.setdefault("taken", sem.acquire_up_to(10, True)))
    sleeper.start()
    wait_until(lambda: sem._sleepers.get_value() == 1)
    sem.release(5)
    sleeper.join(SOON)
    assert not sleeper.is_alive() and result == {"taken": 5}
    # One hold to give the run, one to take it whole: not a permit first and the rest after.
    assert holder.written == [current_identity(), 0] * 2
    assert sem._stock.value == 0 and sem._sem.get_value() == 0
    assert sem._sleepers.get_value() == 0
    assert not sem._bell.acquire(False), "a stale ring was left for the next sleeper"
