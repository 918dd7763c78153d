"""A burst of changes wakes one waiter of the condition variant, not one per change.

Only the change that ends a wait notifies: a put into an empty buffer wakes a getter, a get from
a full one a putter, and the waiter woken passes the wake-up on if it leaves something behind.
While the waiter woken is on its way to the lock, the changes after the first notify nobody, so
a second sleeper is not woken to find that the first took everything (under the GIL a woken
thread cannot run before its waker blocks, and such bursts are the common case).

Every schedule of each program (up to two preemptions) is explored with the controlled
scheduler: no wake-up may be lost (a lost one shows as a deadlock), and no sleeper may wake to
find nothing to do.
"""

from __future__ import annotations

import threading

import pytest

from pcmodel.buffers import make_buffer
from pcmodel.errors import ShutDown
from pcmodel.sched import explore_program

# Explored schedules hand control between threads at every step: on a machine busy with other
# work each hand-off waits for a core, and these tests ran up to seven times slower than idle.
pytestmark = pytest.mark.timeout(180)

# Enough schedules to find a relay left out: each of the buffer's relays and first wake-ups,
# taken out one at a time, was found by these programs within 246 schedules.
SCHEDULES = 600


def watch_sleepers(condition, sleepers: int, nothing_to_do, woken_for_nothing: list
                   ) -> threading.Event:
    """Wrap ``condition.wait``: a wake-up after which ``nothing_to_do()`` still holds (checked
    with the lock held again) is recorded by thread name. The event returned is set once
    ``sleepers`` threads went to sleep; they hold the lock until they sleep, so a change made
    after the event is set finds them asleep (none of them can take what it brings first)."""
    real_wait = condition.wait
    asleep = threading.Event()
    waits = [0]

    def wait(timeout=None):
        waits[0] += 1
        if waits[0] == sleepers:
            asleep.set()
        notified = real_wait(timeout)
        if nothing_to_do():
            woken_for_nothing.append(threading.current_thread().name)
        return notified

    condition.wait = wait
    return asleep


def getters_woken_by_a_burst_of_batches():
    """Two getters sleep; two batches arrive back to back; then the buffer is shut down."""
    buf = make_buffer("condition", 8)
    woken_for_nothing: list[str] = []
    asleep = watch_sleepers(buf._not_empty, 2, lambda: not buf._items and not buf.is_shutdown,
                            woken_for_nothing)
    taken: list = []

    def getter():
        try:
            taken.extend(buf.get_many(8))
        except ShutDown:
            pass

    getters = [threading.Thread(target=getter, name=f"getter-{k}") for k in range(2)]
    for thread in getters:
        thread.start()
    asleep.wait()
    buf.put_many([1])
    buf.put_many([2])
    buf.shutdown()
    for thread in getters:
        thread.join()
    assert sorted(taken) == [1, 2], taken
    assert not woken_for_nothing, f"woken to find no item: {woken_for_nothing}"


def putters_woken_by_a_burst_of_gets():
    """Two putters of two items sleep on a full buffer of two; two gets free it back to back."""
    buf = make_buffer("condition", 2)
    buf.put_many(["old", "old"])
    woken_for_nothing: list[str] = []
    asleep = watch_sleepers(buf._not_full, 2, lambda: len(buf._items) >= buf.maxsize,
                            woken_for_nothing)
    putters = [threading.Thread(target=buf.put_many, args=([k, k],), name=f"putter-{k}")
               for k in range(2)]
    for thread in putters:
        thread.start()
    asleep.wait()
    taken = buf.get_many(1) + buf.get_many(1)
    while len(taken) < 6:
        taken += buf.get_many(6 - len(taken))
    for thread in putters:
        thread.join()
    assert sorted(taken, key=str) == [0, 0, 1, 1, "old", "old"], taken
    assert not woken_for_nothing, f"woken to find no space: {woken_for_nothing}"


def take(buf, count: int, taken: list) -> None:
    """Take exactly ``count`` items with ``get_many`` (each call takes what is there)."""
    got = 0
    while got < count:
        items = buf.get_many(count - got)
        taken.extend(items)
        got += len(items)


def run_all(bodies) -> None:
    threads = [threading.Thread(target=body, name=f"actor-{k}") for k, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def three_getters_and_a_batch_larger_than_the_buffer():
    """Getters that each need fewer items than a batch brings: only relays reach the later
    ones, since a put into a buffer that is not empty notifies nobody."""
    buf = make_buffer("condition", 2)
    taken: list = []
    run_all([lambda: taken.append(buf.get()),
             lambda: take(buf, 2, taken),
             lambda: taken.append(buf.get()),
             lambda: buf.put_many(["a", "b", "c"]),
             lambda: buf.put("d")])
    assert sorted(taken) == ["a", "b", "c", "d"], taken


def three_putters_and_a_getter_of_batches():
    """Putters wait on a buffer of one; a get from a full buffer notifies one of them, and
    only relays reach the others."""
    buf = make_buffer("condition", 1)
    taken: list = []
    run_all([lambda: buf.put_many(["a", "b"]),
             lambda: buf.put("c"),
             lambda: buf.put("d"),
             lambda: take(buf, 3, taken),
             lambda: taken.append(buf.get())])
    assert sorted(taken) == ["a", "b", "c", "d"], taken


@pytest.mark.parametrize("program", [getters_woken_by_a_burst_of_batches,
                                     putters_woken_by_a_burst_of_gets])
def test_a_burst_wakes_no_sleeper_for_nothing(program):
    result = explore_program(program, strategy="dfs", max_schedules=3000, preemption_bound=2,
                             allow_polling=False)
    assert result.failure is None, str(result.failure)
    assert result.complete  # every schedule within the bound was run


@pytest.mark.parametrize("program", [three_getters_and_a_batch_larger_than_the_buffer,
                                     three_putters_and_a_getter_of_batches])
@pytest.mark.parametrize("strategy", ["dfs", "pct"])
def test_singles_and_batches_lose_no_wake_up_in_any_explored_schedule(program, strategy):
    result = explore_program(program, strategy=strategy, max_schedules=SCHEDULES, seed=3,
                             preemption_bound=2, allow_polling=False)
    assert result.failure is None, str(result.failure)  # a lost wake-up is a deadlock
    assert result.schedules == SCHEDULES
