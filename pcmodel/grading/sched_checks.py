"""Graded checks that search thread interleavings with pcmodel's controllable scheduler.

Some bugs never show under CPython's GIL by stress alone: a ring buffer whose slot and index are
updated without a mutex loses no item in tens of thousands of runs. :mod:`pcmodel.sched` runs the
student's buffer so that one thread runs at a time and explores the schedules depth-first with a
bound on preemptions (CHESS's iterative context bounding), optionally with every line of the
student's file as a scheduling point. A failure comes back with its trace table, which the report
shows to the student. The search is bounded: no failure within the budget earns the points; a
failure is certain, replayable evidence.

The search runs in the check's child process, on the student's code; it reports what it found
(the failure's kind and trace, how many schedules it ran) as data, and the grader turns that into
the verdict (:func:`pcmodel.grading.replay.judge`). That a search found *nothing* is the child's
word: it is the one observation here that the grader cannot re-check.

Where :mod:`pcmodel.sched` cannot be imported, the same check falls back to seeded stress with
noise injection (:func:`pcmodel.grading.buffer_checks.check_stress`), which catches the same bugs
with high probability instead of certainty.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from pcmodel.grading import buffer_checks
from pcmodel.grading.checks import DEFAULT_TIME_LIMIT, budget, fail_on
from pcmodel.grading.hints import hinted
from pcmodel.grading.probes import (
    load_impl,
)
from pcmodel.grading.replay import judge
from pcmodel.grading.thread_harness import SEARCH

__all__ = [
    "LAST_SLOT",
    "PIPELINE_SCENARIOS",
    "SCENARIOS",
    "check_interleavings",
    "check_pipeline_interleavings",
    "scheduler_available",
    "search_problem",
]

# Small configurations where each classic bug has a short failing schedule (OSTEP 30's 1P/2C,
# two producers racing on one slot, consumers racing on the head, two producers both let past
# the fullness test of a capacity-1 buffer before either stores its item), each searched up to
# ``max_schedules`` schedules. ``lines=True`` makes no switch inside a critical section, which
# is sound only when every thread takes the same lock; the last search switches there too
# (``lines="all"``), so that a "mutex" each call makes afresh (``with threading.Lock():``),
# which excludes no one, loses an item as surely as no mutex at all.
SCENARIOS: tuple[dict[str, Any], ...] = (
    {"producers": 1, "consumers": 2, "capacity": 1, "items": 2, "lines": False},
    {"producers": 2, "consumers": 1, "capacity": 2, "items": 1, "lines": True},
    {"producers": 1, "consumers": 2, "capacity": 3, "items": 4, "lines": True},
    {"producers": 2, "consumers": 1, "capacity": 1, "items": 1, "lines": True},
    {"producers": 2, "consumers": 1, "capacity": 2, "items": 1, "lines": "all"},
)

# The last of them on its own: two producers racing for the last free slot. The stress checks
# (:func:`pcmodel.grading.buffer_checks.check_stress`) search it too, so that a put() that
# stores its item after letting go of the lock is over capacity there in every grading, not
# only when the perturbed timing happens to stop a producer between its test and its store.
LAST_SLOT = SCENARIOS[3]

_MAX_TRACE_LINES = 200

# Hints by failure kind, only where the kind says the cause; a deadlock (a lost wake-up or a
# lock order?), an exception or a broken invariant is explained by the trace itself.
_HINTS = {
    "livelock": "@no-poll",
    "polling": "@no-poll",
}


def scheduler_available() -> bool:
    """True when :mod:`pcmodel.sched` can be imported."""
    try:
        import pcmodel.sched  # noqa: F401
    except ImportError:
        return False
    return True


def _found(result: Any) -> dict[str, Any]:
    """An exploration's result as data."""
    failure = None
    if result.failure is not None:
        failure = {"kind": result.failure.kind.value, "text": str(result.failure)}
    return {"schedules": result.schedules, "failure": failure}


