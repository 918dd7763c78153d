# pytest helpers: assert that an implementation has no interleaving bug, or that it has one.
#
# They wrap ``explore`` so that a test, a graded suite or a bug zoo states its expectation in one
# line, and a failure message carries the trace table and the call that replays it.

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pcmodel.sched.arguments import check_count, check_flag
from pcmodel.sched.explore import ExplorationResult, Failure
from pcmodel.sched.harness import explore
from pcmodel.sched.runtime import FailureKind

__all__ = ["assert_interleaving_bug", "assert_no_interleaving_bug"]


def assert_no_interleaving_bug(
    factory: Callable[[int], Any], *, require_complete: bool | None = None, **options: Any
) -> ExplorationResult:
    """Explore ``factory`` (see ``explore`` for options) and fail the test on any failure.

    ``require_complete`` (default: True for the "dfs" strategy, which can cover its space, False
    for "random" and "pct", which never can) also fails an exploration whose budget ran out.
    Raises AssertionError with the failure's trace and replay call; returns the result.
    """
    if require_complete is not None:
        check_flag("require_complete", require_complete)
    result = explore(factory, **options)
    if result.failure is not None:
        raise AssertionError(f"interleaving bug found:\n{result.failure}")
    if require_complete is None:
        # Decided by the strategy that ran: a DepthFirst instance can cover its space too.
        require_complete = result.strategy == "dfs"
    if require_complete and not result.complete:
        raise AssertionError(
            f"exploration incomplete, so it proves nothing: {result.summary()}; raise "
            "max_schedules or lower preemption_bound"
        )
    return result


def assert_interleaving_bug(
    factory: Callable[[int], Any],
    *,
    kind: FailureKind | str | None = None,
    replays: int = 2,
    **options: Any,
) -> Failure:
    """Explore ``factory`` and fail the test unless a failure (of ``kind``, if given) is found.

    The failing schedule is then replayed ``replays`` times and must give the identical trace
    each time. Returns the Failure (with ``.table()``, ``.timeline()``, ``.replay_call``).
    An unknown ``kind`` or a bad ``replays`` is refused before exploring (ValueError/TypeError).
    """
    if kind is not None:
        kinds = ", ".join(k.value for k in FailureKind)
        try:
            kind = FailureKind(kind)
        except ValueError:
            raise ValueError(f"unknown failure kind {kind!r}: choose one of {kinds}") from None
    check_count("replays", replays, 0)
    result = explore(factory, **options)
    if result.failure is None:
        raise AssertionError(f"expected an interleaving bug, found none: {result.summary()}")
    failure = result.failure
    if kind is not None and failure.kind is not FailureKind(kind):
        raise AssertionError(
            f"expected a {FailureKind(kind).value} failure, found {failure.kind.value}:\n{failure}"
        )
    for attempt in range(replays):
        again = result.replay()
        if again.events != failure.trace or again.failure_kind is not failure.kind:
            raise AssertionError(
                f"replay {attempt + 1} of {failure.replay_call} did not reproduce the trace"
            )
    return failure
