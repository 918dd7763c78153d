# Exploring schedules: run a program many times under a strategy, stop at the first failure,
# minimise it, and package it so that it can be replayed, printed and drawn.
#
# Every schedule re-executes the program from the start (stateless model checking, as CHESS and
# loom do): the program must build its own state each time it is called.

from __future__ import annotations

import inspect
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from pcmodel.sched.runtime import Choice, ControlledRun, FailureKind
from pcmodel.sched.strategies import PCT, DepthFirst, RandomWalk, Replay, Strategy
from pcmodel.sched.trace import Interval, TraceEvent, format_table, timeline

__all__ = [
    "STRATEGIES",
    "ExplorationResult",
    "Failure",
    "Schedule",
    "explore_program",
    "run_controlled",
]

STRATEGIES = ("dfs", "random", "pct")

_perf_counter = time.perf_counter  # saved: runs patch the time module

_MINIMISABLE = (
    FailureKind.EXCEPTION,
    FailureKind.DEADLOCK,
    FailureKind.INVARIANT,
    FailureKind.POLLING,
)


@dataclass(frozen=True)
class Schedule:
    """The record of one run: its trace, decisions and outcome."""

    events: tuple[TraceEvent, ...]
    statuses: tuple[tuple[tuple[str, Any], ...], ...]
    choices: tuple[Choice, ...]
    preemptions: int
    steps: int
    failure_kind: FailureKind | None
    message: str
    seed: int | None
    leaked: tuple[str, ...] = ()

    @property
    def decisions(self) -> tuple[int, ...]:
        """The choices made, one int per decision: replaying them reproduces this run."""
        return tuple(choice.chosen for choice in self.choices)

    @property
    def failed(self) -> bool:
        """Whether this schedule ended in a failure."""
        return self.failure_kind is not None

    def table(self, *, width: int = 40, max_rows: int | None = None) -> str:
        """The trace as a table: one column per thread (see ``format_table``)."""
        return format_table(self.events, width=width, max_rows=max_rows)

    def timeline(self) -> list[Interval]:
        """``(actor, state, start, end)`` intervals, time in scheduler steps."""
        return timeline(self.statuses)


@dataclass(frozen=True)
class Failure:
    """A failing schedule: what failed, how it ran, and how to replay it."""

    kind: FailureKind
    message: str
    schedule: Schedule
    replay_call: str
    original_seed: int | None = None

    @property
    def trace(self) -> tuple[TraceEvent, ...]:
        """The failing schedule's events, in order."""
        return self.schedule.events

    @property
    def decisions(self) -> tuple[int, ...]:
        """The recorded decisions: ``decisions=`` replays exactly this (minimised) schedule."""
        return self.schedule.decisions

    @property
    def seed(self) -> int | None:
        """Seed of the random/PCT schedule that first failed (before minimisation)."""
        return self.original_seed

    @property
    def preemptions(self) -> int:
        """Switches away from a thread that could have continued."""
        return self.schedule.preemptions

    @property
    def steps(self) -> int:
        """Scheduler steps until the failure."""
        return self.schedule.steps

    def table(self, *, width: int = 40, max_rows: int | None = None) -> str:
        """The failing schedule as a table, one column per thread."""
        return self.schedule.table(width=width, max_rows=max_rows)

    def timeline(self) -> list[Interval]:
        """``(actor, state, start, end)`` intervals of the failing schedule."""
        return self.schedule.timeline()

    def __str__(self) -> str:
        lines = [
            f"{self.kind.value}: {self.message}",
            "",
            f"Failing schedule ({self.steps} steps, {self.preemptions} preemptions; "
            "* marks a preemption):",
            self.table(),
            "",
            f"Replay it with: {self.replay_call}",
        ]
        if self.original_seed is not None:
            lines.append(
                f"(first found by the schedule with seed {self.original_seed}: the same strategy "
                f"with seed={self.original_seed}, max_schedules=1 reruns it before minimisation)"
            )
        return "\n".join(lines)


