"""The process semaphore keeps permits in two places: single ones on a POSIX semaphore, runs in
a stock under a lock. Its value is their sum, a run moves in one hold of the lock, a sleeper
wakes for a run as for a single permit, and a death holding the stock's lock breaks the buffer.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading

import pytest

from pcmodel.buffers import make_buffer, robust_semaphore
from pcmodel.buffers.identity import current_identity
from pcmodel.buffers.robust import Health, RobustLock
from pcmodel.buffers.robust_semaphore import RobustSemaphore
from pcmodel.errors import BufferBroken
from tests.conftest import wait_until

FORK = multiprocessing.get_context("fork")
SOON = 10  # seconds


class RecordedHolder:
    """The stock lock's holder cell, recording every value written to it (the holder's identity
    on taking the lock, 0 on letting it go)."""

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


def record_stock_holds(sem):
    """What the stock's lock records of its holders from now on."""
    sem._stock_holder = recorded = RecordedHolder(sem._stock_holder)
    return recorded.written


def semaphore(value=0):
    health = Health(FORK)
    return health, RobustSemaphore(FORK, value, health)


def debt(health):
    return health.table[health.debt_slot()]


@pytest.mark.timeout(30)
def test_a_run_of_permits_is_given_and_taken_in_one_hold_each():
    health, sem = semaphore()
    holders = record_stock_holds(sem)
    sem.release(5)
    assert (sem._stock.value, sem._sem.get_value()) == (5, 0)
    assert sem.acquire_up_to(10) == 5
    assert holders == [current_identity(), 0] * 2  # one hold to give the run, one to take it
    assert sem._stock.value == 0 and debt(health) == 0  # 5 given, 5 taken
    assert sem.acquire_up_to(1) == 0 and not sem.acquire(False)


@pytest.mark.timeout(30)
def test_single_permits_stay_on_the_posix_semaphore_and_the_value_is_the_sum():
    health, sem = semaphore(3)  # the initial value is a run: in the stock
    assert (sem._stock.value, sem._sem.get_value()) == (3, 0)
    sem.release()
    assert (sem._stock.value, sem._sem.get_value()) == (3, 1)
    assert [sem.acquire(False) for _ in range(5)] == [True] * 4 + [False]
    assert debt(health) == 4 - 1  # acquired minus released
    sem.release(2)
    sem.release()
    assert sem.acquire_up_to(10) == 3  # from both places
    assert debt(health) == 3


@pytest.mark.timeout(30)
def test_a_sleeper_is_rung_awake_by_a_run(monkeypatch):
    # Slices longer than the test: only the bell can wake the sleeper in time.
    monkeypatch.setattr(robust_semaphore, "SLICE", 600.0)
    health, sem = semaphore()
    result = {}
    sleeper = threading.Thread(target=lambda: result.setdefault("got", sem.acquire(True)))
    sleeper.start()
    wait_until(lambda: sem._sleepers.get_value() == 1)
    sem.release(2)
    sleeper.join(SOON)
    assert not sleeper.is_alive() and result == {"got": True}
    assert sem._sleepers.get_value() == 0
    assert not sem._bell.acquire(False), "a stale ring was left for the next sleeper"
    assert sem.acquire(False) and not sem.acquire(False)  # the run's other permit


@pytest.mark.timeout(30)
def test_the_stock_lock_taken_inline_records_its_holder_while_held():
    # A death while holding it must be seen (Health reads the lock's holder cell), however the
    # lock was taken; let go, it names nobody.
    _, sem = semaphore()
    holders = record_stock_holds(sem)
    sem.release(3)
    assert sem.acquire_up_to(2) == 2
    assert holders == [current_identity(), 0] * 2
    assert sem._stock_lock._owner.value == 0


@pytest.mark.timeout(30)
def test_a_run_waits_for_the_stock_lock_while_another_holds_it():
    _, sem = semaphore(4)
    lock = sem._stock_lock
    waiting = threading.Event()
    real_acquire = lock.acquire

    def acquire_after_a_failed_try(*args):
        waiting.set()  # the inline try found the lock held: the lock's own acquire waits
        return real_acquire(*args)

    lock.acquire()
    lock.acquire = acquire_after_a_failed_try
    result = {}
    taker = threading.Thread(target=lambda: result.setdefault("taken", sem.acquire_up_to(3)))
    taker.start()
    try:
        assert waiting.wait(SOON)
        assert result == {} and sem._stock.value == 4
    finally:
        lock.release()
    taker.join(SOON)
    assert result == {"taken": 3} and sem._stock.value == 1
    assert lock._owner.value == 0 and real_acquire(False)


def hold_the_stock_lock_forever(buf, holding, never):
    buf._empty_slots._stock_lock.acquire()
    holding.set()
    never.wait()  # until killed


@pytest.mark.timeout(60)
def test_death_holding_the_stock_lock_breaks_the_buffer():
    with make_buffer("semaphore", 4, "process", context=FORK) as buf:
        holding, never = FORK.Event(), FORK.Event()
        child = FORK.Process(target=hold_the_stock_lock_forever, args=(buf, holding, never))
        child.start()
        assert holding.wait(SOON)
        os.kill(child.pid, signal.SIGKILL)
        child.join(SOON)
        with pytest.raises(BufferBroken, match="died holding the buffer's lock"):
            buf.put("x", timeout=SOON)  # the free slots are in the stock, behind that lock


def put_many_then_report(buf, batches, done):
    for batch in batches:
        buf.put_many(batch)
    done.set()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("capacity", [1, 7, 1024])
def test_batches_between_processes_arrive_whole_and_in_order(capacity):
    batches = [list(range(start, start + 100)) for start in range(0, 5000, 100)]
    with make_buffer("semaphore", capacity, "process", context=FORK) as buf:
        done = FORK.Event()
        child = FORK.Process(target=put_many_then_report, args=(buf, batches, done))
        child.start()
        got = []
        while len(got) < 5000:
            got.extend(buf.get_many(37, timeout=SOON))
        assert got == list(range(5000))
        assert done.wait(SOON)
        child.join(SOON)
        assert child.exitcode == 0
        assert buf.qsize() == 0
        assert buf._empty_slots.acquire_up_to(capacity + 1) == capacity  # no permit lost


@pytest.mark.timeout(30)
def test_a_batch_takes_the_buffers_lock_once_a_side_and_moves_its_permits_without_lock_calls(
        monkeypatch):
    # A run of permits moves through the stock on every put_many and get_many, each side:
    # taken inline, its lock costs no RobustLock call (two Python calls per hold), the
    # buffer's mutex one ``with`` per side.
    calls = []
    real_acquire = RobustLock.acquire

    def counted(self, *args):
        calls.append(self)
        return real_acquire(self, *args)

    monkeypatch.setattr(RobustLock, "acquire", counted)
    monkeypatch.setattr(RobustLock, "__enter__", counted)
    with make_buffer("semaphore", 1024, "process", context=FORK) as buf:
        buf.put_many(range(100))  # the first use claims this process's debt cell
        assert buf.get_many(100) == list(range(100))
        calls.clear()
        buf.put_many(range(100))
        assert buf.get_many(100) == list(range(100))
        assert calls == [buf._mutex, buf._mutex]
        assert buf._empty_slots._stock_lock._owner.value == 0
        assert buf._full_slots._stock_lock._owner.value == 0
