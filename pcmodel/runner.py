"""The workload runner: N producers and M consumers move items through one bounded buffer.

``run_workload()`` is the experiment behind ``pcmodel run``, the charts and the notebooks. It
builds a buffer (any variant, threads or processes), starts the actors, waits for them and returns
a frozen :class:`RunResult`: throughput, the fraction of their time each role spent blocked, the
buffer's maximum depth and its full :class:`~pcmodel.instrument.BufferStats` (with the timeline,
when one was recorded).

How a run ends, without one poison pill per consumer: producers put their share of the items and
report; once every producer has finished, the runner calls ``buffer.shutdown()``; consumers take
what is left and stop on ``ShutDown``. If any actor fails, the runner shuts the buffer down
immediately (so nobody stays blocked), waits for everyone, and raises :class:`WorkerError` in the
caller with the actor's exception as its cause. Every wait of the runner has a timeout, and nothing
it started is left running when it returns or raises.

Conservation is checked on every successful run: producers and consumers report how many items
they moved and two checksums (sum and sum of squares of the item numbers); if the consumers did not
take every produced item exactly once, :class:`ConservationError` is raised.

Prior art: ``concurrent.futures`` (exceptions travel back to the caller), the Python 3.13
``queue.Queue.shutdown`` idiom for ending consumers, and the experiment harnesses of OSTEP's
concurrency chapters (vary one knob, measure throughput and waiting).
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import multiprocessing.connection
import pickle
import queue
import random
import threading
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Any

from pcmodel.buffers import BACKENDS, VARIANTS, Buffer, make_buffer
from pcmodel.errors import ShutDown
from pcmodel.instrument import (
    ActorState,
    ActorStats,
    BufferStats,
    Interval,
    Level,
    Timeline,
)
from pcmodel.progress import ProgressBar

__all__ = [
    "ActorResult",
    "ConservationError",
    "Role",
    "RunResult",
    "Spread",
    "Work",
    "WorkKind",
    "WorkerError",
    "actor_sweep",
    "capacity_sweep",
    "run_workload",
    "speed_ratio_sweep",
    "sweep",
    "table",
]

DEFAULT_ITEMS = 2000
"""Items moved by a run unless told otherwise: enough to see blocking, done in about a second."""

DEFAULT_TIMEOUT = 300.0
"""Seconds a whole run may take before the runner gives up (shuts down, stops actors, raises)."""

_JOIN_GRACE = 10.0  # seconds an actor gets to finish after the buffer was shut down


# -- per-item work -------------------------------------------------------------------------------


class WorkKind(Enum):
    """What an actor does for each item besides moving it."""

    SLEEP = "sleep"  # time.sleep: models I/O (the GIL is released, threads overlap)
    CPU = "cpu"  # a pure-Python loop: models computation (threads take turns on the GIL)


class Spread(Enum):
    """How the amount of work varies from item to item (seeded, reproducible)."""

    FIXED = "fixed"  # exactly ``amount`` every time
    UNIFORM = "uniform"  # uniform between 0 and 2 * amount (mean ``amount``)
    EXPONENTIAL = "exp"  # exponential with mean ``amount``: bursty, like arrivals in a queue


@dataclass(frozen=True)
class Work:
    """Per-item work: ``Work("sleep", 0.001)``, ``Work("cpu", 20000)``, ``Work.parse("cpu:500")``.

    ``amount`` is seconds for ``sleep`` and loop iterations for ``cpu``; with a random ``spread``
    it is the mean. Subclasses may override :meth:`perform` (it runs in the actor, so under the
    ``spawn`` start method the subclass must be importable from a module).
    """

    kind: WorkKind
    amount: float
    spread: Spread = Spread.FIXED

    def __post_init__(self) -> None:
        try:
            kind = WorkKind(self.kind)
            spread = Spread(self.spread)
        except ValueError:
            kinds = ", ".join(repr(k.value) for k in WorkKind)
            spreads = ", ".join(repr(s.value) for s in Spread)
            raise ValueError(f"Work({self.kind!r}, {self.amount!r}, {self.spread!r}): kind must be "
                             f"one of {kinds} and spread one of {spreads}") from None
        amount = self.amount
        if (isinstance(amount, bool) or not isinstance(amount, (int, float))
                or not math.isfinite(amount) or amount < 0):
            raise ValueError(f"work amount must be a finite number >= 0, not {amount!r}")
        if kind is WorkKind.CPU and amount != int(amount):
            raise ValueError(f"cpu work counts loop iterations: use a whole number, not {amount!r}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "spread", spread)
        object.__setattr__(self, "amount", int(amount) if kind is WorkKind.CPU else float(amount))

    @classmethod
    def parse(cls, spec: str | Work | None) -> Work | None:
        """Read ``"sleep:SECONDS[:SPREAD]"`` or ``"cpu:ITERATIONS[:SPREAD]"``; None/"" mean none.

        SPREAD is ``fixed`` (default), ``uniform`` or ``exp``. Raises ValueError with the syntax.
        """
        if spec is None or isinstance(spec, Work):
            return spec
        text = spec.strip()
        if text in ("", "none", "0"):
            return None
        parts = text.split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            amount = float(parts[1]) if parts[0] == "sleep" else int(parts[1])
            return cls(WorkKind(parts[0]), amount, Spread(parts[2]) if len(parts) == 3 else
                       Spread.FIXED)
        except ValueError:
            raise ValueError(
                f"cannot read work {spec!r}: write sleep:SECONDS or cpu:ITERATIONS, optionally "
                "followed by :uniform or :exp for a random amount with that mean "
                "(e.g. sleep:0.001, cpu:20000, sleep:0.002:exp)"
            ) from None

    def __str__(self) -> str:
        amount = f"{self.amount:g}" if self.kind is WorkKind.SLEEP else str(self.amount)
        suffix = "" if self.spread is Spread.FIXED else f":{self.spread.value}"
        return f"{self.kind.value}:{amount}{suffix}"

    def sample(self, rng: random.Random) -> float:
        """The amount for one item, drawn from ``rng`` when the spread is random."""
        if self.spread is Spread.FIXED or self.amount == 0:
            return self.amount
        if self.spread is Spread.UNIFORM:
            return rng.uniform(0, 2 * self.amount)
        return rng.expovariate(1 / self.amount)

    def perform(self, rng: random.Random) -> None:
        """Do one item's work in the calling actor (sleeping, or spinning a loop)."""
        amount = self.sample(rng)
        if self.kind is WorkKind.SLEEP:
            time.sleep(amount)
        else:
            spin(int(amount))


