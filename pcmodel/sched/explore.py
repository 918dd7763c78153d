# Exploring schedules: run a program many times under a strategy, stop at the first failure,
# minimise it, and package it so that it can be replayed, printed and drawn.
#
# Every schedule re-executes the program from the start (stateless model checking, as CHESS and
# loom do): the program must build its own state each time it is called.
#
# The parts: ``targets`` (which files get line-level points, which modules are re-bound),
# ``results`` (Schedule, Failure, ExplorationResult), ``minimise`` (shrinking a failure); this
# module drives the strategy, schedule after schedule, and says how to replay what it found.

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import Any

from pcmodel.sched.arguments import (
    MAX_PCT_DEPTH,
    MAX_STEP_TIMEOUT,
    check_callables,
    check_count,
    check_decisions,
    check_flag,
    check_modules,
    check_program,
    check_seconds,
    check_seed,
    check_targets,
)
from pcmodel.sched.minimise import _MINIMISABLE, _minimise
from pcmodel.sched.results import ExplorationResult, Failure, Schedule
from pcmodel.sched.runtime import ControlledRun
from pcmodel.sched.strategies import PCT, DepthFirst, RandomWalk, Replay, Strategy
from pcmodel.sched.targets import ModuleNamespace, modules_of, trace_files

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


def make_strategy(
    strategy: str | Strategy, *, seed: int, preemption_bound: int, pct_depth: int
) -> Strategy:
    """Build a strategy from its name ("dfs", "random", "pct") or pass one through.

    Raises TypeError or ValueError, naming the argument, for a seed, bound or depth that is not
    an int in range, and for a strategy class given instead of an instance."""
    if isinstance(strategy, Strategy):
        return strategy
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        raise TypeError(f"strategy must be a name or a Strategy instance, not the class "
                        f"{strategy.__name__}: write strategy={strategy.__name__}(...)")
    check_seed(seed)
    check_count("preemption_bound", preemption_bound, 0)
    check_count("pct_depth", pct_depth, 1, MAX_PCT_DEPTH)
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
        return Replay(check_decisions(decisions))
    return make_strategy(
        strategy, seed=seed, preemption_bound=preemption_bound, pct_depth=pct_depth
    )


def _options(
    program: object,
    trace: object,
    bind: object,
    *,
    max_steps: object,
    step_timeout: object,
    spurious_wakeups: object,
    notify_order: object,
    reduce: object,
    lines_inside_locks: object,
    allow_polling: object,
) -> dict[str, Any]:
    """The run's options, each checked (TypeError/ValueError naming it) before any run."""
    check_program("program", program)
    targets = check_targets("trace", trace)
    modules = check_modules("bind", bind)
    if notify_order not in ("any", "fifo"):
        raise ValueError(f"notify_order must be 'any' or 'fifo', not {notify_order!r}")
    return {
        "trace_files": trace_files(targets),
        "max_steps": check_count("max_steps", max_steps, 1),
        "step_timeout": check_seconds("step_timeout", step_timeout, maximum=MAX_STEP_TIMEOUT),
        "spurious_wakeups": check_count("spurious_wakeups", spurious_wakeups, 0),
        "notify_order": notify_order,
        "reduce": check_flag("reduce", reduce),
        "lines_inside_locks": check_flag("lines_inside_locks", lines_inside_locks),
        "allow_polling": check_flag("allow_polling", allow_polling),
        "bind": modules_of([program, *targets, *modules]),
    }


def _invariants_getter(
    invariants: object,
) -> Callable[[], tuple[Callable[[], object], ...]]:
    """What gives each schedule its invariants: a list of checks, or a function returning one.

    A function is told apart from a list of one check by what it returns: a single check given
    bare returns True or False, not a list, and is refused with the way to write it."""
    if not callable(invariants):
        checks = check_callables("invariants", invariants)
        return lambda: checks

    def get() -> tuple[Callable[[], object], ...]:
        found = invariants()
        if isinstance(found, (bool, type(None))) or not isinstance(found, Iterable):
            raise TypeError(
                "invariants: a function given as invariants must return the list of checks "
                f"for a schedule, and {getattr(invariants, '__name__', invariants)!r} returned "
                f"{found!r}; to check one condition write invariants=[check]"
            )
        return check_callables("invariants", found)

    return get


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
    bind: Sequence[ModuleType | ModuleNamespace] = (),
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
    check_seed(seed)
    check_count("max_schedules", max_schedules, 1)
    check_count("minimise_budget", minimise_budget, 0)
    check_flag("minimise", minimise)
    time_limit = check_seconds("time_limit", time_limit, none_ok=True)
    decisions = check_decisions(decisions)
    chosen = _strategy_for(decisions, strategy, seed, preemption_bound, pct_depth)
    options = _options(program, trace, bind, max_steps=max_steps, step_timeout=step_timeout,
                       spurious_wakeups=spurious_wakeups, notify_order=notify_order,
                       reduce=reduce, lines_inside_locks=lines_inside_locks,
                       allow_polling=allow_polling)
    get_invariants = _invariants_getter(invariants)
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
    bind: Sequence[ModuleType | ModuleNamespace] = (),
) -> Schedule:
    """Run ``program`` once under the controlled scheduler and return its Schedule.

    With ``decisions`` the run follows them exactly (NondeterminismError if it cannot); otherwise
    the strategy (by default a random walk from ``seed``) decides. Every managed thread has ended
    when this returns, whatever the outcome.
    """
    chosen = _strategy_for(decisions, strategy, seed, preemption_bound, pct_depth)
    options = _options(program, trace, bind, max_steps=max_steps, step_timeout=step_timeout,
                       spurious_wakeups=spurious_wakeups, notify_order=notify_order,
                       reduce=reduce, lines_inside_locks=lines_inside_locks,
                       allow_polling=allow_polling)
    checks = check_callables("invariants", invariants)
    return _run(program, chosen, 0, options, lambda: checks)