class Explorer:
    """The live harness: schedule searches over the student's code, reported as data."""

    SHAPES = {"buffer": SEARCH, "pipeline": SEARCH}

    def __init__(self, impl: str) -> None:
        self.impl = impl

    def buffer(self, scenario: dict[str, Any], max_schedules: int) -> dict[str, Any]:
        return _found(_explore(self.impl, scenario, max_schedules))

    def pipeline(self, scenario: dict[str, Any], max_schedules: int) -> dict[str, Any]:
        return _found(_explore_pipeline(self.impl, scenario, max_schedules))


def _explore(impl: str, scenario: dict[str, Any], max_schedules: int) -> Any:
    from pcmodel.sched import explore

    module = load_impl(impl, "BoundedBuffer")
    return explore(
        module.BoundedBuffer,
        strategy="dfs",
        preemption_bound=1,
        max_schedules=max_schedules,
        max_steps=3000,
        time_limit=8.0,
        **scenario,
    )


def _buffer_scenario(h: Any, scenario: dict[str, Any], max_schedules: int) -> Any:
    setup = (f"{scenario['producers']} producers x {scenario['items']} items, "
             f"{scenario['consumers']} consumers, capacity {scenario['capacity']}")
    return search_problem(h.buffer(scenario, max_schedules), setup, _HINTS)


def _pipeline_scenario(h: Any, scenario: dict[str, Any], max_schedules: int) -> Any:
    setup = (f"run_pipeline(sources={[list(s) for s in scenario['sources']]}, handle, "
             f"consumers={scenario['consumers']}, capacity={scenario['capacity']})")
    return search_problem(h.pipeline(scenario, max_schedules), setup, _PIPELINE_HINTS)


def search_problem(found: dict[str, Any], setup: str,
                   hints: dict[str, str]) -> dict[str, str] | None:
    """The problem dictionary for an exploration's failure (None when it found none); raises
    ValueError for a search that ran no schedule (observations that do not fit)."""
    if found["schedules"] < 1:
        raise ValueError("a search that ran no schedule")
    if found["failure"] is None:
        return None
    kind = found["failure"]["kind"]
    text = found["failure"]["text"]
    lines = text.splitlines()
    if len(lines) > _MAX_TRACE_LINES:
        text = "\n".join([*lines[:_MAX_TRACE_LINES], f"... ({len(lines) - _MAX_TRACE_LINES} more)"])
    head = []
    for line in text.splitlines():
        if line.startswith(("Failing schedule", "Traceback")) or len(head) == 3:
            break
        if line.strip():
            head.append(line.strip())
    first = " ".join(head) or kind
    return {
        "expected": f"no interleaving of {setup} to fail",
        "got": f"{first} (found after {found['schedules']} schedules; the trace shows it step by "
        "step, and the last line replays it)",
        "hint": hints.get(kind, ""),
        "details": text,
    }


# Pipelines: small enough to search, with every parameter different so that no shortcut that
# confuses two of them (one consumer per source, a marker per producer) passes. The depth-first
# search tries the schedules that differ near their end first; the last search draws random
# thread priorities with one change point (PCT, seeded: the same schedules in every grading),
# which reaches a preemption in the middle of a run, such as a producer stopped between
# counting itself finished and reading the count, within a few schedules.
PIPELINE_SCENARIOS: tuple[dict[str, Any], ...] = (
    {"sources": ((1, 2), (3,)), "consumers": 3, "capacity": 1, "lines": False},
    {"sources": ((1,), (2, 3)), "consumers": 2, "capacity": 1, "lines": True},
    {"sources": ((1,), (2, 3)), "consumers": 2, "capacity": 1, "lines": True,
     "strategy": "pct", "seed": 5, "schedules": 40},
)

_PIPELINE_HINTS = {
    "deadlock": "every thread waits: a consumer never received its end-of-stream marker, or a "
    "producer waits on a full queue that nobody empties any more",
}


