"""Graded checks for a student's thread-safe ``BoundedBuffer(capacity)`` with ``put``/``get``.

Each ``check_*`` function is one graded check. Its scenario (a ``_scenario`` function) drives the
student's buffer through the live harness :class:`~pcmodel.grading.thread_harness.ThreadBuffers`
in an isolated child process and is then replayed in the grader on the observations the child
returned (:func:`pcmodel.grading.replay.judge`): the verdict, and the CheckFailed with what was
expected, what happened and a hint, are the grader's. The scenarios follow CPython's
``test_queue`` (prove blocking with a second thread and a release) and OSTEP chapter 30 (the
one-producer/two-consumer schedule that deadlocks a buffer with a single condition and
``notify()``), but they wait for "blocked" through a probe instead of sleeping. A stress run's
record is judged by :func:`pcmodel.grading.stress_verdict.stress_verdict`.

Whether a thread is blocked in a primitive, and how much CPU a waiting thread burns, can only be
seen inside the student's process, where its threads are: those observations are made there by
the probe, and the grader can only check that they fit together (see ``exercises/README.md``).
"""

from __future__ import annotations

import secrets
from functools import partial
from typing import Any

from pcmodel.grading.checks import DEFAULT_TIME_LIMIT, Problem, budget, fail_on, problem
from pcmodel.grading.hints import hinted
from pcmodel.grading.replay import judge
from pcmodel.grading.stress_verdict import stress_verdict
from pcmodel.grading.thread_harness import (
    BLOCK_WAIT,
    STALL,
    ThreadBuffers,
    describe,
    describe_all,
    sequence_ops,
    shown,
)

__all__ = [
    "BLOCK_WAIT",
    "STALL",
    "check_get_blocks_when_empty",
    "check_interface",
    "check_mixed_waiters",
    "check_model_sequence",
    "check_no_busy_waiting",
    "check_put_blocks_when_full",
    "check_spurious_wakeups",
    "check_stress",
    "check_uses",
]

_WAKE_HINT = "@wake"  # a hint key: see pcmodel.grading.hints
_RUNNING, _DONE, _FAILED = "running", "done", "failed"
_LAST_SLOT_SCHEDULES = 150  # schedules searched for two producers racing for the last slot
# The failures of a schedule search that a stress run reports too: over capacity or an item
# lost (a broken invariant), an exception, everyone waiting. A buffer that polls, which the
# search also fails, is not what a stress run judges.
_STRESS_KINDS = ("invariant", "exception", "deadlock")
_SEARCH_TIME = 8.0  # seconds a schedule search may take (it stops itself after that)
# The second FIFO sequence: a capacity larger than any small fixed ring a student might
# allocate, and enough steps to fill it and wrap around its slots several times.
_LARGE_CAPACITY, _LARGE_STEPS = 20, 200




def _run(scenario: Any, impl: str, *args: Any) -> Problem:
    return judge(scenario, partial(ThreadBuffers, impl), *args)


# --- scenarios (run in the child on the student's code, then in the grader on what it saw) ------


def _interface(h: Any) -> Problem:
    capacity = h.capacity_of(3)
    if capacity != 3 or isinstance(capacity, bool):
        shown = "missing" if capacity == {"missing": True} else (
            capacity["object"] if isinstance(capacity, dict) and "object" in capacity
            else repr(capacity))
        return problem(
            "BoundedBuffer(3).capacity == 3",
            f"capacity is {shown}",
            "store the constructor argument as self.capacity",
        )
    for bad in (0, -2):
        outcome = h.construct(bad)
        if outcome == "ValueError":
            continue
        if outcome.startswith("raised "):
            return problem(
                f"BoundedBuffer({bad}) to raise ValueError",
                f"it {outcome}",
                "validate capacity first: raise ValueError when capacity < 1",
            )
        return problem(
            f"BoundedBuffer({bad}) to raise ValueError",
            "it returned a buffer that can never hold an item",
            "validate capacity first: raise ValueError when capacity < 1",
        )
    return None


