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

The pieces live in their own modules of :mod:`pcmodel.experiments`, and everything is importable
from here too: ``work`` (:class:`Work`, the per-item work), ``results`` (:class:`RunResult` and its
table and JSON forms) and ``actors`` (the producer and consumer loops, run as threads or
processes). This module validates the arguments, supervises a run from start signal to
shutdown, checks conservation, and sweeps a knob over many runs.

Prior art: ``concurrent.futures`` (exceptions travel back to the caller), the Python 3.13
``queue.Queue.shutdown`` idiom for ending consumers, and the experiment harnesses of OSTEP's
concurrency chapters (vary one knob, measure throughput and waiting).
"""

from __future__ import annotations

import ctypes
import inspect
import itertools
import multiprocessing
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from numbers import Real
from typing import Any

from pcmodel.buffers import BACKENDS, VARIANTS, Buffer, make_buffer
from pcmodel.experiments.actors import (
    JOIN_GRACE,
    ActorPlan,
    ProcessCrew,
    Report,
    ThreadCrew,
    plan_actors,
)
from pcmodel.experiments.progress import ProgressBar
from pcmodel.experiments.results import ActorResult, Role, RunResult, table
from pcmodel.experiments.work import Spread, Work, WorkKind, stoppable
from pcmodel.instrument import BufferStats, Level
from pcmodel.stop_signals import stop_signals_deferred

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


# -- how a run fails -----------------------------------------------------------------------------


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


def _checked(variant: Any, backend: Any, capacity: Any, producers: Any, consumers: Any,
             items: Any, produce_work: Any, consume_work: Any, seed: Any, instrument: Any,
             context: Any, progress: Any, batch: Any, timeout: Any
             ) -> tuple[Work | None, Work | None, Level, Any]:
    """Check run_workload's arguments (ValueError/TypeError naming the first wrong one);
    return the work, the instrument level and the multiprocessing context they stand for."""
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
    # True is not a number of seconds, and "60" would fail only once the run had started.
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, Real)
                                or not timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
    _flag_or_none("progress", progress)
    return (Work.parse(produce_work), Work.parse(consume_work),
            Level.parse(instrument, flags=False), _resolve_context(backend, context))


def _flag_or_none(name: str, value: Any) -> None:
    # "no" is true in Python: a bar drawn when it was refused.
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be True, False or None, not {value!r}")


def _values(name: str, values: Any) -> list[Any]:
    """``values`` as a list, when it is a collection of values and not one value (a string
    would be swept letter by letter)."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of values, not {values!r}: "
                        f"write {name}=[{values!r}]")
    return list(values)


def _refuse_fixed(fixed: Mapping[str, Any], swept: Sequence[str], sweep_name: str) -> None:
    clash = sorted(set(fixed) & set(swept))
    if clash:
        raise ValueError(f"{sweep_name} sets {', '.join(clash)} itself: leave "
                         f"{'it' if len(clash) == 1 else 'them'} out")


