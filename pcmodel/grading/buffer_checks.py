"""Graded checks for a student's thread-safe ``BoundedBuffer(capacity)`` with ``put``/``get``.

Each ``check_*`` function is one graded check: it runs its workload in an isolated child process
(:func:`pcmodel.grading.checks.run_check`) and raises CheckFailed with what was expected, what
happened and a hint. The workloads follow CPython's ``test_queue`` (prove blocking with a second
thread and a release) and OSTEP chapter 30 (the one-producer/two-consumer schedule that deadlocks a
buffer with a single condition and ``notify()``), but they wait for "blocked" through a
:class:`~pcmodel.grading.probes.Probe` instead of sleeping.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from typing import Any

from pcmodel.grading.checks import budget, fail_on, run_check
from pcmodel.grading.crew import Crew, Worker, WorkerState, patience
from pcmodel.grading.hints import hinted
from pcmodel.grading.probes import Probe, instrument, load_impl

__all__ = [
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

STALL = 2.0  # seconds without any completed operation that count as "stuck"
BLOCK_WAIT = 2.0  # seconds a caller may take to block on a primitive

_WAKE_HINT = "@wake"  # a hint key: see pcmodel.grading.hints


def _problem(expected: str, got: str, hint: str) -> dict[str, str]:
    return {"expected": expected, "got": got, "hint": hint}


def _stuck(workers: list[Worker]) -> str:
    return "; ".join(w.describe() for w in workers)


class _Harness:
    """A fresh, instrumented module and buffer for one scenario in the child process."""

    def __init__(self, impl: str, capacity: int, spurious: int = 0, noise: float = 0.0,
                 seed: int = 0) -> None:
        module = load_impl(impl, "BoundedBuffer")
        self.probe = Probe(spurious=spurious)
        instrument(module, self.probe)
        self.source = module.__spec__.origin
        self.buffer = module.BoundedBuffer(capacity)
        self.crew = Crew(self.source, noise=noise, seed=seed, on_tick=self.probe.poke)
        self.stall = STALL * patience()

    def put(self, name: str, item: Any, settle: bool = False) -> Worker:
        """Start a worker that puts ``item``; with ``settle``, return once it blocked or ended."""

        def body(w: Worker) -> None:
            w.step(f"put({item!r})")
            self.buffer.put(item)
            w.finished()

        return self._start(name, body, settle)

    def get(self, name: str, count: int = 1, settle: bool = False) -> Worker:
        """Start a worker that gets ``count`` items (kept in ``results``)."""

        def body(w: Worker) -> None:
            for _ in range(count):
                w.step("get()")
                w.finished(self.buffer.get(), keep=True)

        return self._start(name, body, settle)

    def fill(self, name: str, items: list[Any]) -> Worker:
        """Start a worker that puts ``items`` one after the other."""

        def body(w: Worker) -> None:
            for item in items:
                w.step(f"put({item!r})")
                self.buffer.put(item)
                w.finished()

        return self._start(name, body, False)

    def _start(self, name: str, body: Any, settle: bool) -> Worker:
        baseline = self.probe.blocked
        worker = self.crew.start(name, body)
        worker.blocked = False
        if settle:
            # Wait until the new worker blocks in a primitive (one more blocked thread) or ends.
            self.probe.wait_until(
                lambda: worker.state is not WorkerState.RUNNING
                or self.probe.blocked > baseline,
                BLOCK_WAIT * patience(),
            )
            worker.blocked = worker.state is WorkerState.RUNNING and self.probe.blocked > baseline
        return worker

    def finish(self, workers: list[Worker] | None = None) -> list[Worker]:
        return self.crew.wait(self.stall, workers)


# --- workloads (run in the child process) -------------------------------------------------------


def _interface(impl: str) -> dict[str, str] | None:
    module = load_impl(impl, "BoundedBuffer")
    buf = module.BoundedBuffer(3)
    if getattr(buf, "capacity", None) != 3:
        return _problem(
            "BoundedBuffer(3).capacity == 3",
            f"capacity is {getattr(buf, 'capacity', 'missing')!r}",
            "store the constructor argument as self.capacity",
        )
    for bad in (0, -2):
        try:
            module.BoundedBuffer(bad)
        except ValueError:
            continue
        except Exception as exc:
            return _problem(
                f"BoundedBuffer({bad}) to raise ValueError",
                f"it raised {exc!r}",
                "validate capacity first: raise ValueError when capacity < 1",
            )
        return _problem(
            f"BoundedBuffer({bad}) to raise ValueError",
            "it returned a buffer that can never hold an item",
            "validate capacity first: raise ValueError when capacity < 1",
        )
    return None


# A kind of primitive and the kinds that are one (a BoundedSemaphore is a Semaphore, as in
# threading, where it is a subclass; an RLock serves wherever a Lock does).
_COUNTS_AS = {"Semaphore": ("Semaphore", "BoundedSemaphore"), "Lock": ("Lock", "RLock")}


def _uses(impl: str, kind: str, at_least: int, hint: str) -> dict[str, str] | None:
    h = _Harness(impl, 2)  # constructing the buffer is what creates its primitives
    found = sum(h.probe.created[k] for k in _COUNTS_AS.get(kind, (kind,)))
    if found < at_least:
        made = ", ".join(f"{n} {k}" for k, n in sorted(h.probe.created.items())) or "none"
        return _problem(
            f"the constructor to create at least {at_least} threading.{kind}",
            f"primitives created: {made}",
            hint,
        )
    return None


def _model_sequence(impl: str, capacity: int, steps: int, seed: int) -> dict[str, str] | None:
    """Random non-blocking put/get sequence compared with a deque, in one worker thread."""
    h = _Harness(impl, capacity)
    rng = random.Random(seed)
    model: deque[int] = deque()
    log: list[str] = []
    mismatch: list[dict[str, str]] = []

    def body(w: Worker) -> None:
        next_item = 0
        for _ in range(steps):
            if model and (len(model) == capacity or rng.random() < 0.45):
                w.step(f"get() with {len(model)} of {capacity} items inside")
                got = h.buffer.get()
                want = model.popleft()
                log.append(f"get()->{got!r}")
                if got != want:
                    mismatch.append(_problem(
                        f"get() to return {want!r}, the oldest item (FIFO)",
                        f"{got!r} after: {', '.join(log[-8:])}",
                        "@fifo",
                    ))
                    return
            else:
                w.step(f"put({next_item}) with {len(model)} of {capacity} items inside")
                h.buffer.put(next_item)
                model.append(next_item)
                log.append(f"put({next_item})")
                next_item += 1
            w.finished()

    h.crew.start("main", body)
    stuck = h.finish()
    if stuck:
        return _problem(
            "put() to return at once while the buffer has room, get() while it has items",
            _stuck(stuck),
            "wait only while the buffer is full (put) or empty (get), "
            "and compare with capacity, not capacity - 1",
        )
    if h.crew.failures():
        return _problem("no exception", _stuck(h.crew.failures()), "")
    return mismatch[0] if mismatch else None


def _put_blocks_when_full(impl: str, capacity: int) -> dict[str, str] | None:
    h = _Harness(impl, capacity)
    filler = h.fill("filler", list(range(capacity)))
    stuck = h.finish([filler])
    if stuck or filler.state is WorkerState.FAILED:
        return _problem(f"{capacity} puts into an empty buffer of capacity {capacity} to return",
                        _stuck([filler]), "wait only while the buffer is full")
    extra = h.put("producer", capacity, settle=True)
    if not extra.blocked:
        if extra.state is WorkerState.DONE:
            return _problem(
                f"put() to wait while the buffer holds {capacity} of {capacity} items",
                f"put({capacity}) returned at once: the buffer overflowed its capacity",
                "@wait-full",
            )
        if extra.state is WorkerState.FAILED:
            return _problem("put() on a full buffer to wait", extra.describe(), "")
        return _problem(
            "put() on a full buffer to block on a Condition, Semaphore or Lock",
            "it neither returned nor blocked: it seems to poll or spin",
            "@no-poll",
        )
    consumer = h.get("consumer")
    stuck = h.finish([consumer])
    if stuck:
        return _problem(
            "get() to return while a put() waits on a full buffer",
            f"get() never returned ({_stuck(stuck)})",
            "@lock-order",
        )
    if consumer.state is WorkerState.FAILED:
        return _problem("get() on a full buffer to succeed", consumer.describe(), "")
    stuck = h.finish([extra])
    if stuck:
        return _problem(
            "the waiting put() to finish once get() freed a slot",
            f"{_stuck(stuck)}: its wake-up was lost",
            _WAKE_HINT,
        )
    rest = h.get("drain", capacity)
    stuck = h.finish([rest])
    items = consumer.results + rest.results
    if stuck or items != list(range(capacity + 1)):
        return _problem(
            f"the items to come out in order: {list(range(capacity + 1))}",
            f"{items}" + (f" and then {_stuck(stuck)}" if stuck else ""),
            "@fifo",
        )
    return None


def _get_blocks_when_empty(impl: str) -> dict[str, str] | None:
    h = _Harness(impl, 2)
    waiter = h.get("consumer", settle=True)
    if not waiter.blocked:
        if waiter.state is WorkerState.DONE:
            return _problem(
                "get() on an empty buffer to wait for an item",
                f"it returned {waiter.results[0]!r} at once",
                "@wait-empty",
            )
        if waiter.state is WorkerState.FAILED:
            return _problem("get() on an empty buffer to wait", waiter.describe(), "")
        return _problem(
            "get() on an empty buffer to block on a Condition, Semaphore or Lock",
            "it neither returned nor blocked: it seems to poll or spin",
            "@no-poll",
        )
    producer = h.put("producer", 41)
    stuck = h.finish([producer])
    if stuck:
        return _problem(
            "put() to return while a get() waits on an empty buffer",
            f"put() never returned ({_stuck(stuck)})",
            "@lock-order",
        )
    stuck = h.finish([waiter])
    if stuck:
        return _problem("the waiting get() to return the item put()",
                        f"{_stuck(stuck)}: its wake-up was lost", _WAKE_HINT)
    if waiter.results != [41]:
        return _problem("the waiting get() to return 41", repr(waiter.results), "")
    return None


def _spurious(impl: str, side: str, capacity: int) -> dict[str, str] | None:
    h = _Harness(impl, capacity, spurious=0)
    if side == "put" and h.finish([h.fill("filler", list(range(capacity)))]):
        return _problem("put() into a buffer with room to return", "it blocked", "")
    h.probe.spurious = 1
    if side == "put":
        worker = h.put("producer", "extra", settle=True)
    else:
        worker = h.get("consumer", settle=True)
    blocked = worker.blocked
    took = h.probe.spurious_done
    if not blocked and worker.state is not WorkerState.RUNNING and took:
        what = "put() into a full buffer" if side == "put" else "get() from an empty buffer"
        happened = worker.describe() if worker.state is WorkerState.FAILED else (
            "it returned" + (f" {worker.results[0]!r}" if worker.results else "")
        )
        return _problem(
            f"{what} to keep waiting after a wake-up without a notify",
            f"after one spurious wake-up {happened}",
            "@recheck",
        )
    if not blocked:
        return None  # other checks report a caller that never blocks
    release = h.get("consumer", capacity + 1) if side == "put" else h.put("producer", 7)
    stuck = h.finish([release, worker])
    if stuck:
        return _problem("the waiting call to finish when released", _stuck(stuck), _WAKE_HINT)
    return None


def _busy(impl: str, window: float) -> dict[str, str] | None:
    h = _Harness(impl, 1)
    waiter = h.get("consumer", settle=True)
    if not waiter.blocked:
        if waiter.state is not WorkerState.RUNNING:
            return _problem("get() on an empty buffer to wait", waiter.describe(), "@wait-empty")
        return _problem(
            "get() on an empty buffer to block on a Condition, Semaphore or Lock",
            "it kept running: busy waiting (a loop that polls, with or without sleep)",
            "@no-poll",
        )
    events = h.probe.block_events
    cpu = time.process_time()
    # A measurement window, not a synchronisation: busy waiting only shows over time.
    threading.Event().wait(window)
    cpu = time.process_time() - cpu
    wakeups = h.probe.block_events - events
    producer = h.put("producer", 1)
    h.finish([producer, waiter])
    if wakeups >= 3:
        return _problem(
            "a waiting get() to sleep until an item arrives",
            f"it woke up {wakeups} times in {window:.1f} s with nothing to get "
            "(polling with a timeout)",
            "@no-poll",
        )
    if cpu > 0.5 * window:
        return _problem(
            "a waiting get() to use no CPU",
            f"the process used {cpu * 1000:.0f} ms of CPU in {window * 1000:.0f} ms "
            "while it waited",
            "@no-poll",
        )
    return None


def _mixed_waiters(impl: str, rounds: int) -> dict[str, str] | None:
    for _ in range(rounds):
        # OSTEP 30: two consumers wait on an empty buffer of capacity 1, one producer puts 2.
        h = _Harness(impl, 1)
        if not (h.get("consumer 1", settle=True).blocked
                and h.get("consumer 2", settle=True).blocked):
            return None  # get() does not block on a primitive: other checks report that
        h.fill("producer", ["a", "b"])
        stuck = h.finish()
        if stuck or h.crew.failures():
            return _problem(
                "1 producer and 2 waiting consumers on a buffer of capacity 1 to all finish",
                _stuck(stuck or h.crew.failures()) + " (everyone waits: deadlock)",
                "@wrong-waiter",
            )
        # Mirror image: two producers wait on a full buffer, one consumer takes 3.
        h = _Harness(impl, 1)
        if h.finish([h.fill("filler", ["x"])]):
            return _problem("put() into an empty buffer to return", "it blocked", "")
        h.put("producer 1", "y", settle=True)
        h.put("producer 2", "z", settle=True)
        h.get("consumer", 3)
        stuck = h.finish()
        if stuck or h.crew.failures():
            return _problem(
                "2 waiting producers and 1 consumer on a full buffer of capacity 1 to all finish",
                _stuck(stuck or h.crew.failures()) + " (everyone waits: deadlock)",
                "@wrong-waiter",
            )
    return None


def _stress(impl: str, producers: int, consumers: int, items: int, capacity: int,
            trials: int, noise: float, seed: int) -> dict[str, str] | None:
    for trial in range(trials):
        found = _stress_once(impl, producers, consumers, items, capacity, noise, seed + trial)
        if found is not None:
            found["got"] += f" [trial {trial + 1} of {trials}, seed {seed + trial}]"
            return found
    return None


def _stress_once(impl: str, producers: int, consumers: int, items: int, capacity: int,
                 noise: float, seed: int) -> dict[str, str] | None:
    h = _Harness(impl, capacity, noise=noise, seed=seed)
    meter = threading.Lock()
    level = {"puts": 0, "gets_started": 0, "gets": 0, "max": 0}
    total = producers * items

    def producer(p: int) -> Any:
        def body(w: Worker) -> None:
            for k in range(items):
                w.step(f"put({(p, k)})")
                h.buffer.put((p, k))
                with meter:
                    level["puts"] += 1
                    level["max"] = max(level["max"], level["puts"] - level["gets_started"])
                w.finished()

        return body

    def consumer(quota: int) -> Any:
        def body(w: Worker) -> None:
            for _ in range(quota):
                with meter:
                    level["gets_started"] += 1
                w.step("get()")
                item = h.buffer.get()
                with meter:
                    level["gets"] += 1
                w.finished(item, keep=True)

        return body

    for c in range(consumers):
        h.crew.start(f"consumer {c}", consumer(total // consumers + (c < total % consumers)))
    for p in range(producers):
        h.crew.start(f"producer {p}", producer(p))
    stuck = h.finish()
    setup = f"{producers} producers x {items} items, {consumers} consumers, capacity {capacity}"
    if h.crew.failures():
        return _problem(f"no exception ({setup})", _stuck(h.crew.failures()), "")
    if level["max"] > capacity:
        return _problem(
            f"at most {capacity} items inside at any time ({setup})",
            f"{level['max']} items had been put and not yet taken at one moment",
            "recheck fullness in a while loop after every wake-up, under the lock",
        )
    consumed = [item for w in h.crew.workers if w.name.startswith("consumer") for item in w.results]
    counts = Counter(consumed)
    produced = {(p, k) for p in range(producers) for k in range(items)}
    strange = [x for x in counts if x not in produced]
    duplicated = [x for x, n in counts.items() if n > 1 and x in produced]
    if strange or duplicated:
        bits = []
        if strange:
            bits.append(f"items never put: {strange[:5]}")
        if duplicated:
            bits.append(f"items received twice: {duplicated[:5]}")
        return _problem(
            f"each item put to be received exactly once ({setup})", "; ".join(bits),
            "protect every read and update of the storage and its indices with one mutex, "
            "and keep slot and index changes together inside it",
        )
    if stuck:
        inside = level["puts"] - level["gets"]
        producers_done = all(
            w.state is WorkerState.DONE for w in h.crew.workers if w.name.startswith("producer")
        )
        hint = ""  # only a lost wake-up has a known cause
        if producers_done and inside > 0:
            why = f"{inside} items sit in the buffer while consumers wait: a wake-up was lost"
            hint = _WAKE_HINT
        elif producers_done:
            why = "the consumers wait for items that were lost"
        else:
            why = "producers wait for space while consumers wait for items: deadlock"
        return _problem(f"every thread to finish ({setup})", f"{_stuck(stuck)}; {why}", hint)
    for w in h.crew.workers:
        if not w.name.startswith("consumer"):
            continue
        last: dict[int, int] = {}
        for p, k in w.results:
            if last.get(p, -1) > k:
                return _problem(
                    f"each producer's items to come out in the order they were put ({setup})",
                    f"{w.name} got {(p, last[p])} before {(p, k)}",
                    "@fifo",
                )
            last[p] = k
    if len(consumed) != total:
        return _problem(f"{total} items received", f"{len(consumed)}", "")
    return None


# --- checks (run in the grader, one child process each) -----------------------------------------


def check_interface(impl: str) -> None:
    """``BoundedBuffer(3).capacity == 3``; a capacity below 1 raises ValueError."""
    fail_on(run_check(_interface, impl))


def check_uses(impl: str, kind: str, at_least: int, hint: str) -> None:
    """The constructor creates at least ``at_least`` ``threading.<kind>`` primitives."""
    fail_on(run_check(_uses, impl, kind, at_least, hint))


def check_model_sequence(impl: str, capacity: int = 3, steps: int = 60, seed: int = 5, *,
                         style: str = "condition") -> None:
    """A seeded sequence of non-blocking puts and gets behaves like a FIFO queue."""
    with hinted(style):
        fail_on(run_check(_model_sequence, impl, capacity, steps, seed))


def check_put_blocks_when_full(impl: str, capacity: int = 2, *, style: str = "condition") -> None:
    """put() waits on a full buffer, a get() frees it, and the items stay in order."""
    with hinted(style):
        fail_on(run_check(_put_blocks_when_full, impl, capacity))


def check_get_blocks_when_empty(impl: str, *, style: str = "condition") -> None:
    """get() waits on an empty buffer and returns the item that a put() brings."""
    with hinted(style):
        fail_on(run_check(_get_blocks_when_empty, impl))


def check_spurious_wakeups(impl: str) -> None:
    """A ``Condition.wait()`` that returns without a notify does not break put() or get()."""
    with hinted("condition"):
        fail_on(run_check(_spurious, impl, "get", 1))
    with hinted("condition"):
        fail_on(run_check(_spurious, impl, "put", 2))


def check_no_busy_waiting(impl: str, window: float = 0.2, *, style: str = "condition") -> None:
    """A get() on an empty buffer blocks in a primitive and stays asleep for ``window`` seconds."""
    with hinted(style):
        fail_on(run_check(_busy, impl, window))


def check_mixed_waiters(impl: str, rounds: int = 3, *, style: str = "condition") -> None:
    """Producers and consumers waiting at once on a capacity-1 buffer all finish (OSTEP 30)."""
    with hinted(style):
        fail_on(run_check(_mixed_waiters, impl, budget(rounds)))


def check_stress(impl: str, *, producers: int, consumers: int, items: int, capacity: int,
                 trials: int, noise: float, seed: int, style: str = "condition") -> None:
    """Seeded runs with several threads: nothing lost, duplicated, over capacity, stuck or
    reordered."""
    with hinted(style):
        fail_on(run_check(_stress, impl, producers, consumers, items, capacity, budget(trials),
                          noise, seed))