# A kind of primitive and the kinds that are one (a BoundedSemaphore is a Semaphore, as in
# threading, where it is a subclass; an RLock serves wherever a Lock does).
_COUNTS_AS = {"Semaphore": ("Semaphore", "BoundedSemaphore"), "Lock": ("Lock", "RLock")}


def _uses(h: Any, kind: str, at_least: int, hint: str) -> Problem:
    h.fresh(2)  # constructing the buffer is what creates its primitives
    created = h.created()
    found = sum(created.get(k, 0) for k in _COUNTS_AS.get(kind, (kind,)))
    if found < at_least:
        made = ", ".join(f"{n} {k}" for k, n in sorted(created.items()) if n) or "none"
        return problem(
            f"the constructor to create at least {at_least} threading.{kind}",
            f"primitives created: {made}",
            hint,
        )
    return None


def _model_sequences(h: Any, capacity: int, steps: int, seed: int, first: int) -> Problem:
    """The seeded sequence on a small buffer, then one that keeps a buffer of
    :data:`_LARGE_CAPACITY` nearly full while it wraps around several times: a ring of a
    fixed number of slots, right for small capacities only, shows there."""
    return (_model_sequence(h, capacity, steps, seed, first)
            or _model_sequence(h, _LARGE_CAPACITY, _LARGE_STEPS, seed + 1, first, 0.3))


def _model_sequence(h: Any, capacity: int, steps: int, seed: int, first: int,
                    get_share: float = 0.45) -> Problem:
    """Random non-blocking put/get sequence compared with a deque, in one worker thread."""
    seen = h.sequence(capacity, steps, seed, first, get_share)
    want = sequence_ops(capacity, steps, seed, first, get_share)
    ops = seen["ops"]
    if len(ops) > len(want):
        raise ValueError("more operations than the sequence has")
    log: list[str] = []
    for (op, item), (done, got) in zip(want, ops):
        if op != done or (op == "put" and got != item):
            raise ValueError("an operation the sequence does not have")
        if op == "get":
            log.append(f"get()->{shown(got)}")
            if got != item:
                return problem(
                    f"get() to return {item!r}, the oldest item (FIFO) of a "
                    f"BoundedBuffer({capacity})",
                    f"{shown(got)} after: {', '.join(log[-8:])}",
                    "@fifo",
                )
        else:
            log.append(f"put({item})")
    if seen["stuck"]:
        return problem(
            "put() to return at once while the buffer has room, get() while it has items",
            describe_all(seen["stuck"]),
            "wait only while the buffer is full (put) or empty (get), "
            "and compare with capacity, not capacity - 1",
        )
    if seen["failed"]:
        return problem("no exception", describe_all(seen["failed"]), "")
    if len(ops) != len(want):
        raise ValueError("the sequence ended early without a reason")
    return None