def spin(iterations: int) -> int:
    """A CPU-bound loop that holds the GIL for ``iterations`` steps; returns a checksum."""
    total = 0
    for i in range(iterations):
        total ^= i
    return total


# -- results -------------------------------------------------------------------------------------


class Role(Enum):
    """Which side of the buffer an actor is on."""

    PRODUCER = "producer"
    CONSUMER = "consumer"


@dataclass(frozen=True)
class ActorResult:
    """What one producer or consumer did in a run.

    ``active`` is the seconds from the actor's start to its end (work, buffer operations and
    waiting); ``blocked`` the seconds of it spent waiting inside the buffer (for space, for a
    producer; for items, for a consumer), None when the run was not instrumented.
    """

    name: str
    role: Role
    items: int
    active: float
    blocked: float | None

    @property
    def blocked_fraction(self) -> float | None:
        """``blocked / active`` in [0, 1] (None when not instrumented or never active)."""
        if self.blocked is None or self.active <= 0:
            return None
        return min(1.0, max(0.0, self.blocked / self.active))


@dataclass(frozen=True, repr=False)
class RunResult:
    """One run of a workload: its parameters, what it measured, and the buffer's statistics.

    Parameters: ``variant``, ``backend``, ``capacity``, ``producers``, ``consumers``, ``items``,
    ``produce_work``/``consume_work`` (:class:`Work` or None), ``seed``, ``instrument`` (the
    level's name), ``start_method`` (process backend; None for threads), ``batch`` (items per
    ``put_many``/``get_many``; 1 means ``put``/``get``).

    Measurements: ``wall_time`` (seconds from the first actor's start to the last one's end),
    ``items_moved`` (items consumed; equals ``items`` when the run succeeded), ``throughput``
    (items moved per second of wall time), ``producer_blocked`` / ``consumer_blocked`` (the
    fraction of the role's active time spent waiting for space / for items, in [0, 1]; None when
    ``instrument="off"``), ``max_depth`` (most items ever in the buffer; None when off),
    ``actors`` (one :class:`ActorResult` each, producers first), ``stats`` (the buffer's snapshot,
    with ``stats.timeline`` when ``instrument="timeline"``) and ``started_at`` (the clock value,
    ``time.perf_counter``, at which the first actor started: subtract it from timeline times to
    start a chart at 0).
    """

    variant: str
    backend: str
    capacity: int
    producers: int
    consumers: int
    items: int
    produce_work: Work | None
    consume_work: Work | None
    seed: int
    instrument: str
    start_method: str | None
    batch: int
    wall_time: float
    items_moved: int
    throughput: float
    producer_blocked: float | None
    consumer_blocked: float | None
    max_depth: int | None
    actors: tuple[ActorResult, ...] = ()
    stats: BufferStats | None = None
    started_at: float = 0.0

    def __repr__(self) -> str:
        # Short on purpose: a notebook echoing a result must not print a whole timeline.
        def percent(fraction: float | None) -> str:
            return "-" if fraction is None else f"{fraction:.0%}"

        return (f"<RunResult {self.label}: {self.items_moved} items in {self.wall_time:.3g} s "
                f"= {self.throughput:,.0f} items/s; blocked: producers "
                f"{percent(self.producer_blocked)}, consumers {percent(self.consumer_blocked)}; "
                f"max depth {self.max_depth}>")

    @property
    def label(self) -> str:
        """A short name for legends: ``condition/thread cap=4 2x2``."""
        return (f"{self.variant}/{self.backend} cap={self.capacity} "
                f"{self.producers}x{self.consumers}")

    @property
    def timeline(self) -> Timeline | None:
        """The buffer's timeline (``instrument="timeline"`` only)."""
        return None if self.stats is None else self.stats.timeline

    @property
    def speed_ratio(self) -> float | None:
        """Producer speed / consumer speed: consumer work per item over producer work per item.

        Above 1 the producers are faster (they wait for space), below 1 the consumers are (they
        wait for items). None unless both sides have work of the same kind and non-zero amount.
        """
        produce, consume = self.produce_work, self.consume_work
        if produce is None or consume is None or produce.kind is not consume.kind:
            return None
        if produce.amount <= 0 or consume.amount <= 0:
            return None
        return consume.amount / produce.amount

    def summary(self) -> dict[str, Any]:
        """One flat row of parameters and measurements (see :func:`table` for many runs)."""
        return {
            "variant": self.variant,
            "backend": self.backend,
            "capacity": self.capacity,
            "producers": self.producers,
            "consumers": self.consumers,
            "items": self.items,
            "produce_work": None if self.produce_work is None else str(self.produce_work),
            "consume_work": None if self.consume_work is None else str(self.consume_work),
            "batch": self.batch,
            "wall_time_s": self.wall_time,
            "items_moved": self.items_moved,
            "throughput": self.throughput,
            "producer_blocked": self.producer_blocked,
            "consumer_blocked": self.consumer_blocked,
            "max_depth": self.max_depth,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per actor (name, role, items, active and blocked seconds, fraction)."""
        return [
            {
                "variant": self.variant,
                "backend": self.backend,
                "actor": a.name,
                "role": a.role.value,
                "items": a.items,
                "active_s": a.active,
                "blocked_s": a.blocked,
                "blocked_fraction": a.blocked_fraction,
            }
            for a in self.actors
        ]

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready plain values; :meth:`from_dict` reverses it exactly."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Work):
                value = str(value)
            elif f.name == "actors":
                value = [{"name": a.name, "role": a.role.value, "items": a.items,
                          "active": a.active, "blocked": a.blocked} for a in value]
            elif f.name == "stats":
                value = None if value is None else _stats_to_dict(value)
            data[f.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """Rebuild a result from :meth:`to_dict` output (e.g. after a JSON round trip)."""
        values = dict(data)
        values["produce_work"] = Work.parse(values["produce_work"])
        values["consume_work"] = Work.parse(values["consume_work"])
        values["actors"] = tuple(
            ActorResult(a["name"], Role(a["role"]), a["items"], a["active"], a["blocked"])
            for a in values["actors"]
        )
        if values.get("stats") is not None:
            values["stats"] = _stats_from_dict(values["stats"])
        return cls(**values)


def table(results: Iterable[RunResult]) -> list[dict[str, Any]]:
    """One :meth:`RunResult.summary` row per result: a table for printing or for pandas."""
    return [result.summary() for result in results]


def _stats_to_dict(stats: BufferStats) -> dict[str, Any]:
    timeline = stats.timeline
    return {
        "variant": stats.variant,
        "backend": stats.backend,
        "maxsize": stats.maxsize,
        "level": stats.level.value,
        "puts": stats.puts,
        "gets": stats.gets,
        "max_depth": stats.max_depth,
        "depth": stats.depth,
        "elapsed": stats.elapsed,
        "actors": [
            {"actor": a.actor, "puts": a.puts, "gets": a.gets,
             "blocked_on_full": a.blocked_on_full, "blocked_on_empty": a.blocked_on_empty,
             "waits_on_full": a.waits_on_full, "waits_on_empty": a.waits_on_empty}
            for a in stats.actors
        ],
        "timeline": None if timeline is None else {
            "intervals": [[i.actor, i.state.value, i.start, i.end] for i in timeline.intervals],
            "depth": [list(point) for point in timeline.depth],
        },
    }


def _stats_from_dict(data: Mapping[str, Any]) -> BufferStats:
    timeline = data["timeline"]
    return BufferStats(
        variant=data["variant"],
        backend=data["backend"],
        maxsize=data["maxsize"],
        level=Level(data["level"]),
        puts=data["puts"],
        gets=data["gets"],
        max_depth=data["max_depth"],
        depth=data["depth"],
        elapsed=data["elapsed"],
        actors=tuple(ActorStats(**a) for a in data["actors"]),
        timeline=None if timeline is None else Timeline(
            tuple(Interval(a, ActorState(s), b, e) for a, s, b, e in timeline["intervals"]),
            tuple((t, d) for t, d in timeline["depth"]),
        ),
    )


class WorkerError(RuntimeError):
    """An actor of a run raised; ``failures`` lists ``(actor name, exception)`` for each one.

    The first failure is also the ``__cause__``, so its traceback is printed with this error.
    """

    def __init__(self, failures: Sequence[tuple[str, BaseException]]) -> None:
        first_name, first = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        super().__init__(f"{first_name} failed with {type(first).__name__}: {first}{more}")
        self.failures = list(failures)


class ConservationError(AssertionError):
    """Items were lost or duplicated: what the consumers took is not what the producers put."""


# -- the actors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ActorPlan:
    """What one actor is to do; picklable, so it reaches process actors unchanged."""

    role: Role
    index: int
    name: str
    first: int  # producers: the item numbers first .. first + count - 1
    count: int
    work: Work | None
    seed: int
    batch: int
    start_timeout: float


@dataclass
class _Report:
    """What an actor tells the runner when it ends (sent through a pipe by process actors)."""

    name: str
    role: Role
    items: int = 0
    total: int = 0  # sum of the item numbers moved
    total_sq: int = 0  # sum of their squares: with the count and the sum, catches swaps
    started: float = 0.0
    ended: float = 0.0
    stopped: bool = False  # ended by an immediate shutdown (the run was being aborted)
    error: BaseException | None = None


def _act(plan: _ActorPlan, buf: Buffer, ready: Any, start: Any, progress: Any) -> _Report:
    """Run one actor to its end and say what it did; never raises (errors go in the report).

    The actor says it is ready, then waits for the start signal, so that slow starts (a spawned
    process importing modules) are not counted in the run's wall time.
    """
    report = _Report(plan.name, plan.role)
    try:
        ready.release()
        if not start.wait(plan.start_timeout):
            raise TimeoutError(f"{plan.name} got no start signal within {plan.start_timeout}s")
        rng = random.Random(f"{plan.seed}:{plan.role.value}:{plan.index}")
        report.started = time.perf_counter()
        if plan.role is Role.PRODUCER:
            _produce(plan, buf, rng, report)
        else:
            _consume(plan, buf, rng, report, progress)
    except ShutDown:
        report.stopped = True
    except BaseException as exc:  # every failure goes back to the caller, none is lost
        report.error = exc
    report.ended = time.perf_counter()
    return report


def _produce(plan: _ActorPlan, buf: Buffer, rng: random.Random, report: _Report) -> None:
    work = plan.work
    end = plan.first + plan.count
    if plan.batch == 1:
        put = buf.put
        for value in range(plan.first, end):
            if work is not None:
                work.perform(rng)
            put(value)
            # Counted only once the buffer accepted it.
            report.items += 1
            report.total += value
            report.total_sq += value * value
        return
    for low in range(plan.first, end, plan.batch):
        values = range(low, min(low + plan.batch, end))
        if work is not None:
            for _ in values:
                work.perform(rng)
        buf.put_many(values)
        report.items += len(values)
        report.total += sum(values)
        report.total_sq += sum(v * v for v in values)


def _consume(plan: _ActorPlan, buf: Buffer, rng: random.Random, report: _Report,
             progress: Any) -> None:
    work = plan.work
    batch = plan.batch
    slot = plan.index
    while True:
        try:
            values = [buf.get()] if batch == 1 else buf.get_many(batch)
        except ShutDown:
            return  # shut down and drained: the normal end of a consumer
        for value in values:
            if work is not None:
                work.perform(rng)
            report.items += 1
            report.total += value
            report.total_sq += value * value
        if progress is not None:
            progress[slot] = report.items


def _thread_main(plan: _ActorPlan, buf: Buffer, ready: Any, start: Any, progress: Any,
                 reports: queue.SimpleQueue) -> None:
    reports.put(_act(plan, buf, ready, start, progress))


def _process_main(plan: _ActorPlan, buf: Buffer, ready: Any, start: Any, progress: Any,
                  connection: multiprocessing.connection.Connection) -> None:
    report = _act(plan, buf, ready, start, progress)
    if report.error is not None:
        try:
            pickle.dumps(report.error)
        except Exception:
            text = "".join(traceback.format_exception(report.error))
            report.error = RuntimeError(f"{type(report.error).__name__} (not picklable):\n{text}")
    try:
        connection.send(report)
    finally:
        connection.close()


# -- crews: start actors, collect their reports, make sure they are gone -----------------------


class _ThreadCrew:
    """Actors as threads of this process."""

    def __init__(self, plans: Sequence[_ActorPlan], buf: Buffer, progress: list[int]) -> None:
        self.ready = threading.Semaphore(0)
        self.start_signal = threading.Event()
        self._reports: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=_thread_main, name=plan.name,
                             args=(plan, buf, self.ready, self.start_signal, progress,
                                   self._reports))
            for plan in plans
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def poll(self, timeout: float) -> list[_Report]:
        """Reports that arrived, waiting up to ``timeout`` for the first one."""
        try:
            got = [self._reports.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                got.append(self._reports.get_nowait())
            except queue.Empty:
                return got

    def stop(self, grace: float) -> list[str]:
        """Join every actor (within ``grace`` seconds in all); return the names still running."""
        deadline = time.monotonic() + grace
        for thread in self._threads:
            if thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]


class _ProcessCrew:
    """Actors as processes; each reports through its own pipe, and a death is noticed too."""

    def __init__(self, plans: Sequence[_ActorPlan], buf: Buffer, progress: Any,
                 context: Any) -> None:
        self.ready = context.Semaphore(0)
        self.start_signal = context.Event()
        self._pending: dict[Any, tuple[Any, Any]] = {}  # reader -> (process, plan)
        self._processes = []
        for plan in plans:
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_process_main, name=plan.name,
                                      args=(plan, buf, self.ready, self.start_signal, progress,
                                            writer))
            self._processes.append((process, writer))
            self._pending[reader] = (process, plan)

    def start(self) -> None:
        for process, writer in self._processes:
            process.start()
            writer.close()  # the child holds its own end; ours would hide the child's death

    def poll(self, timeout: float) -> list[_Report]:
        if not self._pending:
            return []
        sentinels = {process.sentinel: reader for reader, (process, _) in self._pending.items()
                     if process.pid is not None}
        ready = multiprocessing.connection.wait([*self._pending, *sentinels], timeout)
        got: list[_Report] = []
        for obj in ready:
            reader = sentinels.get(obj, obj)
            if reader not in self._pending:
                continue  # both the pipe and the sentinel were ready: already handled
            process, plan = self._pending[reader]
            if reader is obj or reader.poll():
                try:
                    got.append(reader.recv())
                except EOFError:
                    got.append(self._died(process, plan))
            else:
                got.append(self._died(process, plan))
            del self._pending[reader]
            reader.close()
        return got

    @staticmethod
    def _died(process: Any, plan: _ActorPlan) -> _Report:
        process.join(_JOIN_GRACE)
        error = RuntimeError(f"{plan.name} (pid {process.pid}) exited with code "
                             f"{process.exitcode} before reporting what it did")
        return _Report(plan.name, plan.role, error=error)

    def stop(self, grace: float) -> list[str]:
        deadline = time.monotonic() + grace
        for process, _ in self._processes:
            if process.pid is not None:
                process.join(max(0.0, deadline - time.monotonic()))
        stragglers = []
        for process, _ in self._processes:
            if process.pid is not None and process.is_alive():
                stragglers.append(process.name)
                process.terminate()
                process.join(_JOIN_GRACE)
                if process.is_alive():
                    process.kill()
                    process.join(_JOIN_GRACE)
        for reader in self._pending:
            reader.close()
        self._pending.clear()
        for process, _ in self._processes:
            if process.pid is not None and not process.is_alive():
                process.close()
        return stragglers


# -- the runner ----------------------------------------------------------------------------------


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, not {value!r}")
    return value


def _resolve_context(backend: str, context: Any) -> Any:
    if backend == "thread":
        if context is not None:
            raise ValueError("context= (a multiprocessing start method) is for backend='process'; "
                             "leave it out for threads")
        return None
    if context is None:
        return multiprocessing.get_context()
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError(f"start method {context!r} is not available here; choose one of "
                             f"{', '.join(repr(m) for m in methods)}")
        return multiprocessing.get_context(context)
    if not hasattr(context, "get_start_method"):
        raise TypeError(f"context must be a start method name or a multiprocessing context, not "
                        f"{context!r}")
    return context


def _plans(producers: int, consumers: int, items: int, produce_work: Work | None,
           consume_work: Work | None, seed: int, batch: int, start_timeout: float
           ) -> list[_ActorPlan]:
    """Producers first (each a contiguous share of the item numbers), then consumers."""
    plans = []
    first = 0
    share, extra = divmod(items, producers)
    for index in range(producers):
        count = share + (1 if index < extra else 0)
        plans.append(_ActorPlan(Role.PRODUCER, index, f"producer-{index}", first, count,
                                produce_work, seed, batch, start_timeout))
        first += count
    for index in range(consumers):
        plans.append(_ActorPlan(Role.CONSUMER, index, f"consumer-{index}", 0, 0, consume_work,
                                seed, batch, start_timeout))
    return plans


def run_workload(
    variant: str = "condition",
    backend: str = "thread",
    capacity: int = 8,
    producers: int = 2,
    consumers: int = 2,
    items: int = DEFAULT_ITEMS,
    produce_work: Work | str | None = None,
    consume_work: Work | str | None = None,
    seed: int = 0,
    instrument: str | Level = "timeline",
    context: Any = None,
    progress: bool | None = False,
    batch: int = 1,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> RunResult:
    """Move ``items`` items from ``producers`` to ``consumers`` through one buffer; measure it.

    ``variant``/``backend``/``capacity`` choose the buffer (``make_buffer``); ``produce_work`` and
    ``consume_work`` are per-item :class:`Work` (or its text form, ``"sleep:0.001"``), done by a
    producer before each put and by a consumer after each get, with amounts drawn from generators
    seeded by ``seed``. ``context`` is a multiprocessing context or start method name (process
    backend only). ``batch > 1`` moves items with ``put_many``/``get_many``. ``progress=True``
    draws a bar on stderr (None: only on a terminal).

    Blocks until every actor has ended. Raises ValueError/TypeError for bad arguments (before
    anything starts), :class:`WorkerError` if an actor raised (the others are stopped first),
    :class:`ConservationError` if an item was lost or duplicated, and TimeoutError if the run
    took longer than ``timeout`` seconds (its actors are stopped first). Nothing is left running.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of "
                         f"{', '.join(repr(v) for v in VARIANTS)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of "
                         f"{', '.join(repr(b) for b in BACKENDS)}")
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise ValueError(f"capacity must be an int (<= 0: unbounded, threads only), not "
                         f"{capacity!r}")
    _positive_int("producers", producers)
    _positive_int("consumers", consumers)
    _positive_int("items", items, 0)
    _positive_int("batch", batch)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, not {seed!r}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
    produce_work = Work.parse(produce_work)
    consume_work = Work.parse(consume_work)
    level = Level.parse(instrument)
    ctx = _resolve_context(backend, context)

    plans = _plans(producers, consumers, items, produce_work, consume_work, seed, batch,
                   start_timeout=_JOIN_GRACE + 60.0)
    options: dict[str, Any] = {"instrument": level, "name": f"{variant}-run"}
    if ctx is not None:
        options["context"] = ctx
    buf = make_buffer(variant, capacity, backend, **options)
    try:
        if ctx is None:
            taken: Any = [0] * consumers
            crew: _ThreadCrew | _ProcessCrew = _ThreadCrew(plans, buf, taken)
        else:
            taken = ctx.RawArray("q", consumers)
            crew = _ProcessCrew(plans, buf, taken, ctx)
        with ProgressBar(items, f"{variant}/{backend}", enabled=progress) as bar:
            reports = _supervise(crew, buf, plans, taken, bar, timeout)
        stats = buf.stats()
    finally:
        buf.close()
    return _result(variant, backend, capacity, producers, consumers, items, produce_work,
                   consume_work, seed, level, ctx, batch, plans, reports, stats)


