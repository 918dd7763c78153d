"""The live harness of the thread-buffer checks: what runs in the child, reported as data.

Each method drives the student's ``BoundedBuffer`` through worker threads
(:class:`~pcmodel.grading.crew.Crew`) and a blocking probe
(:class:`~pcmodel.grading.probes.Probe`), and returns plain data: a worker is reported as a
snapshot ``{"name", "state", "doing", "done", "error", "results", "blocked"}``, an item as
:func:`plain` makes it. The checks (:mod:`pcmodel.grading.buffer_checks`) are scenarios over
these methods, judged in the grader by :mod:`pcmodel.grading.replay`; nothing here decides
whether the student's code is right.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from typing import Any

from pcmodel.grading.crew import Crew, Worker, WorkerState, patience
from pcmodel.grading.probes import Probe, instrument, load_impl
from pcmodel.grading.replay import shape

__all__ = ["BLOCK_WAIT", "SEARCH", "SNAPSHOT", "STALL", "ThreadBuffers", "describe",
           "describe_all", "plain", "shown"]

STALL = 2.0  # seconds without any completed operation that count as "stuck"
BLOCK_WAIT = 2.0  # seconds a caller may take to block on a primitive
# Acquisitions tried without waiting, and without ever blocking, after which a caller that
# should block is known to poll: a correct put() or get() blocks after one or two.
POLLING = 200

SNAPSHOT = shape.record(
    name=shape.str, state=shape.either(*(lambda v, s=s.value: v == s for s in WorkerState)),
    doing=shape.str, done=shape.int, error=shape.str, results=shape.list_of(shape.any),
    blocked=shape.bool)
_SNAPSHOTS = shape.list_of(SNAPSHOT)
#: A schedule search's result as data: how many schedules ran, and the failure found (its kind
#: and its report, with the trace) or None.
SEARCH = shape.record(schedules=shape.int, failure=shape.either(
    shape.none, shape.record(kind=shape.str, text=shape.str)))
_STRESS = shape.record(consumed=shape.dict_of(shape.list_of(shape.any)), most_inside=shape.int,
                       inside=shape.int, producers_done=shape.bool, stuck=_SNAPSHOTS,
                       failed=_SNAPSHOTS)


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data: tuples become lists; anything else not JSON becomes
    ``{"object": repr}`` (so a wrong object never compares equal to an expected item)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return value
    if isinstance(value, (tuple, list)) and depth < 4 and len(value) < 1000:
        return [plain(v, depth + 1) for v in value]
    text = repr(value)
    return {"object": text if len(text) <= 60 else text[:50] + "..."}


def shown(item: Any) -> str:
    """An item as :func:`plain` made it, for a report: the repr kept for an object, a list
    shown as the tuple it was."""
    if isinstance(item, dict) and isinstance(item.get("object"), str):
        return item["object"]
    return repr(tuple(item)) if isinstance(item, list) else repr(item)


def describe(snapshot: dict[str, Any]) -> str:
    """What a worker snapshot says, for a report: ``producer stuck in put(3) after 2 ...``."""
    name, done = snapshot["name"], snapshot["done"]
    if snapshot["state"] == WorkerState.FAILED.value:
        return f"{name} raised {snapshot['error']}"
    if snapshot["state"] == WorkerState.DONE.value:
        return f"{name} finished after {done} operations"
    return f"{name} stuck in {snapshot['doing']} after {done} operations"


def describe_all(snapshots: list[dict[str, Any]]) -> str:
    return "; ".join(describe(s) for s in snapshots)


def _snapshot(worker: Worker) -> dict[str, Any]:
    return {"name": worker.name, "state": worker.state.value, "doing": worker.doing,
            "done": worker.done, "error": worker.error,
            "results": [plain(r) for r in worker.results], "blocked": worker.blocked}


class ThreadBuffers:
    """A fresh instrumented module and buffer per :meth:`fresh`, driven by named workers."""

    SHAPES = {
        "fresh": shape.none, "capacity_of": shape.any, "construct": shape.str,
        "created": shape.dict_of(shape.int), "put": SNAPSHOT, "get": SNAPSHOT, "fill": SNAPSHOT,
        "worker": SNAPSHOT, "finish": _SNAPSHOTS, "failures": _SNAPSHOTS,
        "spurious": shape.none, "spurious_done": shape.int,
        "idle": shape.record(cpu=shape.number, wakeups=shape.int),
        "sequence": shape.record(ops=shape.list_of(shape.any), stuck=_SNAPSHOTS,
                                 failed=_SNAPSHOTS),
        "stress": _STRESS, "fill_up": _STRESS, "last_slot": SEARCH,
    }

    def __init__(self, impl: str) -> None:
        self.impl = impl
        self.module = load_impl(impl, "BoundedBuffer")
        self.workers: dict[str, Worker] = {}

    def fresh(self, capacity: int, spurious: int = 0, noise: float = 0.0, seed: int = 0) -> None:
        """A new module, probe, buffer of ``capacity`` and crew (the old ones are abandoned)."""
        module = load_impl(self.impl, "BoundedBuffer")
        self.probe = Probe(spurious=spurious)
        instrument(module, self.probe)
        self.module = module
        self.source = module.__spec__.origin
        self.buffer = module.BoundedBuffer(capacity)
        self.crew = Crew(self.source, noise=noise, seed=seed, on_tick=self.probe.poke,
                         stillness=True)
        self.stall = STALL * patience()
        self.workers = {}

    def capacity_of(self, capacity: int) -> Any:
        """``BoundedBuffer(capacity).capacity`` as data (``{"missing": True}`` when absent)."""
        buf = self.module.BoundedBuffer(capacity)
        if not hasattr(buf, "capacity"):
            return {"missing": True}
        return plain(buf.capacity)

    def construct(self, capacity: int) -> str:
        """``"returned"``, ``"ValueError"`` or ``"raised <repr>"``: ``BoundedBuffer(capacity)``."""
        try:
            self.module.BoundedBuffer(capacity)
        except ValueError:
            return "ValueError"
        except Exception as exc:  # noqa: BLE001 - reported as an observation
            return f"raised {exc!r}"
        return "returned"

    def created(self) -> dict[str, int]:
        return dict(self.probe.created)

    def put(self, name: str, item: Any, settle: bool = False) -> dict[str, Any]:
        """Start a worker that puts ``item``; with ``settle``, return once it blocked or ended."""

        def body(w: Worker) -> None:
            w.step(f"put({item!r})")
            self.buffer.put(item)
            w.finished()

        return self._start(name, body, settle)

    def get(self, name: str, count: int = 1, settle: bool = False) -> dict[str, Any]:
        """Start a worker that gets ``count`` items (kept in its ``results``)."""

        def body(w: Worker) -> None:
            for _ in range(count):
                w.step("get()")
                w.finished(self.buffer.get(), keep=True)

        return self._start(name, body, settle)

    def fill(self, name: str, items: list[Any]) -> dict[str, Any]:
        """Start a worker that puts ``items`` one after the other."""

        def body(w: Worker) -> None:
            for item in items:
                w.step(f"put({item!r})")
                self.buffer.put(item)
                w.finished()

        return self._start(name, body, False)

    def _start(self, name: str, body: Any, settle: bool) -> dict[str, Any]:
        baseline = self.probe.blocked
        worker = self.crew.start(name, body)
        self.workers[name] = worker
        worker.blocked = False
        if settle:
            # Wait until the new worker blocks in a primitive (one more blocked thread) or ends,
            # or has taken the lock so often without ever blocking that it polls.
            tries = self.probe.tries
            deadline = time.monotonic() + BLOCK_WAIT * patience()
            while time.monotonic() < deadline and not self.probe.wait_until(
                    lambda: worker.state is not WorkerState.RUNNING
                    or self.probe.blocked > baseline,
                    min(0.05, max(0.0, deadline - time.monotonic()))):
                if self.probe.tries - tries >= POLLING and self.probe.blocked <= baseline:
                    break
            worker.blocked = worker.state is WorkerState.RUNNING and self.probe.blocked > baseline
        return _snapshot(worker)

    def worker(self, name: str) -> dict[str, Any]:
        return _snapshot(self.workers[name])

    def finish(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        """Wait for the named workers (default: all) to end; snapshots of those stuck."""
        watched = None if names is None else [self.workers[n] for n in names]
        return [_snapshot(w) for w in self.crew.wait(self.stall, watched)]

    def failures(self) -> list[dict[str, Any]]:
        return [_snapshot(w) for w in self.crew.failures()]

    def spurious(self, count: int) -> None:
        """From now on, the next ``count`` ``Condition.wait()`` calls return without a notify."""
        self.probe.spurious = count

    def spurious_done(self) -> int:
        return self.probe.spurious_done

    def idle(self, window: float) -> dict[str, Any]:
        """CPU time this process used and block events it had during ``window`` seconds."""
        events = self.probe.block_events
        cpu = time.process_time()
        # A measurement window, not a synchronisation: busy waiting only shows over time.
        threading.Event().wait(window)
        return {"cpu": time.process_time() - cpu, "wakeups": self.probe.block_events - events}

    def sequence(self, capacity: int, steps: int, seed: int, first: int,
                 get_share: float = 0.45) -> dict[str, Any]:
        """One worker runs the seeded put/get sequence of :func:`sequence_ops` on a fresh
        buffer; ``ops`` is ``[["put", item] | ["get", what get() returned], ...]`` as done."""
        self.fresh(capacity)
        ops: list[list[Any]] = []

        def body(w: Worker) -> None:
            for op, item in sequence_ops(capacity, steps, seed, first, get_share):
                if op == "get":
                    w.step(f"get() with {_inside(ops)} of {capacity} items inside")
                    got = plain(self.buffer.get())
                    ops.append(["get", got])
                    if got != item:
                        break  # the rest of the sequence would test a broken state
                else:
                    w.step(f"put({item}) with {_inside(ops)} of {capacity} items inside")
                    self.buffer.put(item)
                    ops.append(["put", item])
                w.finished()

        self.crew.start("main", body)
        stuck = self.crew.wait(self.stall)
        return {"ops": ops, "stuck": [_snapshot(w) for w in stuck],
                "failed": [_snapshot(w) for w in self.crew.failures()]}

    def stress(self, producers: int, consumers: int, items: int, capacity: int, noise: float,
               seed: int, base: int) -> dict[str, Any]:
        """Producers put ``(p, base + k)``, consumers get their share; what each consumer got,
        the most items ever put and not yet being taken, and who is stuck."""
        self.fresh(capacity, noise=noise, seed=seed)
        run = _StressRun(self, items, base)
        consumed = [run.consumer(c, producers * items, consumers) for c in range(consumers)]
        run.makers = [run.producer(p) for p in range(producers)]
        return run.record(consumed, self.crew.wait(self.stall))

    def fill_up(self, producers: int, capacity: int, base: int) -> dict[str, Any]:
        """The buffer filled with the consumers held back, then drained; the record of
        :meth:`stress`, for one consumer.

        Producer ``p`` tries to put ``capacity + 1`` items ``(p, base + k)``. The producers start
        one at a time, each once the previous one has blocked (or ended, or is seen to poll, or
        a bounded wait ran out): a lone producer that blocks has nobody left to release it, so
        ``most_inside`` then counts every put the buffer let in before the first get(), in every
        run. Only then does ``consumer 0`` start and take every item."""
        self.fresh(capacity)
        run = _StressRun(self, capacity + 1, base)
        deadline = time.monotonic() + BLOCK_WAIT * patience()  # for the whole fill
        for p in range(producers):
            run.makers.append(run.producer(p))
            self._settle_all(run.makers, deadline)
        consumed = [run.consumer(0, producers * (capacity + 1), 1)]
        return run.record(consumed, self.crew.wait(self.stall))

    def last_slot(self, max_schedules: int) -> dict[str, Any]:
        """The schedules of two producers racing for the last free slot
        (:data:`pcmodel.grading.sched_checks.LAST_SLOT`), searched with the controlled
        scheduler up to ``max_schedules``: the search's result as data."""
        from pcmodel.grading.sched_checks import LAST_SLOT, Explorer

        return Explorer(self.impl).buffer(dict(LAST_SLOT), max_schedules)

    def _settle_all(self, workers: list[Worker], deadline: float) -> None:
        """Wait until every worker of ``workers`` has ended or is blocked in a primitive (the
        probe counts as many blocked threads as there are workers still running), or they
        tried the primitives :data:`POLLING` times with no operation done and nobody newly
        blocked (they poll), or the ``deadline`` (``time.monotonic()``) passed."""

        def settled() -> bool:
            running = sum(w.state is WorkerState.RUNNING for w in workers)
            return self.probe.blocked >= running

        mark = (self.crew.progress, self.probe.block_events)
        tries = self.probe.tries
        while time.monotonic() < deadline and not self.probe.wait_until(
                settled, min(0.05, max(0.0, deadline - time.monotonic()))):
            now = (self.crew.progress, self.probe.block_events)
            if now != mark:
                mark, tries = now, self.probe.tries
            elif self.probe.tries - tries >= POLLING:
                break


