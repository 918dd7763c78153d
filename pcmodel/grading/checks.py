"""What a failed check tells the student, and how a check runs its workload.

A check fails by raising :class:`CheckFailed` with three parts a student can act on: what was
expected, what happened, and a hint. :func:`observe` runs a workload in isolation
(:mod:`pcmodel.grading.isolation`), turns a hang, a crash or an exception into such a failure,
and returns what the workload observed, as plain data. The verdict is never the child's: the
caller judges that data (see :mod:`pcmodel.grading.replay`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from pcmodel.grading.isolation import Verdict, run_isolated, time_scale

__all__ = ["DEFAULT_TIME_LIMIT", "CheckFailed", "Problem", "budget", "fail_on", "observe",
           "problem"]

DEFAULT_TIME_LIMIT = 20.0  # seconds per check, before PCMODEL_GRADE_TIME_SCALE

#: What a scenario found wrong (see :func:`problem`), or None when nothing was.
Problem = dict[str, str] | None


class CheckFailed(AssertionError):
    """A graded check failed; carries ``expected``, ``got``, ``hint`` and optional ``details``
    (for example the trace of a failing schedule) for the report."""

    def __init__(self, expected: str, got: str, hint: str = "", details: str = "") -> None:
        super().__init__(expected, got, hint)
        self.expected = expected
        self.got = got
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        lines = [f"expected: {self.expected}", f"got:      {self.got}"]
        if self.hint:
            lines.append(f"hint:     {self.hint}")
        return "\n".join(lines)

    @classmethod
    def from_problem(cls, problem: dict[str, str]) -> CheckFailed:
        """Build from a workload's ``{"expected", "got", "hint"}`` dictionary."""
        return cls(problem["expected"], problem["got"], problem.get("hint", ""),
                   problem.get("details", ""))


def problem(expected: str, got: str, hint: str = "") -> dict[str, str]:
    """A scenario's finding, as :func:`fail_on` reports it: what was expected, what happened,
    and a hint for the student."""
    return {"expected": expected, "got": got, "hint": hint}


def fail_on(found: Problem) -> None:
    """Raise CheckFailed for a workload's problem dictionary; do nothing for None."""
    if found is not None:
        raise CheckFailed.from_problem(found)


def budget(amount: int) -> int:
    """How much of a repeated workload (trials, cases, schedules) this round of a check runs.

    A normal run, and the first round of ``--grade-repeat N``, run ``amount``. Later rounds, which
    exist to catch a flaky check, run ``ceil(amount / N)``, so N rounds cost about two runs.
    The plugin sets ``PCMODEL_GRADE_ROUNDS`` and ``PCMODEL_GRADE_ROUND``.
    """
    rounds = int(os.environ.get("PCMODEL_GRADE_ROUNDS", "1"))
    current = int(os.environ.get("PCMODEL_GRADE_ROUND", "1"))
    if rounds <= 1 or current <= 1:
        return amount
    return max(1, -(-amount // rounds))


def observe(
    workload: Callable[..., Any],
    *args: Any,
    time_limit: float = DEFAULT_TIME_LIMIT,
    **kwargs: Any,
) -> Any:
    """Run ``workload(*args, **kwargs)`` isolated; return what it returned, as plain data.

    The value is JSON data (dicts with string keys, lists, strings, numbers, booleans, None)
    decoded by the grader; it is an observation for the caller to judge, never a verdict: a
    dictionary that looks like a failure report is returned like any other. A timeout, a crash,
    an exception or interference with the grader (a message the grader did not seal) is raised
    as CheckFailed. What the workload printed is printed here (capped), so pytest reports it as
    the check's output. ``time_limit`` is scaled by ``PCMODEL_GRADE_TIME_SCALE``.
    """
    limit = time_limit * time_scale()
    outcome = run_isolated(lambda: workload(*args, **kwargs), time_limit=limit)
    if outcome.output:
        # Shown by pytest as the check's captured output (already capped by run_isolated),
        # whatever the verdict: what a hanging program printed helps to find where it hangs.
        print(outcome.output, end="" if outcome.output.endswith("\n") else "\n")
    if outcome.output_dropped:
        print(f"[output truncated: {outcome.output_dropped} more bytes were not kept]")
    if outcome.verdict is Verdict.TIMED_OUT:
        raise CheckFailed(
            f"the check to finish within {limit:.0f} s",
            f"your code was {outcome.error}",
            "look for a deadlock or an endless loop; the other checks still ran",
        )
    if outcome.verdict is Verdict.TAMPERED:
        raise CheckFailed(
            "the check's result to come from the check",
            f"your code interfered with the grader: {outcome.error}",
            "graded code must not write to the grader's pipes or files; this check scores 0",
        )
    if outcome.verdict is Verdict.CRASHED:
        raise CheckFailed(
            "your code to run without ending its process",
            outcome.error,
            "do not call sys.exit() or os._exit() in the implementation",
        )
    if outcome.verdict is Verdict.RAISED:
        hint = "read the exception; the task lists the interface and the steps"
        if "NotImplementedError" in outcome.error:
            hint = "this part of the starter is not written yet"
        raise CheckFailed("the workload to run without an exception", outcome.error, hint)
    return outcome.value
