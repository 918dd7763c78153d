"""How the process primitives hand a wake-up over, and what a death in the middle of it does.

``RobustCondition.notify()`` only counts sleepers out; the lock's ``release()`` posts their
tokens once the lock is free. ``RobustSemaphore`` counts its sleepers on a semaphore, with no
lock. Each test reaches its moment through events or the primitives' own state (never a sleep);
the gaps between "counted out" and "token posted" are held open by a stand-in for the token
semaphore that waits, or dies, before it posts.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading

import pytest

from pcmodel.buffers import make_buffer, robust_semaphore
from pcmodel.buffers.robust import Health, RobustCondition, RobustLock
from pcmodel.buffers.robust_semaphore import RobustSemaphore
from tests.conftest import wait_until

FORK = multiprocessing.get_context("fork")
SOON = 10  # seconds; every wake-up here comes within about two robust.SLICEs


class HeldPost:
    """A token semaphore whose ``release()`` first waits for ``ready()`` (or dies, if
    ``ready`` is None), then posts; ``acquire`` is the real one."""

    def __init__(self, real, ready=None):
        self.real = real
        self.ready = ready
        self.nonblocking_tries = 0

    def acquire(self, block=True, timeout=None):
        if not block:
            self.nonblocking_tries += 1
        return self.real.acquire(block, timeout)

    def release(self):
        if self.ready is None:
            os.kill(os.getpid(), signal.SIGKILL)  # between "counted out" and "posted"
        wait_until(self.ready, SOON)
        self.real.release()


def primitives():
    health = Health(FORK)
    lock = RobustLock(FORK, health)
    return health, lock, RobustCondition(FORK, lock, health)


def in_thread(target):
    result = {}

    def run():
        result["value"] = target()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


@pytest.mark.timeout(30)
def test_notify_posts_only_once_the_lock_is_released():
    _, lock, cond = primitives()

    def sleep():
        with lock:
            return cond.wait(SOON)

    sleeper, result = in_thread(sleep)
    wait_until(lambda: cond._sleepers.value == 1)
    with lock:
        cond.notify()
        assert cond._sleepers.value == 0
        assert not cond._tokens.acquire(False), "token posted while the lock was held"
    sleeper.join(SOON)
    assert result == {"value": True}


@pytest.mark.timeout(30)
def test_a_thread_waiting_on_another_condition_first_posts_its_notifications():
    """The pending wake-ups belong to the lock holder: its wait() lets go of the lock, so it
    posts them then, not when it gets the lock back."""
    health, lock, first = primitives()
    second = RobustCondition(FORK, lock, health)
    woken = threading.Event()

    def sleep_on_first():
        with lock:
            first.wait(SOON)
            woken.set()

    def notify_first_then_wait_on_second():
        with lock:
            first.notify()
            return second.wait(SOON)

    a, _ = in_thread(sleep_on_first)
    wait_until(lambda: first._sleepers.value == 1)
    b, result = in_thread(notify_first_then_wait_on_second)
    assert woken.wait(SOON)  # while b still sleeps on the second condition
    assert b.is_alive()
    wait_until(lambda: second._sleepers.value == 1)
    with lock:
        second.notify()
    a.join(SOON)
    b.join(SOON)
    assert result == {"value": True}


@pytest.mark.timeout(30)
def test_a_sleeper_that_times_out_takes_the_token_already_on_its_way():
    """The notifier counted the only sleeper out and let go of the lock; before it posts, the
    sleeper times out and takes the lock. It must take that token, or the token would wake the
    next sleeper for nothing, and the count would say a sleeper is left that is gone."""
    _, lock, cond = primitives()
    held = HeldPost(cond._tokens, ready=lambda: lock._owner.value != 0)
    cond._tokens = held

    def sleep():
        with lock:
            return cond.wait(0.2)

    sleeper, result = in_thread(sleep)
    wait_until(lambda: cond._sleepers.value == 1)
    with lock:
        cond.notify()  # posted by the release, once the sleeper holds the lock again
    sleeper.join(SOON)
    assert result == {"value": False}  # it woke by its timeout
    assert cond._sleepers.value == 0
    assert not held.real.acquire(False), "a stale token was left for the next sleeper"


@pytest.mark.timeout(30)
def test_a_semaphore_sleeper_that_times_out_takes_the_ring_already_on_its_way():
    health = Health(FORK)
    sem = RobustSemaphore(FORK, 0, health)
    bell = HeldPost(sem._bell)
    bell.ready = lambda: bell.nonblocking_tries > 0  # the sleeper looked for a ring: it woke
    sem._bell = bell
    sleeper, result = in_thread(lambda: sem.acquire(True, 0.2))
    wait_until(lambda: sem._sleepers.get_value() == 1)
    sem.release()  # counts the sleeper out, rings once the sleeper has timed out
    sleeper.join(SOON)
    assert result == {"value": True}  # the permit, found after the ring
    assert sem._sleepers.get_value() == 0
    assert not bell.real.acquire(False), "a stale ring was left for the next sleeper"
    assert not sem.acquire(False)


def put_and_die_before_the_wake_up(buf, tokens_of):
    holder = tokens_of(buf)
    name = "_tokens" if isinstance(holder, RobustCondition) else "_bell"
    setattr(holder, name, HeldPost(getattr(holder, name)))
    buf.put("x")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_a_putter_killed_after_the_lock_before_the_wake_up_harms_nobody(variant):
    """The putter stored its item and let go of the lock, then died before waking the getter:
    the state is whole, the buffer is not broken, and the getter gets the item within about
    two slices."""
    if variant == "condition":
        tokens_of = _not_empty
    else:
        tokens_of = _full_slots
    with make_buffer(variant, 2, "process", context=FORK) as buf:
        getter, result = in_thread(lambda: buf.get(timeout=SOON))
        wait_until(lambda: buf.waiting[1] == 1)
        wait_until(lambda: _asleep(tokens_of(buf)))
        child = FORK.Process(target=put_and_die_before_the_wake_up, args=(buf, tokens_of))
        child.start()
        child.join(SOON)
        assert child.exitcode == -signal.SIGKILL
        getter.join(SOON)
        assert result == {"value": "x"}
        assert not buf._backend.broken
        buf.put_many([1, 2])
        assert buf.get_many(5) == [1, 2]


def _not_empty(buf):
    return buf._not_empty


def _full_slots(buf):
    return buf._full_slots


def _asleep(primitive):
    if isinstance(primitive, RobustCondition):
        return primitive._sleepers.value == 1
    return primitive._sleepers.get_value() == 1


class CountedRings:
    """A semaphore's bell that counts its rings (``release``)."""

    def __init__(self, real):
        self.real = real
        self.rings = 0

    def acquire(self, block=True, timeout=None):
        return self.real.acquire(block, timeout)

    def release(self):
        self.rings += 1
        self.real.release()


