"""A Ctrl-C at any instruction of a process buffer's lock leaves the lock usable by the others.

Python raises ``KeyboardInterrupt`` between two bytecodes of the main thread, wherever it is.
Each test runs one operation of :class:`~pcmodel.buffers.robust.RobustLock` or
:class:`~pcmodel.buffers.robust.RobustCondition` under a tracer that raises it at the operation's
first instruction, then its second, and so on until the operation completes, and after each run
checks from another thread that the lock is free (or held by the caller, when the caller
believes it holds it) and that no wake-up token went missing or appeared from nowhere.
"""

from __future__ import annotations

import multiprocessing

from pcmodel.buffers.identity import current_identity
from pcmodel.buffers.robust import Health, RobustCondition, RobustLock
from pcmodel.buffers.robust_semaphore import RobustSemaphore
from tests.buffers.interrupting import in_thread, positions

FORK = multiprocessing.get_context("fork")


def lock_is_free(lock: RobustLock) -> bool:
    """True if a peer can take ``lock`` at once (it is let go again) and no holder is
    recorded."""
    def take():
        if not lock._sem.acquire(False):
            return False
        lock._sem.release()
        return True
    return lock._owner.value == 0 and in_thread(take)


def held_by_me(lock: RobustLock) -> bool:
    """True if ``lock`` is held, with this process recorded as its holder."""
    return (lock._owner.value == current_identity()
            and not in_thread(lambda: lock._sem.acquire(False)))


def fresh_lock():
    return RobustLock(FORK, Health(FORK))


def held_lock():
    lock = fresh_lock()
    lock.acquire()
    return lock


def test_an_interrupted_acquire_leaves_the_lock_free():
    def check(lock, completed, position):
        if completed:
            assert held_by_me(lock)
            lock.release()
        # An acquire interrupted at its very last instruction (its return: Python checks for
        # signals only after calls and backward jumps, so a real Ctrl-C cannot land there)
        # leaves the lock with this thread, which takes it back on its next acquire.
        elif not lock_is_free(lock):
            assert held_by_me(lock), position
            assert lock.acquire(True, 1.0), position
            lock.release()
        assert lock_is_free(lock), position

    assert positions(fresh_lock, RobustLock.acquire, check) > 10


def test_an_interrupted_acquire_leaves_the_lock_free_at_every_position_but_its_return():
    frees = []

    def check(lock, completed, position):
        frees.append(completed or lock_is_free(lock))
        if held_by_me(lock):
            lock.release()

    count = positions(fresh_lock, RobustLock.acquire, check)
    # Only the last two (``return True``: load the constant, return it) may leave it taken.
    assert all(frees[:count - 2]), [p + 1 for p, free in enumerate(frees) if not free]


def test_an_interrupted_release_lets_go_of_the_lock():
    def check(lock, completed, position):
        if position > 1:  # the first instruction: the function's entry, before any code of it
            assert lock_is_free(lock), position
        elif not lock_is_free(lock):  # then this thread takes it back on its next acquire
            assert lock.acquire(True, 1.0)
            lock.release()
            assert lock_is_free(lock)

    assert positions(held_lock, RobustLock.release, check) > 10


def test_a_lock_left_with_its_holder_is_taken_back_by_it_and_then_free_for_peers():
    lock = held_lock()
    assert lock.acquire(True, 1.0)  # this thread asks again: a hold left by an interrupt
    lock.release()
    assert lock_is_free(lock)
    assert in_thread(lambda: lock.acquire(False))  # a peer takes it
    assert not lock.acquire(True, 0.01)  # held by another thread: waited for, not taken


def lock_with_one_sleeper():
    lock = held_lock()
    condition = RobustCondition(FORK, lock, lock._health)
    condition._sleepers.value = 1  # as a sleeper counts itself in, under the lock
    return lock, condition


def notify_and_release(made):
    lock, condition = made
    try:
        condition.notify()
    finally:
        lock.release()  # the ``with`` block's exit, which runs whatever notify() raised


def test_an_interrupted_notify_promises_a_wake_up_only_with_its_token():
    held, lost = [], []

    def check(made, completed, position):
        lock, condition = made
        if not lock_is_free(lock):
            held.append(position)
            lock.release()
        tokens = 0
        while condition._tokens.acquire(False):
            tokens += 1
        counted_out = 1 - condition._sleepers.value
        assert tokens <= counted_out, position  # never a wake-up nobody was promised
        if tokens < counted_out:
            lost.append(position)

    assert positions(lock_with_one_sleeper, notify_and_release, check) > 40
    # Held: release() interrupted at its first instruction (the function's entry, before any
    # code of it), taken back by this thread's next acquire. Lost: ``deferred.pop()()``
    # interrupted between its two calls: that sleeper wakes a slice late, as when its waker
    # dies there.
    assert len(held) <= 1 and len(lost) <= 2, (held, lost)


def test_an_interrupted_wait_returns_holding_the_lock():
    failures = []

    def setup():
        lock = held_lock()
        return lock, RobustCondition(FORK, lock, lock._health)

    def check(made, completed, position):
        lock, condition = made
        if held_by_me(lock):
            lock.release()
            if condition._sleepers.value == 0:
                return
        failures.append(position)
        if condition._sleepers.value:
            condition._sleepers.value = 0

    count = positions(setup, lambda made: made[1].wait(0.001), check)
    # What is left: the instructions of wait()'s ``finally`` itself, once the sleep is over
    # (a Ctrl-C that lands there, not in the sleep, may leave a sleeper counted in a while).
    assert not [p for p in failures if p < count - 80], failures


def test_an_interrupted_run_of_permits_never_keeps_the_stock_lock():
    def setup():
        return RobustSemaphore(FORK, 0, Health(FORK))

    def setup_stocked():
        semaphore = setup()
        semaphore.release(5)
        return semaphore

    kept = []

    def check(semaphore, completed, position):
        if lock_is_free(semaphore._stock_lock):
            return
        kept.append(position)
        # Left with this thread (its last two lines, nine instructions: clear the holder, let go;
        # a real Ctrl-C lands only after the let-go call returns): its next run takes it back.
        semaphore.release(2)
        assert lock_is_free(semaphore._stock_lock), position

    give = positions(setup, lambda semaphore: semaphore.release(5), check)
    assert give > 10 and len(kept) <= 9, kept
    kept.clear()
    take = positions(setup_stocked, lambda semaphore: semaphore.acquire_up_to(5), check)
    assert take > 10 and len(kept) <= 9, kept