def _supervise(crew: _ThreadCrew | _ProcessCrew, buf: Buffer, plans: Sequence[_ActorPlan],
               taken: Any, bar: ProgressBar, timeout: float | None) -> dict[str, _Report]:
    """Start the crew, end the run by shutdown, and return every actor's report (or raise)."""
    reports: dict[str, _Report] = {}
    producers = {plan.name for plan in plans if plan.role is Role.PRODUCER}
    aborted = timed_out = shut_down = False
    try:
        crew.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        ready = 0
        while ready + len(reports) < len(plans):  # an actor that died at birth only reports
            if crew.ready.acquire(timeout=0.05):
                ready += 1
            else:
                for report in crew.poll(0):
                    reports[report.name] = report
            if deadline is not None and time.monotonic() > deadline:
                break
        crew.start_signal.set()
        if any(report.error is not None for report in reports.values()):
            buf.shutdown(immediate=True)  # an actor failed before the start: stop the others
            aborted = True
        while len(reports) < len(plans):
            for report in crew.poll(0.05):
                reports[report.name] = report
                if report.error is not None and not aborted:
                    buf.shutdown(immediate=True)  # wake everyone: the run cannot succeed
                    aborted = True
            if not shut_down and producers.issubset(reports):
                buf.shutdown()  # producers are done: consumers drain what is left, then stop
                shut_down = True
            bar.update(sum(taken))
            if deadline is not None and time.monotonic() > deadline and not aborted:
                buf.shutdown(immediate=True)
                aborted = timed_out = True
                deadline = time.monotonic() + _JOIN_GRACE  # time for actors to notice
            elif timed_out and deadline is not None and time.monotonic() > deadline:
                break
    except BaseException:
        buf.shutdown(immediate=True)
        crew.stop(_JOIN_GRACE)
        raise
    stragglers = crew.stop(_JOIN_GRACE)
    failures = [(r.name, r.error) for r in reports.values() if r.error is not None]
    if failures:
        raise WorkerError(failures) from failures[0][1]
    if timed_out or stragglers:
        still = f"; still running: {', '.join(stragglers)}" if stragglers else ""
        raise TimeoutError(f"the run took longer than its timeout of {timeout}s and was stopped"
                           f"{still}")
    return reports


