"""Why a controlled run cannot go on: deadlock, polling, broken invariants, blocked states.

:class:`DiagnosisMixin` is the part of :class:`~pcmodel.sched.runtime.ControlledRun` that the
controller consults between steps: it checks the invariants, records the run's first failure,
says what every blocked thread waits for when none can move (a deadlock), detects a program that
only moves because a timeout runs out (polling), and classifies each blocked thread for the
timeline (waiting for space, for items, or blocked on a lock).

Guarantees: only the first failure of a run is kept (``_fail`` never overwrites it); an
invariant that raises is reported as a failure of the run, never propagated; nothing here parks
or resumes a thread.
"""

from __future__ import annotations

from pcmodel.sched.model import FailureKind, ManagedThread, Pending, RunFailure, WaitKind
from pcmodel.sched.trace import Activity, ThreadStatus

__all__ = ["DiagnosisMixin"]


class DiagnosisMixin:
    """Invariant checks, failure recording and blocked-thread diagnosis of a ControlledRun."""

    def _polling(self, live: list[ManagedThread]) -> bool:
        """Fail as POLLING if some blocked thread waits for its timeout or sleep to run out."""
        nappers = [t.name for t in live if t.pending is not None and t.pending.deadline is not None]
        if not nappers:
            return False
        self._fail(
            FailureKind.POLLING,
            f"every thread is blocked and only a timeout or sleep() running out would let "
            f"{', '.join(nappers)} go on: the code polls (busy waiting with naps) instead of "
            "being woken by whoever changes the state; wait()/acquire() without a timeout, and "
            "notify()/release() after every change",
        )
        return True

    def _status_row(
        self, live: list[ManagedThread], running: ManagedThread
    ) -> tuple[tuple[str, ThreadStatus], ...]:
        row = []
        for t in live:
            if t is running:
                row.append((t.name, ThreadStatus.RUNNING))
                continue
            pending = t.pending
            if pending is None or pending.enabled():
                continue  # ready to run: no interval
            row.append((t.name, _blocked_status(t, pending)))
        return tuple(row)

    def _check_invariants(self) -> None:
        for invariant in self.invariants:
            try:
                ok = invariant()
            except AssertionError as exc:
                self._fail(FailureKind.INVARIANT, f"invariant {_name(invariant)} failed: {exc}")
                return
            except Exception as exc:
                self._fail(
                    FailureKind.EXCEPTION,
                    f"invariant {_name(invariant)} raised {type(exc).__name__}: {exc} "
                    "(invariants must read state without taking the program's locks)",
                )
                return
            if ok is False:
                self._fail(FailureKind.INVARIANT, f"invariant {_name(invariant)} returned False")
                return

    def _fail(self, kind: FailureKind, message: str) -> None:
        if self.failure is None:
            self.failure = RunFailure(kind, message)

    def _deadlock_message(self, live: list[ManagedThread]) -> str:
        lines = ["every live thread is blocked:"]
        for t in live:
            pending = t.pending
            what = pending.describe() if pending is not None and pending.describe else "?"
            lines.append(f"  {t.name} {what}")
        if self.explain_deadlock is not None:
            lines.append(self.explain_deadlock())
        return "\n".join(lines)


def _name(invariant: object) -> object:
    # Looked up only for a message: repr() of a bound method is costly, and invariants run at
    # every step.
    try:
        return invariant.__name__  # type: ignore[attr-defined]
    except AttributeError:
        return repr(invariant)


def _blocked_status(thread: ManagedThread, pending: Pending) -> ThreadStatus:
    kind = pending.wait_kind
    if kind in (WaitKind.CONDITION, WaitKind.SEMAPHORE):
        # A condition waiter already notified is only waiting for the lock.
        if kind is WaitKind.CONDITION:
            probe = getattr(pending.obj, "_notified_probe", None)
            if probe is not None and probe(thread):
                return ThreadStatus.BLOCKED
        if thread.activity is Activity.PUT:
            return ThreadStatus.WAITING_FOR_SPACE
        if thread.activity is Activity.GET:
            return ThreadStatus.WAITING_FOR_ITEMS
    return ThreadStatus.BLOCKED