class _StressRun:
    """The producers and consumers of one stress run on a harness's fresh buffer, and the
    meter of how many items were inside at most."""

    def __init__(self, harness: ThreadBuffers, items: int, base: int) -> None:
        self.harness = harness
        self.items = items
        self.base = base
        self.meter = threading.Lock()
        self.level = {"puts": 0, "gets_started": 0, "gets": 0, "max": 0}
        self.makers: list[Worker] = []

    def producer(self, p: int) -> Worker:
        """Start ``producer p``, which puts ``(p, base + k)`` for each of its items."""
        buffer, level, meter = self.harness.buffer, self.level, self.meter

        def body(w: Worker) -> None:
            for k in range(self.items):
                w.step(f"put({(p, self.base + k)})")
                buffer.put((p, self.base + k))
                with meter:
                    level["puts"] += 1
                    level["max"] = max(level["max"], level["puts"] - level["gets_started"])
                w.finished()

        return self.harness.crew.start(f"producer {p}", body)

    def consumer(self, c: int, total: int, consumers: int) -> Worker:
        """Start ``consumer c``, which gets its share of ``total`` items."""
        buffer, level, meter = self.harness.buffer, self.level, self.meter

        def body(w: Worker) -> None:
            for _ in range(total // consumers + (c < total % consumers)):
                with meter:
                    level["gets_started"] += 1
                w.step("get()")
                item = buffer.get()
                with meter:
                    level["gets"] += 1
                w.finished(item, keep=True)

        return self.harness.crew.start(f"consumer {c}", body)

    def record(self, consumers: list[Worker], stuck: list[Worker]) -> dict[str, Any]:
        return {
            "consumed": {w.name: [plain(r) for r in w.results] for w in consumers},
            "most_inside": self.level["max"],
            "inside": self.level["puts"] - self.level["gets"],
            "producers_done": all(w.state is WorkerState.DONE for w in self.makers),
            "stuck": [_snapshot(w) for w in stuck],
            "failed": [_snapshot(w) for w in self.harness.crew.failures()],
        }


def _inside(ops: list[list[Any]]) -> int:
    return sum(1 if op == "put" else -1 for op, _ in ops)


def sequence_ops(capacity: int, steps: int, seed: int, first: int,
                 get_share: float = 0.45) -> list[tuple[str, Any]]:
    """The seeded sequence of non-blocking operations: ``("put", item)`` or ``("get", item
    expected)``, never a get on an empty buffer or a put on a full one. Items count up from
    ``first``; a get is chosen with probability ``get_share`` (a small one fills the buffer)."""
    rng = random.Random(seed)
    model: deque[int] = deque()
    ops: list[tuple[str, Any]] = []
    next_item = first
    for _ in range(steps):
        if model and (len(model) == capacity or rng.random() < get_share):
            ops.append(("get", model.popleft()))
        else:
            ops.append(("put", next_item))
            model.append(next_item)
            next_item += 1
    return ops