def _put_blocks_when_full(h: Any, capacity: int) -> Problem:
    h.fresh(capacity)
    h.fill("filler", list(range(capacity)))
    stuck = h.finish(["filler"])
    filler = h.worker("filler")
    if stuck or filler["state"] == _FAILED:
        return problem(f"{capacity} puts into an empty buffer of capacity {capacity} to return",
                        describe(filler), "wait only while the buffer is full")
    extra = h.put("producer", capacity, True)
    if not extra["blocked"]:
        if extra["state"] == _DONE:
            return problem(
                f"put() to wait while the buffer holds {capacity} of {capacity} items",
                f"put({capacity}) returned at once: the buffer overflowed its capacity",
                "@wait-full",
            )
        if extra["state"] == _FAILED:
            return problem("put() on a full buffer to wait", describe(extra), "")
        return problem(
            "put() on a full buffer to block on a Condition, Semaphore or Lock",
            "it neither returned nor blocked: it seems to poll or spin",
            "@no-poll",
        )
    h.get("consumer")
    stuck = h.finish(["consumer"])
    if stuck:
        return problem(
            "get() to return while a put() waits on a full buffer",
            f"get() never returned ({describe_all(stuck)})",
            "@lock-order",
        )
    consumer = h.worker("consumer")
    if consumer["state"] == _FAILED:
        return problem("get() on a full buffer to succeed", describe(consumer), "")
    stuck = h.finish(["producer"])
    if stuck:
        return problem(
            "the waiting put() to finish once get() freed a slot",
            f"{describe_all(stuck)}: its wake-up was lost",
            _WAKE_HINT,
        )
    h.get("drain", capacity)
    stuck = h.finish(["drain"])
    items = consumer["results"] + h.worker("drain")["results"]
    if stuck or items != list(range(capacity + 1)):
        return problem(
            f"the items to come out in order: {list(range(capacity + 1))}",
            f"[{', '.join(shown(i) for i in items)}]"
            + (f" and then {describe_all(stuck)}" if stuck else ""),
            "@fifo",
        )
    return None


def _get_blocks_when_empty(h: Any, item: int) -> Problem:
    h.fresh(2)
    waiter = h.get("consumer", 1, True)
    if not waiter["blocked"]:
        if waiter["state"] == _DONE:
            return problem(
                "get() on an empty buffer to wait for an item",
                f"it returned {shown(waiter['results'][0])} at once",
                "@wait-empty",
            )
        if waiter["state"] == _FAILED:
            return problem("get() on an empty buffer to wait", describe(waiter), "")
        return problem(
            "get() on an empty buffer to block on a Condition, Semaphore or Lock",
            "it neither returned nor blocked: it seems to poll or spin",
            "@no-poll",
        )
    h.put("producer", item)
    stuck = h.finish(["producer"])
    if stuck:
        return problem(
            "put() to return while a get() waits on an empty buffer",
            f"put() never returned ({describe_all(stuck)})",
            "@lock-order",
        )
    stuck = h.finish(["consumer"])
    if stuck:
        return problem("the waiting get() to return the item put()",
                        f"{describe_all(stuck)}: its wake-up was lost", _WAKE_HINT)
    results = h.worker("consumer")["results"]
    if results != [item]:
        return problem(f"the waiting get() to return {item}",
                        f"[{', '.join(shown(i) for i in results)}]", "")
    return None


def _spurious(h: Any, side: str, capacity: int) -> Problem:
    h.fresh(capacity)
    if side == "put":
        h.fill("filler", list(range(capacity)))
        if h.finish(["filler"]):
            return problem("put() into a buffer with room to return", "it blocked", "")
    h.spurious(1)
    if side == "put":
        worker = h.put("producer", "extra", True)
    else:
        worker = h.get("consumer", 1, True)
    took = h.spurious_done()
    if not worker["blocked"] and worker["state"] != _RUNNING and took:
        what = "put() into a full buffer" if side == "put" else "get() from an empty buffer"
        happened = describe(worker) if worker["state"] == _FAILED else (
            "it returned" + (f" {shown(worker['results'][0])}" if worker["results"] else "")
        )
        return problem(
            f"{what} to keep waiting after a wake-up without a notify",
            f"after one spurious wake-up {happened}",
            "@recheck",
        )
    if not worker["blocked"]:
        return None  # other checks report a caller that never blocks
    if side == "put":
        h.get("release", capacity + 1)
    else:
        h.put("release", 7)
    stuck = h.finish(["release", worker["name"]])
    if stuck:
        return problem("the waiting call to finish when released", describe_all(stuck),
                        _WAKE_HINT)
    return None