def _check_runs(runs: Sequence[Mapping[str, Any]], fixed: Mapping[str, Any]) -> None:
    """Check the arguments of every run of a sweep before the first starts: a mistake in the
    last value of a grid is not found after minutes of runs."""
    defaults = {name: p.default for name, p in inspect.signature(run_workload).parameters.items()}
    for run in runs:
        _checked(**{**defaults, **fixed, **run})


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
    draws a bar on stderr (None: only on a terminal). ``instrument`` is a :class:`Level` or its
    name: ``"timeline"`` (the default), ``"counters"`` or ``"off"``; None and bools are refused,
    since None here would read as the default and run unrecorded.

    Blocks until every actor has ended. Raises ValueError/TypeError for bad arguments (before
    anything starts), :class:`WorkerError` if an actor raised (the others are stopped first),
    :class:`ConservationError` if an item was lost or duplicated, and TimeoutError if the run
    took longer than ``timeout`` seconds (its actors are stopped first). Nothing is left running.
    """
    produce_work, consume_work, level, ctx = _checked(
        variant, backend, capacity, producers, consumers, items, produce_work, consume_work,
        seed, instrument, context, progress, batch, timeout)

    # A flag without a lock: an actor process killed while it looked at a lock would leave it
    # held, and the runner's stop would wait on it for ever.
    stop = ctypes.c_bool(False) if ctx is None else ctx.RawValue(ctypes.c_bool, False)
    plans = plan_actors(producers, consumers, items, stoppable(produce_work, stop),
                        stoppable(consume_work, stop), seed, batch,
                        start_timeout=JOIN_GRACE + 60.0)
    options: dict[str, Any] = {"instrument": level, "name": f"{variant}-run"}
    if ctx is not None:
        options["context"] = ctx
    buf = make_buffer(variant, capacity, backend, **options)
    try:
        if ctx is None:
            taken: Any = [0] * consumers
            crew: ThreadCrew | ProcessCrew = ThreadCrew(plans, buf, taken)
        else:
            taken = ctx.RawArray("q", consumers)
            crew = ProcessCrew(plans, buf, taken, ctx)
        with ProgressBar(items, f"{variant}/{backend}", enabled=progress) as bar:
            reports = _supervise(crew, buf, stop, plans, taken, bar, timeout)
        stats = buf.stats()
    finally:
        with stop_signals_deferred():  # a Ctrl-C cutting the clean-up would break it
            buf.close()
    return _result(variant, backend, capacity, producers, consumers, items, produce_work,
                   consume_work, seed, level, ctx, batch, plans, reports, stats)


def _supervise(crew: ThreadCrew | ProcessCrew, buf: Buffer, stop: Any,
               plans: Sequence[ActorPlan], taken: Any, bar: ProgressBar, timeout: float | None
               ) -> dict[str, Report]:
    """Start the crew, end the run by shutdown, and return every actor's report (or raise).

    Aborting a run (a failure, the timeout, an interrupt) sets ``stop.value`` as well as shutting
    the buffer down: an actor in the middle of an item's work stops too, not only one in the buffer.
    """
    reports: dict[str, Report] = {}

    def abort() -> None:
        stop.value = True
        buf.shutdown(immediate=True)

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
        _start(crew)
        if any(report.error is not None for report in reports.values()):
            abort()  # an actor failed before the start: stop the others
            aborted = True
        while len(reports) < len(plans):
            for report in crew.poll(0.05):
                reports[report.name] = report
                if report.error is not None and not aborted:
                    abort()  # wake everyone: the run cannot succeed
                    aborted = True
            if not shut_down and producers.issubset(reports):
                buf.shutdown()  # producers are done: consumers drain what is left, then stop
                shut_down = True
            bar.update(sum(taken))
            if deadline is not None and time.monotonic() > deadline and not aborted:
                abort()
                aborted = timed_out = True
                deadline = time.monotonic() + JOIN_GRACE  # time for actors to notice
            elif timed_out and deadline is not None and time.monotonic() > deadline:
                break
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) or failed: every actor, even one still waiting for the
        # start signal, goes on to meet the shut-down buffer and ends at once.
        abort()
        _start(crew)
        crew.stop(JOIN_GRACE)
        raise
    stragglers = crew.stop(JOIN_GRACE)
    failures = [(r.name, r.error) for r in reports.values() if r.error is not None]
    if failures:
        raise WorkerError(failures) from failures[0][1]
    if timed_out or stragglers:
        still = f"; still running: {', '.join(stragglers)}" if stragglers else ""
        raise TimeoutError(f"the run took longer than its timeout of {timeout}s and was stopped"
                           f"{still}")
    return reports


def _start(crew: ThreadCrew | ProcessCrew) -> None:
    """Give the crew its start signal, whole: a Ctrl-C or SIGTERM arriving meanwhile is raised
    once it is given. ``multiprocessing``'s ``Event.set()`` wakes each sleeper and then waits for
    its answer; cut between the two, the event is broken for good (the next ``set()`` fails an
    assertion inside it), and the actors that were never woken would keep the command alive."""
    with stop_signals_deferred():
        crew.start_signal.set()


def _result(variant: str, backend: str, capacity: int, producers: int, consumers: int,
            items: int, produce_work: Work | None, consume_work: Work | None, seed: int,
            level: Level, ctx: Any, batch: int, plans: Sequence[ActorPlan],
            reports: Mapping[str, Report], stats: BufferStats) -> RunResult:
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

    def blocked(report: Report) -> float | None:
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
    _flag_or_none("progress", progress)
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a dict of argument name to values "
                        f"({{'capacity': [1, 4, 16]}}), not {grid!r}")
    clash = set(grid) & set(fixed)
    if clash:
        raise ValueError(f"{sorted(clash)} given both in the grid and as fixed arguments")
    known = set(inspect.signature(run_workload).parameters)
    unknown = sorted(set(grid) - known) + sorted(set(fixed) - known)
    if unknown:
        raise TypeError(f"run_workload has no argument {', '.join(map(repr, unknown))}; "
                        f"choose from {', '.join(sorted(known))}")
    keys = list(grid)
    combos = list(itertools.product(*(_values(k, grid[k]) for k in keys)))
    _check_runs([dict(zip(keys, combo)) for combo in combos], fixed)
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
    return sweep({"backend": _values("backends", backends),
                  "variant": _values("variants", variants),
                  "capacity": _values("capacities", capacities)}, **fixed)


def speed_ratio_sweep(ratios: Iterable[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
                      consume_work: Work | str = "sleep:0.001", **fixed: Any) -> list[RunResult]:
    """Blocking vs producer/consumer speed: the consumer's work is fixed, the producer's is
    ``consume_work / ratio`` (ratio > 1: faster producers). ``RunResult.speed_ratio`` gives the
    ratio back for the x axis."""
    base = Work.parse(consume_work)
    if base is None or base.amount <= 0:
        raise ValueError("speed_ratio_sweep needs consumer work with an amount > 0")
    _refuse_fixed(fixed, ("produce_work",), "speed_ratio_sweep")
    progress = fixed.pop("progress", False)
    _flag_or_none("progress", progress)
    works = []
    for ratio in _values("ratios", ratios):
        if isinstance(ratio, bool) or not isinstance(ratio, Real) or not ratio > 0:
            raise ValueError(f"speed ratios must be numbers > 0, not {ratio!r}")
        amount = base.amount / ratio
        if base.kind is WorkKind.CPU:
            amount = max(1, round(amount))
        works.append(replace(base, amount=amount))
    return sweep({"produce_work": works}, consume_work=base, progress=progress, **fixed)


def actor_sweep(counts: Iterable[int] = (1, 2, 4), backends: Iterable[str] = BACKENDS,
                **fixed: Any) -> list[RunResult]:
    """Scaling: ``n`` producers and ``n`` consumers for each ``n`` in ``counts``, per backend.

    Pass ``produce_work``/``consume_work`` ("sleep:..." for I/O-bound, "cpu:..." for CPU-bound) to
    show the GIL: CPU-bound threads do not scale, processes do.
    """
    counts = _values("counts", counts)
    for n in counts:
        _positive_int("actor count", n)
    _refuse_fixed(fixed, ("backend", "producers", "consumers"), "actor_sweep")
    runs = [{"backend": backend, "producers": n, "consumers": n}
            for backend in _values("backends", backends) for n in counts]
    progress = fixed.pop("progress", False)
    _flag_or_none("progress", progress)
    _check_runs(runs, fixed)
    results = []
    with ProgressBar(len(runs), "actors", enabled=progress) as bar:
        for run in runs:
            results.append(run_workload(**run, **fixed))
            bar.advance()
    return results