def _result(variant: str, backend: str, capacity: int, producers: int, consumers: int,
            items: int, produce_work: Work | None, consume_work: Work | None, seed: int,
            level: Level, ctx: Any, batch: int, plans: Sequence[_ActorPlan],
            reports: Mapping[str, _Report], stats: BufferStats) -> RunResult:
    """Check conservation and turn the reports and the buffer's stats into a RunResult."""
    made = [reports[p.name] for p in plans if p.role is Role.PRODUCER]
    used = [reports[p.name] for p in plans if p.role is Role.CONSUMER]
    expected = (items, items * (items - 1) // 2, (items - 1) * items * (2 * items - 1) // 6)
    produced = tuple(sum(getattr(r, key) for r in made) for key in ("items", "total", "total_sq"))
    consumed = tuple(sum(getattr(r, key) for r in used) for key in ("items", "total", "total_sq"))
    if produced != expected or consumed != produced:
        raise ConservationError(
            f"{variant}/{backend}: producers reported (count, sum, sum of squares) {produced}, "
            f"consumers {consumed}, expected {expected}: items were lost or duplicated"
        )
    instrumented = level is not Level.OFF
    by_actor = {a.actor: a for a in stats.actors}

    def blocked(report: _Report) -> float | None:
        if not instrumented:
            return None
        actor = by_actor.get(report.name)
        if actor is None:
            return 0.0
        return actor.blocked_on_full if report.role is Role.PRODUCER else actor.blocked_on_empty

    actors = tuple(ActorResult(r.name, r.role, r.items, max(0.0, r.ended - r.started), blocked(r))
                   for r in (*made, *used))
    started = min((r.started for r in reports.values()), default=0.0)
    ended = max((r.ended for r in reports.values()), default=0.0)
    wall = max(0.0, ended - started)

    def fraction(role: Role) -> float | None:
        if not instrumented:
            return None
        mine = [a for a in actors if a.role is role]
        active = sum(a.active for a in mine)
        return min(1.0, sum(a.blocked or 0.0 for a in mine) / active) if active > 0 else 0.0

    return RunResult(
        variant=variant,
        backend=backend,
        capacity=capacity,
        producers=producers,
        consumers=consumers,
        items=items,
        produce_work=produce_work,
        consume_work=consume_work,
        seed=seed,
        instrument=level.value,
        start_method=None if ctx is None else ctx.get_start_method(),
        batch=batch,
        wall_time=wall,
        items_moved=consumed[0],
        throughput=consumed[0] / wall if wall > 0 else 0.0,
        producer_blocked=fraction(Role.PRODUCER),
        consumer_blocked=fraction(Role.CONSUMER),
        max_depth=stats.max_depth if instrumented else None,
        actors=actors,
        stats=stats,
        started_at=started,
    )


# -- sweeps for notebooks and charts -------------------------------------------------------------


def sweep(grid: Mapping[str, Iterable[Any]], *, repeat: int = 1, progress: bool | None = False,
          **fixed: Any) -> list[RunResult]:
    """Run :func:`run_workload` for every combination of ``grid`` (``{"capacity": [1, 4, 16],
    "variant": VARIANTS}``), ``repeat`` times each, with ``fixed`` keyword arguments for all.

    Results come in grid order (the last key varies fastest), repeats adjacent. ``progress``
    draws one bar for the whole sweep. Raises what :func:`run_workload` raises, at once.
    """
    _positive_int("repeat", repeat)
    clash = set(grid) & set(fixed)
    if clash:
        raise ValueError(f"{sorted(clash)} given both in the grid and as fixed arguments")
    keys = list(grid)
    combos = list(itertools.product(*(list(grid[k]) for k in keys)))
    results = []
    with ProgressBar(len(combos) * repeat, "sweep", enabled=progress) as bar:
        for combo in combos:
            for _ in range(repeat):
                results.append(run_workload(**dict(zip(keys, combo)), **fixed))
                bar.advance()
    return results


def capacity_sweep(capacities: Iterable[int] = (1, 2, 4, 8, 16, 64),
                   variants: Iterable[str] = VARIANTS, backends: Iterable[str] = ("thread",),
                   **fixed: Any) -> list[RunResult]:
    """Throughput vs capacity: every backend x variant x capacity (one line per variant)."""
    return sweep({"backend": backends, "variant": variants, "capacity": capacities}, **fixed)


def speed_ratio_sweep(ratios: Iterable[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
                      consume_work: Work | str = "sleep:0.001", **fixed: Any) -> list[RunResult]:
    """Blocking vs producer/consumer speed: the consumer's work is fixed, the producer's is
    ``consume_work / ratio`` (ratio > 1: faster producers). ``RunResult.speed_ratio`` gives the
    ratio back for the x axis."""
    base = Work.parse(consume_work)
    if base is None or base.amount <= 0:
        raise ValueError("speed_ratio_sweep needs consumer work with an amount > 0")
    results = []
    ratios = list(ratios)
    for ratio in ratios:
        if not ratio > 0:
            raise ValueError(f"speed ratios must be > 0, not {ratio!r}")
    with ProgressBar(len(ratios), "speed ratios", enabled=fixed.pop("progress", False)) as bar:
        for ratio in ratios:
            amount = base.amount / ratio
            if base.kind is WorkKind.CPU:
                amount = max(1, round(amount))
            produce = replace(base, amount=amount)
            results.append(run_workload(produce_work=produce, consume_work=base, **fixed))
            bar.advance()
    return results


def actor_sweep(counts: Iterable[int] = (1, 2, 4), backends: Iterable[str] = BACKENDS,
                **fixed: Any) -> list[RunResult]:
    """Scaling: ``n`` producers and ``n`` consumers for each ``n`` in ``counts``, per backend.

    Pass ``produce_work``/``consume_work`` ("sleep:..." for I/O-bound, "cpu:..." for CPU-bound) to
    show the GIL: CPU-bound threads do not scale, processes do.
    """
    counts = list(counts)
    for n in counts:
        _positive_int("actor count", n)
    results = []
    backends = list(backends)
    with ProgressBar(len(counts) * len(backends), "actors", enabled=fixed.pop("progress", False)
                     ) as bar:
        for backend in backends:
            for n in counts:
                results.append(run_workload(backend=backend, producers=n, consumers=n, **fixed))
                bar.advance()
    return results