def _busy(h: Any, window: float) -> Problem:
    h.fresh(1)
    waiter = h.get("consumer", 1, True)
    if not waiter["blocked"]:
        if waiter["state"] != _RUNNING:
            return problem("get() on an empty buffer to wait", describe(waiter), "@wait-empty")
        return problem(
            "get() on an empty buffer to block on a Condition, Semaphore or Lock",
            "it kept running: busy waiting (a loop that polls, with or without sleep)",
            "@no-poll",
        )
    idle = h.idle(window)
    h.put("producer", 1)
    h.finish(["producer", "consumer"])
    wakeups, cpu = idle["wakeups"], idle["cpu"]
    if wakeups >= 3:
        return problem(
            "a waiting get() to sleep until an item arrives",
            f"it woke up {wakeups} times in {window:.1f} s with nothing to get "
            "(polling with a timeout)",
            "@no-poll",
        )
    if cpu > 0.5 * window:
        return problem(
            "a waiting get() to use no CPU",
            f"the process used {cpu * 1000:.0f} ms of CPU in {window * 1000:.0f} ms "
            "while it waited",
            "@no-poll",
        )
    return None


def _mixed_waiters(h: Any, rounds: int) -> Problem:
    for _ in range(rounds):
        # OSTEP 30: two consumers wait on an empty buffer of capacity 1, one producer puts 2.
        h.fresh(1)
        if not (h.get("consumer 1", 1, True)["blocked"]
                and h.get("consumer 2", 1, True)["blocked"]):
            return None  # get() does not block on a primitive: other checks report that
        h.fill("producer", ["a", "b"])
        stuck = h.finish()
        failed = h.failures()
        if stuck or failed:
            return problem(
                "1 producer and 2 waiting consumers on a buffer of capacity 1 to all finish",
                describe_all(stuck or failed) + " (everyone waits: deadlock)",
                "@wrong-waiter",
            )
        # Mirror image: two producers wait on a full buffer, one consumer takes 3.
        h.fresh(1)
        h.fill("filler", ["x"])
        if h.finish(["filler"]):
            return problem("put() into an empty buffer to return", "it blocked", "")
        h.put("producer 1", "y", True)
        h.put("producer 2", "z", True)
        h.get("consumer", 3)
        stuck = h.finish()
        failed = h.failures()
        if stuck or failed:
            return problem(
                "2 waiting producers and 1 consumer on a full buffer of capacity 1 to all finish",
                describe_all(stuck or failed) + " (everyone waits: deadlock)",
                "@wrong-waiter",
            )
    return None


def _stress(h: Any, producers: int, consumers: int, items: int, capacity: int,
            trials: int, noise: float, seed: int, base: int) -> Problem:
    # First the buffer is filled with the consumers held back, so an item too many shows in
    # every grading (in the trials it shows only when the consumers happen to fall behind);
    # then the trials, each on a fresh buffer, leave the rest to the perturbed timing.
    found = stress_verdict(h.fill_up(producers, capacity, base), producers, 1, capacity + 1,
                           capacity, base, "filled before the consumer starts")
    if found is None and producers > 1 and consumers > 1:
        # Several producers and consumers reach the moment when both kinds wait at once, but
        # the trials hit it only in some gradings; a buffer that then wakes the wrong waiter
        # (one condition and notify()) must fail here in every grading: so one round of the
        # OSTEP schedule, which reaches it on purpose, comes first.
        found = _mixed_waiters(h, 1)
    if found is None and producers > 1:
        found = _last_slot(h)
    if found is not None:
        return found
    for trial in range(trials):
        seen = h.stress(producers, consumers, items, capacity, noise, seed + trial, base)
        found = stress_verdict(seen, producers, consumers, items, capacity, base)
        if found is not None:
            found["got"] += f" [trial {trial + 1} of {trials}, seed {seed + trial}]"
            return found  # the first failing trial decides: the rest would only cost time
    return None