@dataclass
class ExplorationResult:
    """Outcome of an exploration.

    ``ok``: no failure found. ``complete``: the strategy covered its whole space (every schedule
    within the preemption bound, for DFS); random and PCT are never complete. ``exhaustive``:
    complete and nothing was cut by the preemption bound. ``passed`` is ``ok and complete``: an
    exploration that ran out of budget is not a pass.
    """

    ok: bool
    complete: bool
    exhaustive: bool
    schedules: int
    failure: Failure | None
    strategy: str
    seed: int
    elapsed: float
    preemption_bound: int | None = None
    _rerun: Callable[[Strategy], Schedule] | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        """No failure and the whole space covered: the only outcome that counts as a pass."""
        return self.ok and self.complete

    def replay(self) -> Schedule:
        """Re-run the failing schedule from its decisions; the trace is identical each time."""
        if self.failure is None or self._rerun is None:
            raise ValueError("nothing to replay: the exploration found no failure")
        return self._rerun(Replay(self.failure.decisions))

    def summary(self) -> str:
        """One line: what was explored and with what outcome."""
        if self.failure is not None:
            verdict = f"FAILED ({self.failure.kind.value})"
        elif self.complete:
            verdict = "passed (complete" + (")" if self.exhaustive else " within the bound)")
        else:
            verdict = "no failure found, but INCOMPLETE (budget ran out)"
        bound = f", preemption bound {self.preemption_bound}" if self.strategy == "dfs" else ""
        return (
            f"{verdict}: {self.schedules} schedules, strategy {self.strategy}{bound}, "
            f"seed {self.seed}, {self.elapsed:.2f} s"
        )

    def __str__(self) -> str:
        if self.failure is None:
            return self.summary()
        return f"{self.summary()}\n{self.failure}"


def _source_file(target: object) -> str | None:
    """The file defining a module, class or function (a class's methods tell where it lives
    when its module was loaded from a path and is not in ``sys.modules``)."""
    try:
        path = inspect.getsourcefile(target)  # type: ignore[arg-type]
    except TypeError:
        path = None
    if path is None and inspect.isclass(target):
        for value in vars(target).values():
            code = getattr(getattr(value, "__func__", value), "__code__", None)
            if code is not None:
                return code.co_filename
    return path


def trace_files(targets: Sequence[str | ModuleType | type | Callable[..., Any]]) -> list[str]:
    """Source files for line-level scheduling, from paths, modules, classes or functions."""
    files = []
    for target in targets:
        path = os.fspath(target) if isinstance(target, (str, os.PathLike)) else _source_file(target)
        if path is None:
            raise ValueError(
                f"cannot find the source file of {target!r} for line-level scheduling; "
                "pass its path instead"
            )
        if not os.path.exists(path):
            raise ValueError(f"line-level scheduling: no such file {path!r}")
        files.append(os.path.realpath(path))
    return files


def modules_of(targets: Sequence[object]) -> tuple[ModuleType, ...]:
    """The modules defining ``targets`` (modules, classes, functions; paths are skipped), whose
    names imported from ``threading``/``time`` a controlled run must re-bind."""
    found: list[ModuleType] = []
    for target in targets:
        if isinstance(target, ModuleType):
            module: ModuleType | None = target
        elif isinstance(target, (str, os.PathLike)):
            continue
        else:
            inner = getattr(target, "func", target)  # functools.partial
            module = sys.modules.get(getattr(inner, "__module__", None) or "")
            if module is None:
                module = sys.modules.get(getattr(type(inner), "__module__", None) or "")
        if module is not None and all(module is not m for m in found):
            found.append(module)
    return tuple(found)


def make_strategy(
    strategy: str | Strategy, *, seed: int, preemption_bound: int, pct_depth: int
) -> Strategy:
    """Build a strategy from its name ("dfs", "random", "pct") or pass one through."""
    if isinstance(strategy, Strategy):
        return strategy
    if strategy == "dfs":
        return DepthFirst(preemption_bound)
    if strategy == "random":
        return RandomWalk(seed)
    if strategy == "pct":
        return PCT(seed, pct_depth)
    raise ValueError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")


def _strategy_for(
    decisions: Sequence[int] | None,
    strategy: str | Strategy,
    seed: int,
    preemption_bound: int,
    pct_depth: int,
) -> Strategy:
    """A replay of ``decisions`` when given, else the named (or given) strategy."""
    if decisions is not None:
        return Replay(decisions)
    return make_strategy(
        strategy, seed=seed, preemption_bound=preemption_bound, pct_depth=pct_depth
    )


def _run(
    program: Callable[[], object],
    strategy: Strategy,
    index: int,
    options: dict[str, Any],
    invariants: Callable[[], Sequence[Callable[[], object]]],
) -> Schedule:
    strategy.start(index)
    run = ControlledRun(strategy, invariants=invariants(), **options)
    try:
        failure = run.execute(program)
    finally:
        strategy.finish()
    return Schedule(
        events=tuple(run.events),
        statuses=tuple(run.statuses),
        choices=tuple(run.choices),
        preemptions=run.preemptions,
        steps=run.steps,
        failure_kind=failure.kind if failure else None,
        message=failure.message if failure else "",
        seed=strategy.seed,
        leaked=tuple(run.leaked),
    )