def _explore_pipeline(impl: str, scenario: dict[str, Any], max_schedules: int) -> Any:
    from pcmodel.sched import InvariantViolation, explore_program
    from pcmodel.sched.runtime import current_thread

    module = load_impl(impl, "run_pipeline")
    sources = [list(s) for s in scenario["sources"]]
    everything = sorted(x for s in sources for x in s)
    runs: list[Any] = []  # the current schedule's run, for the invariant (set by program())

    def waits_untimed() -> bool:
        # The README's "no polling": a thread that cannot go on waits in get(), put() or join()
        # without a timeout. A timed wait is caught while it waits, not only when the program
        # would hang without its timeout: a loop of timed get(), put() or join() ends correctly
        # here, since every other thread keeps moving, and only costs the CPU. A zero timeout
        # (a non-blocking try, as ThreadPoolExecutor makes) waits for nothing.
        run = runs[-1] if runs else None
        for t in () if run is None else run.threads:
            pending = t.pending
            if (not t.finished and pending is not None and pending.deadline is not None
                    and pending.deadline > run.clock and not pending.enabled()):
                what = pending.describe() if pending.describe else pending.op
                raise InvariantViolation(
                    f"{t.name} {what} with a timeout: a waiting thread polls (it wakes when the "
                    "timeout runs out, not when another thread lets it go on); wait in get(), "
                    "put() or join() without a timeout")
        return True

    def fresh_invariants() -> tuple[Any, ...]:
        runs.clear()  # a new schedule: nothing of the previous run's threads is looked at
        return (waits_untimed,)

    def program() -> None:
        handled: list[int] = []
        me = current_thread()
        runs[:] = [me.run]
        module.run_pipeline([iter(s) for s in sources], handled.append, scenario["consumers"],
                            scenario["capacity"])
        running = [t.name for t in me.run.threads if t is not me and not t.finished]
        if running:
            raise InvariantViolation(
                f"run_pipeline() returned while threads it started still run: {running}")
        if sorted(handled) != everything:
            raise InvariantViolation(
                f"handled {sorted(handled)}, expected each of {everything} exactly once")

    return explore_program(
        program, strategy=scenario.get("strategy", "dfs"), preemption_bound=1, pct_depth=2,
        seed=scenario.get("seed", 0), max_schedules=max_schedules, max_steps=4000, time_limit=8.0,
        allow_polling=False, bind=[module], trace=[impl] if scenario["lines"] else (),
        invariants=fresh_invariants,
    )


def _each(one: Any, h: Any, scenarios: Any, budgets: Any) -> Any:
    """The first problem of ``one(h, scenario, budget)`` over the scenarios, in order: all of
    them searched in one child process, which costs one process start, not one each."""
    for scenario, amount in zip(scenarios, budgets):
        found = one(h, scenario, amount)
        if found is not None:
            return found
    return None


def _time_limit(scenarios: Any) -> float:
    """The child's time for searching ``scenarios`` (each search stops after 8 s)."""
    return DEFAULT_TIME_LIMIT + 8.0 * (len(scenarios) - 1)


def check_pipeline_interleavings(impl: str, max_schedules: int = 120) -> None:
    """Search the schedules of small pipelines for a lost item, a hang or a thread left running."""
    if not scheduler_available():
        return
    budgets = [budget(s.get("schedules", max_schedules)) for s in PIPELINE_SCENARIOS]
    fail_on(judge(partial(_each, _pipeline_scenario), partial(Explorer, impl),
                  PIPELINE_SCENARIOS, budgets, time_limit=_time_limit(PIPELINE_SCENARIOS)))


def check_interleavings(impl: str, max_schedules: int = 150, *, style: str = "condition") -> None:
    """Search the schedules of small producer/consumer configurations for a failure."""
    if not scheduler_available():
        buffer_checks.check_stress(impl, producers=2, consumers=2, items=3, capacity=1,
                                   trials=40, noise=0.5, seed=7)
        return
    budgets = [budget(max_schedules)] * len(SCENARIOS)
    with hinted(style):
        fail_on(judge(partial(_each, _buffer_scenario), partial(Explorer, impl), SCENARIOS,
                      budgets, time_limit=_time_limit(SCENARIOS)))