def _last_slot(h: Any) -> Problem:
    # Two producers let past the fullness test before either stores its item put one item too
    # many; the trials see it only when the timing stops a producer between the two, in some
    # gradings. The controlled scheduler reaches that schedule on purpose, in every grading.
    from pcmodel.grading.sched_checks import LAST_SLOT, scheduler_available, search_problem

    if not scheduler_available():
        return None
    found = h.last_slot(budget(_LAST_SLOT_SCHEDULES))
    if found["failure"] is not None and found["failure"]["kind"] not in _STRESS_KINDS:
        found = {**found, "failure": None}  # polling is test_no_busy_waiting's to judge
    setup = (f"{LAST_SLOT['producers']} producers racing for the last free slot of a capacity "
             f"{LAST_SLOT['capacity']} buffer")
    return search_problem(found, setup, {})


# --- checks (run in the grader, one child process each) -----------------------------------------


def check_interface(impl: str) -> None:
    """``BoundedBuffer(3).capacity == 3``; a capacity below 1 raises ValueError."""
    fail_on(_run(_interface, impl))


def check_uses(impl: str, kind: str, at_least: int, hint: str) -> None:
    """The constructor creates at least ``at_least`` ``threading.<kind>`` primitives."""
    fail_on(_run(_uses, impl, kind, at_least, hint))


def check_model_sequence(impl: str, capacity: int = 3, steps: int = 60, seed: int = 5, *,
                         style: str = "condition") -> None:
    """A seeded sequence of non-blocking puts and gets behaves like a FIFO queue, on a buffer
    of ``capacity`` and then on one of 20 kept nearly full."""
    with hinted(style):
        fail_on(_run(_model_sequences, impl, capacity, steps, seed, _nonce()))


def check_put_blocks_when_full(impl: str, capacity: int = 2, *, style: str = "condition") -> None:
    """put() waits on a full buffer, a get() frees it, and the items stay in order."""
    with hinted(style):
        fail_on(_run(_put_blocks_when_full, impl, capacity))


def check_get_blocks_when_empty(impl: str, *, style: str = "condition") -> None:
    """get() waits on an empty buffer and returns the item that a put() brings."""
    with hinted(style):
        fail_on(_run(_get_blocks_when_empty, impl, _nonce()))


def check_spurious_wakeups(impl: str) -> None:
    """A ``Condition.wait()`` that returns without a notify does not break put() or get()."""
    with hinted("condition"):
        fail_on(_run(_spurious, impl, "get", 1))
    with hinted("condition"):
        fail_on(_run(_spurious, impl, "put", 2))


def check_no_busy_waiting(impl: str, window: float = 0.2, *, style: str = "condition") -> None:
    """A get() on an empty buffer blocks in a primitive and stays asleep for ``window`` seconds."""
    with hinted(style):
        fail_on(_run(_busy, impl, window))


def check_mixed_waiters(impl: str, rounds: int = 3, *, style: str = "condition") -> None:
    """Producers and consumers waiting at once on a capacity-1 buffer all finish (OSTEP 30)."""
    with hinted(style):
        fail_on(_run(_mixed_waiters, impl, budget(rounds)))


def check_stress(impl: str, *, producers: int, consumers: int, items: int, capacity: int,
                 trials: int, noise: float, seed: int, style: str = "condition") -> None:
    """The buffer filled by the producers before a consumer starts, then drained; with several
    producers and consumers, one round of :func:`check_mixed_waiters`; with several producers,
    every schedule (up to a bound) of two producers racing for the last free slot; then seeded
    runs with perturbed timing: nothing lost, duplicated, over capacity, stuck or reordered.
    The first three parts reach their situation on purpose, so what they catch is caught in
    every grading."""
    time_limit = DEFAULT_TIME_LIMIT + (_SEARCH_TIME if producers > 1 else 0.0)
    with hinted(style):
        fail_on(judge(_stress, partial(ThreadBuffers, impl), producers, consumers, items,
                      capacity, budget(trials), noise, seed, _nonce(), time_limit=time_limit))


def _nonce() -> int:
    """A number drawn by the grader for one check, so that its items differ in every grading:
    observations recorded from another run do not fit."""
    return 1000 + secrets.randbelow(1_000_000)
