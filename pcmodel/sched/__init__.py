"""Controlled scheduling: find interleaving bugs on purpose, replay them, show them.

Runs a small program made of real Python threads so that exactly one runs at a time and a
strategy picks who goes next at every scheduling point: operations on a Lock, RLock, Condition,
Semaphore, BoundedSemaphore or Event, thread start/join/exit, ``time.sleep``, named
``yield_point(...)`` calls, and optionally the lines of chosen files. Ordinary student code that
imports only ``threading``, ``collections``, ``queue`` and ``time`` runs unchanged: the module
attributes are replaced by controlled versions for the duration of a run, so ``queue.Queue``,
``queue.SimpleQueue``, ``concurrent.futures.ThreadPoolExecutor`` (its workers and futures) and
pcmodel's thread buffers built inside the run are controlled too. Beyond "who runs next", the
scheduler chooses which waiter ``notify()`` wakes, and (through who runs next) whether a woken
waiter or a barging thread gets the lock; spurious wake-ups can be allowed. Time is virtual
(``time.sleep``, ``monotonic``, ``perf_counter``, ``time``, and every timeout).
Failing schedules (exception, deadlock, livelock, broken invariant, stuck thread) are minimised,
replayed exactly from their decisions, and printed as a table with one column per thread.
Releases, waits, notifies and thread starts are recorded but folded into the neighbouring
scheduling points, which cannot change any outcome (``reduce=False`` makes each its own point).

    from pcmodel.sched import explore
    result = explore(BoundedBuffer, producers=1, consumers=2, capacity=1, items=2)
    result.ok, result.complete, result.schedules
    print(result)            # summary, and for a failure: trace table and the replaying call
    result.failure.timeline()  # [(actor, state, start, end), ...] for a chart

Entry points: ``explore`` (producers/consumers around a buffer), ``explore_program`` (any
program, many schedules), ``run_controlled`` (one schedule), ``assert_no_interleaving_bug`` /
``assert_interleaving_bug`` (pytest), ``pcmodel explore`` (command line).

Why our own rather than a package: of the prior art on PyPI, ``frontrun`` is the mature one, but it
is a 30 000-line tool with a compiled (Rust) DPOR engine and SQL/Redis interception, whose
primitives spin-retry rather than model wait queues, so "which waiter notify() wakes" is not a
choice it exposes; ``interleave-test`` and ``ploom`` were not available to install here. pcmodel's
core is standard library only and meant to be read by students, so a short, explicit scheduler
(CHESS's iterative context bounding, PCT, a seeded random walk) whose trace speaks the
vocabulary of the lesson (``wait not_full``, ``notify not_empty -> wakes C2``) serves teaching
better.

Modules: ``runtime`` (the baton-passing core: the controller's loop), with
``scheduling_points`` (what a managed thread does at a point), ``diagnosis`` (deadlock, polling,
invariants, blocked states), ``teardown`` (ending every thread) and ``thread_context`` (which
managed thread runs here); ``primitives`` (controlled threading objects, one module per kind,
and virtual time), ``patching`` (installs them), ``thread_pools`` (what a thread pool needs
controlled), ``lines`` (which lines get a point),
``strategies``, ``explore`` (the exploration driver), with ``targets`` (traced files, re-bound
modules), ``minimise`` (shrinking a failure), ``results`` (Schedule, Failure,
ExplorationResult) and ``arguments`` (wrong arguments refused before any run); ``harness``
(producers/consumers around a buffer), ``trace`` (tables, timelines), ``testing`` (pytest
helpers), ``cli`` (``pcmodel explore``).
"""

from pcmodel.sched.explore import (
    STRATEGIES,
    ExplorationResult,
    Failure,
    Schedule,
    explore_program,
    run_controlled,
)
from pcmodel.sched.harness import BufferHarness, explore
from pcmodel.sched.runtime import (
    FailureKind,
    InvariantViolation,
    NondeterminismError,
    SchedulerAbort,
    yield_point,
)
from pcmodel.sched.strategies import PCT, DepthFirst, RandomWalk, Replay, Strategy
from pcmodel.sched.testing import assert_interleaving_bug, assert_no_interleaving_bug
from pcmodel.sched.trace import Interval, ThreadStatus, TraceEvent, format_table, timeline

__all__ = [
    "PCT",
    "STRATEGIES",
    "BufferHarness",
    "DepthFirst",
    "ExplorationResult",
    "Failure",
    "FailureKind",
    "Interval",
    "InvariantViolation",
    "NondeterminismError",
    "RandomWalk",
    "Replay",
    "Schedule",
    "SchedulerAbort",
    "Strategy",
    "ThreadStatus",
    "TraceEvent",
    "assert_interleaving_bug",
    "assert_no_interleaving_bug",
    "explore",
    "explore_program",
    "format_table",
    "run_controlled",
    "timeline",
    "yield_point",
]