@pytest.mark.timeout(30)
def test_a_run_taken_whole_by_the_first_sleeper_woken_wakes_no_other(monkeypatch):
    # Slices longer than the test: only rings wake a sleeper here.
    monkeypatch.setattr(robust_semaphore, "SLICE", 600.0)
    with make_buffer("semaphore", 16, "process", context=FORK) as buf:
        full = buf._full_slots
        full._bell = bell = CountedRings(full._bell)
        getters = [in_thread(lambda: buf.get_many(5, timeout=SOON)) for _ in range(2)]
        wait_until(lambda: full._sleepers.get_value() == 2)
        buf.put_many([1, 2, 3, 4, 5])
        wait_until(lambda: any(result for _, result in getters))
        assert bell.rings == 1, "a sleeper was woken for a run another one took whole"
        assert full._sleepers.get_value() == 1  # the other still sleeps, counted in
        buf.put_many([6])  # the next run reaches it
        for getter, _ in getters:
            getter.join(SOON)
        assert sorted(result["value"] for _, result in getters) == [[1, 2, 3, 4, 5], [6]]
        assert bell.rings == 2 and full._sleepers.get_value() == 0
        assert not bell.real.acquire(False), "a stale ring was left for the next sleeper"


@pytest.mark.timeout(30)
def test_each_sleeper_woken_by_a_run_passes_the_ring_on_while_permits_remain(monkeypatch):
    monkeypatch.setattr(robust_semaphore, "SLICE", 600.0)
    with make_buffer("semaphore", 16, "process", context=FORK) as buf:
        full = buf._full_slots
        full._bell = bell = CountedRings(full._bell)
        getters = [in_thread(lambda: buf.get_many(2, timeout=SOON)) for _ in range(3)]
        wait_until(lambda: full._sleepers.get_value() == 3)
        buf.put_many([1, 2, 3, 4, 5, 6])
        for getter, _ in getters:
            getter.join(SOON)
            assert not getter.is_alive()
        taken = sorted(item for _, result in getters for item in result["value"])
        assert taken == [1, 2, 3, 4, 5, 6]
        assert bell.rings == 3  # the release's, then one passed on by each but the last
        assert full._sleepers.get_value() == 0
        assert not bell.real.acquire(False), "a stale ring was left for the next sleeper"