def _minimise(
    rerun: Callable[[Strategy], Schedule], found: Schedule, budget: int, systematic: bool
) -> Schedule:
    """Look for a schedule failing the same way with fewer preemptions, then fewer steps.

    Unless the failure came from depth-first search (whose first failure already has the fewest
    preemptions), first search systematically with a preemption bound one below the failure's.
    Then, greedily, try removing one preemption (latest first) and cutting the decisions after
    each preemption (continuing without preemptions), keeping any change that still fails the
    same way and is smaller. At most ``budget`` runs per phase.
    """
    best = found

    def better(candidate: Schedule) -> bool:
        return candidate.failure_kind is best.failure_kind and (
            candidate.preemptions,
            candidate.steps,
        ) < (best.preemptions, best.steps)

    if not systematic and best.preemptions > 0:
        search = DepthFirst(best.preemptions - 1)
        for _ in range(budget):
            if search.exhausted:
                break
            candidate = rerun(search)
            if candidate.failed:
                if better(candidate):
                    best = candidate
                break
    runs = 0
    improved = True
    while improved and runs < budget:
        improved = False
        decisions: list[int | None] = list(best.decisions)
        preemptive = [i for i, c in enumerate(best.choices) if c.preemptive]
        attempts = [decisions[:i] + [None] + decisions[i + 1 :] for i in reversed(preemptive)]
        attempts += [decisions[: i + 1] for i in preemptive]
        attempts.append(decisions[: preemptive[-1] + 1] if preemptive else [])
        for attempt in attempts:
            if runs >= budget:
                break
            runs += 1
            candidate = rerun(Replay(attempt, strict=False))
            if better(candidate):
                best = candidate
                improved = True
                break
    return best


def _replay_call(
    program: Callable[[], object],
    options: dict[str, Any],
    invariants: Sequence[Callable[[], object]],
) -> Callable[[Sequence[int]], str]:
    """How to replay a schedule of ``program``: run_controlled with the options that matter."""
    name = getattr(program, "__qualname__", repr(program))
    defaults = {"spurious_wakeups": 0, "notify_order": "any", "reduce": True}
    extras = [f"{key}={options[key]!r}" for key, value in defaults.items() if options[key] != value]
    if options["trace_files"]:
        extras.append(f"trace={sorted(options['trace_files'])!r}")
    if options["lines_inside_locks"]:
        extras.append("lines_inside_locks=True")
    if invariants:
        names = ", ".join(getattr(inv, "__name__", "...") for inv in invariants)
        extras.append(f"invariants=[{names}]")

    def replay_call(decisions: Sequence[int]) -> str:
        args = ", ".join([name, *extras, f"decisions={list(decisions)}"])
        return f"pcmodel.sched.run_controlled({args})"

    return replay_call


