"""Minimising a failing schedule: the same failure with fewer preemptions, then fewer steps.

A failure found by a random walk or PCT usually switches threads far more often than needed to
show the bug; a short trace teaches better. Guarantees: the schedule returned fails the same way
(same ``FailureKind``) as the one given and is never larger (preemptions first, then steps); at
most ``budget`` re-runs per phase. Livelocks and stuck runs are not minimised (``_MINIMISABLE``):
each of their runs lasts until the step budget or the watchdog.
"""

from __future__ import annotations

from collections.abc import Callable

from pcmodel.sched.model import FailureKind
from pcmodel.sched.results import Schedule
from pcmodel.sched.strategies import DepthFirst, Replay, Strategy

__all__: list[str] = []

_MINIMISABLE = (
    FailureKind.EXCEPTION,
    FailureKind.DEADLOCK,
    FailureKind.INVARIANT,
    FailureKind.POLLING,
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
