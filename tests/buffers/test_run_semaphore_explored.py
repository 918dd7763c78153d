"""The thread semaphore's relay, explored by the controlled scheduler.

``RunSemaphore`` builds its lock and its sleepers' bells through ``threading`` when it is built,
so a semaphore built inside a controlled run sleeps and wakes on the scheduler's primitives, and
its own code (the queue of sleepers, the one wake-up per run, the relay) is what gets
explored. Two broken copies show that exploration finds a lost wake-up in that code (as a
deadlock: a sleeper nobody will wake); the real one passes the same programs in every schedule
within the bound.
"""

from __future__ import annotations

import threading
import time

import pytest

from pcmodel.buffers.backends import RunSemaphore
from pcmodel.sched import FailureKind, explore_program
from pcmodel.sched.primitives import Lock

pytestmark = pytest.mark.timeout(60)


class RelayForgotten(RunSemaphore):
    """Broken: a sleeper woken takes its share and leaves, never waking the next one, even
    when it leaves permits behind (one wake-up per run, not relayed)."""

    def acquire_waiting(self, n: int, timeout: float | None = None) -> int:
        while True:
            with self._lock:
                if self._value:
                    taken = min(n, self._value)
                    self._value -= taken
                    return taken
                bell = self._new_bell()
                bell.acquire()
                self._sleepers.append(bell)
            bell.acquire(True, -1 if timeout is None else timeout)


class QueuedTooLate(RunSemaphore):
    """Broken: a sleeper lets go of the lock between finding no permit and joining the queue,
    so a release in that instant finds nobody to serve, and the sleeper sleeps on."""

    def acquire_waiting(self, n: int, timeout: float | None = None) -> int:
        while True:
            with self._lock:
                if self._value:
                    taken = min(n, self._value)
                    self._value -= taken
                    if self._value and self._sleepers:
                        self._sleepers.popleft().release()
                    return taken
            bell = self._new_bell()
            bell.acquire()
            with self._lock:  # too late: the permits may have come since the check
                self._sleepers.append(bell)
            bell.acquire(True, -1 if timeout is None else timeout)


def run_all(bodies) -> None:
    threads = [threading.Thread(target=body, name=f"actor-{k}") for k, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def two_sleepers_and_one_run(kind: type[RunSemaphore]):
    """Two threads wait for a permit; one release brings two: the second gets its permit only
    by the first one's relay (a release that finds permits already free wakes nobody)."""

    def program():
        semaphore = kind(0)
        taken: list[int] = []
        run_all([lambda: taken.append(semaphore.acquire_waiting(1)),
                 lambda: taken.append(int(semaphore.acquire())),
                 lambda: semaphore.release(2)])
        assert taken == [1, 1], taken
        assert semaphore._value == 0 and not semaphore._sleepers, repr(semaphore)

    return program


def batches_and_singles(kind: type[RunSemaphore]):
    """A batch taker and a single taker wait; permits come one, then two: all three are taken
    and nobody is left asleep."""

    def program():
        semaphore = kind(0)
        taken: list[int] = []

        def take_three_in_batches():
            got = 0
            while got < 2:
                got += semaphore.acquire_waiting(2 - got)
            taken.append(got)

        run_all([take_three_in_batches,
                 lambda: taken.append(semaphore.acquire_waiting(1)),
                 lambda: (semaphore.release(1), semaphore.release(2))])
        assert sorted(taken) == [1, 2], taken
        assert semaphore._value == 0, repr(semaphore)

    return program


PROGRAMS = [two_sleepers_and_one_run, batches_and_singles]


def explore(program):
    return explore_program(program, strategy="dfs", max_schedules=3000, preemption_bound=2,
                           allow_polling=False)


def test_inside_a_run_it_sleeps_on_the_schedulers_primitives():
    built: list = []

    def program():
        semaphore = RunSemaphore(0)
        built.extend([semaphore._lock, semaphore._new_bell()])

    result = explore_program(program, max_schedules=1)
    assert result.failure is None, str(result.failure)
    assert [type(lock) for lock in built] == [Lock, Lock]


@pytest.mark.parametrize("make_program", PROGRAMS)
def test_the_real_semaphore_loses_no_wake_up_in_any_schedule(make_program):
    result = explore(make_program(RunSemaphore))
    assert result.failure is None, str(result.failure)
    assert result.complete  # every schedule within the bound was run


@pytest.mark.parametrize("broken", [RelayForgotten, QueuedTooLate])
@pytest.mark.parametrize("make_program", PROGRAMS)
def test_a_broken_relay_is_found_as_a_lost_wake_up(make_program, broken):
    result = explore(make_program(broken))
    assert result.failure is not None, f"{broken.__name__}: {result.summary()}"
    assert result.failure.kind is FailureKind.DEADLOCK, str(result.failure)


def test_a_wait_with_a_timeout_ends_on_the_virtual_clock():
    seen: dict[str, object] = {}

    def program():
        semaphore = RunSemaphore(0)
        started = time.monotonic()
        seen["taken"] = semaphore.acquire_waiting(3, timeout=2.5)
        seen["waited"] = time.monotonic() - started
        seen["acquired"] = semaphore.acquire(timeout=1.0)
        seen["sleepers"] = len(semaphore._sleepers)

    result = explore_program(program, max_schedules=10)
    assert result.failure is None, str(result.failure)
    assert seen == {"taken": 0, "waited": 2.5, "acquired": False, "sleepers": 0}