def explore_program(
    program: Callable[[], object],
    *,
    strategy: str | Strategy = "dfs",
    max_schedules: int = 1000,
    seed: int = 0,
    preemption_bound: int = 2,
    pct_depth: int = 3,
    invariants: Sequence[Callable[[], object]] | Callable[[], Sequence[Callable[[], object]]] = (),
    trace: Sequence[str | ModuleType | type | Callable[..., Any]] = (),
    max_steps: int = 10_000,
    step_timeout: float = 5.0,
    spurious_wakeups: int = 0,
    notify_order: str = "any",
    reduce: bool = True,
    lines_inside_locks: bool = False,
    allow_polling: bool = True,
    minimise: bool = True,
    minimise_budget: int = 200,
    time_limit: float | None = None,
    decisions: Sequence[int] | None = None,
    replay_call: Callable[[Sequence[int]], str] | None = None,
    bind: Sequence[ModuleType] = (),
) -> ExplorationResult:
    """Run ``program`` under up to ``max_schedules`` schedules; stop at the first failure.

    ``program`` is called afresh for each schedule as the managed thread "main" and must build
    its own state. ``invariants`` are checked after every step (a callable returning them may be
    given instead, to bind fresh state). ``trace`` lists files/modules whose every line is a
    scheduling point. ``decisions`` replays one recorded schedule instead of exploring.
    ``time_limit`` (real seconds) also ends the exploration, as incomplete. With
    ``allow_polling=False`` a schedule fails (kind ``polling``) when every thread is blocked and
    only a timeout or a sleep running out could move it on: right for programs that ask for no
    timeout themselves.
    Names imported from ``threading``/``time`` (``from threading import Lock``) are controlled in
    the modules of ``program`` and of ``trace``, and in ``bind``.
    Raises NondeterminismError if a replayed prefix offers different choices.
    """
    if max_schedules < 1:
        raise ValueError(f"max_schedules must be >= 1, got {max_schedules}")
    if time_limit is not None and time_limit <= 0:
        raise ValueError(f"time_limit must be positive, got {time_limit}")
    chosen = _strategy_for(decisions, strategy, seed, preemption_bound, pct_depth)
    options = {
        "trace_files": trace_files(trace),
        "max_steps": max_steps,
        "step_timeout": step_timeout,
        "spurious_wakeups": spurious_wakeups,
        "notify_order": notify_order,
        "reduce": reduce,
        "lines_inside_locks": lines_inside_locks,
        "allow_polling": allow_polling,
        "bind": modules_of([program, *trace, *bind]),
    }
    get_invariants = invariants if callable(invariants) else (lambda: tuple(invariants))
    if replay_call is None:
        replay_call = _replay_call(program, options, get_invariants())

    def rerun(strategy_: Strategy) -> Schedule:
        return _run(program, strategy_, 0, options, get_invariants)

    started = _perf_counter()
    failing: Schedule | None = None
    count = 0
    limit = 1 if decisions is not None else max_schedules
    for index in range(limit):
        if chosen.exhausted:
            break
        if time_limit is not None and _perf_counter() - started > time_limit:
            break
        schedule = _run(program, chosen, index, options, get_invariants)
        count += 1
        if schedule.failed:
            failing = schedule
            break
    complete = chosen.systematic and chosen.exhausted and failing is None
    exhaustive = complete and getattr(chosen, "pruned", 1) == 0
    failure = None
    if failing is not None:
        found_seed = failing.seed
        # Livelocks run to the step budget and stuck runs to the watchdog: too slow to rerun.
        if minimise and decisions is None and failing.failure_kind in _MINIMISABLE:
            failing = _minimise(rerun, failing, minimise_budget, chosen.systematic)
        assert failing.failure_kind is not None
        failure = Failure(
            kind=failing.failure_kind,
            message=failing.message,
            schedule=failing,
            replay_call=replay_call(failing.decisions),
            original_seed=found_seed,
        )
    return ExplorationResult(
        ok=failure is None,
        complete=complete,
        exhaustive=exhaustive,
        schedules=count,
        failure=failure,
        strategy=chosen.name,
        seed=seed,
        elapsed=_perf_counter() - started,
        preemption_bound=preemption_bound if chosen.name == "dfs" else None,
        _rerun=rerun,
    )


def run_controlled(
    program: Callable[[], object],
    *,
    strategy: str | Strategy = "random",
    seed: int = 0,
    decisions: Sequence[int] | None = None,
    invariants: Sequence[Callable[[], object]] = (),
    trace: Sequence[str | ModuleType | type | Callable[..., Any]] = (),
    max_steps: int = 10_000,
    step_timeout: float = 5.0,
    spurious_wakeups: int = 0,
    notify_order: str = "any",
    reduce: bool = True,
    lines_inside_locks: bool = False,
    allow_polling: bool = True,
    preemption_bound: int = 2,
    pct_depth: int = 3,
    bind: Sequence[ModuleType] = (),
) -> Schedule:
    """Run ``program`` once under the controlled scheduler and return its Schedule.

    With ``decisions`` the run follows them exactly (NondeterminismError if it cannot); otherwise
    the strategy (by default a random walk from ``seed``) decides. Every managed thread has ended
    when this returns, whatever the outcome.
    """
    chosen = _strategy_for(decisions, strategy, seed, preemption_bound, pct_depth)
    options = {
        "trace_files": trace_files(trace),
        "max_steps": max_steps,
        "step_timeout": step_timeout,
        "spurious_wakeups": spurious_wakeups,
        "notify_order": notify_order,
        "reduce": reduce,
        "lines_inside_locks": lines_inside_locks,
        "allow_polling": allow_polling,
        "bind": modules_of([program, *trace, *bind]),
    }
    return _run(program, chosen, 0, options, lambda: tuple(invariants))
