"""The results of controlled runs: one schedule, a failing schedule, a whole exploration.

:class:`Schedule` records one run (trace, per-step thread states, decisions, outcome);
:class:`Failure` is a failing schedule with the call that replays it; :class:`ExplorationResult`
is what ``explore``/``explore_program`` return. Guarantees: Schedule and Failure are frozen
snapshots, so a result can be kept, printed and compared after its run has ended;
``Schedule.decisions`` replayed with ``Replay`` reproduces the same trace; ``passed`` is true
only when no failure was found and the strategy covered its whole space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pcmodel.sched.model import Choice, FailureKind
from pcmodel.sched.strategies import Replay, Strategy
from pcmodel.sched.trace import Interval, TraceEvent, format_table, timeline

__all__ = ["ExplorationResult", "Failure", "Schedule"]


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
        elif self.strategy == "replay":
            verdict = "no failure in the replayed schedule"
        elif self.complete:
            verdict = "passed (complete" + (")" if self.exhaustive else " within the bound)")
        else:
            verdict = "no failure found, but INCOMPLETE (budget ran out)"
        bound = f", preemption bound {self.preemption_bound}" if self.strategy == "dfs" else ""
        return (
            f"{verdict}: {self.schedules} schedule{'' if self.schedules == 1 else 's'}, "
            f"strategy {self.strategy}{bound}, "
            f"seed {self.seed}, {self.elapsed:.2f} s"
        )

    def __str__(self) -> str:
        if self.failure is None:
            return self.summary()
        return f"{self.summary()}\n{self.failure}"
