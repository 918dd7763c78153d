"""What every controlled primitive shares: the run it belongs to, its trace label, deadlines.

A controlled primitive remembers the run it was built in and gets a deterministic label
(``Lock2``, ``Condition1``) used in traces. Guarantees: ``_here()`` returns the calling managed
thread, or None when called from outside any run (the primitive then acts without the
scheduler); it raises ``SchedulerAbort`` in a thread whose run is ending, and ``RuntimeError``
when the primitive is used by a run other than the one that built it. Deadlines are on the
run's virtual clock. A primitive's hash is the same in every schedule of a program, so sets of
them iterate in the same order in every replay.
"""

from __future__ import annotations

from pcmodel.sched.model import ManagedThread, SchedulerAbort
from pcmodel.sched.thread_context import current_thread

_OUTSIDE = "a thread outside the controlled run"


class _Primitive:
    """Base: remembers the run it was built in and a label used in traces."""

    _kind = "Primitive"

    def __init__(self) -> None:
        thread = current_thread()
        self._run = thread.run if thread is not None else None
        self._label = self._run.new_label(self._kind) if self._run is not None else self._kind
        self._hash = hash(self._label)

    def __hash__(self) -> int:
        # Sets and dicts of primitives (a pool's set of worker threads) iterate in hash order:
        # the default hash is the object's address, which differs from one schedule to the next
        # and would make a replayed schedule take other steps. The label is the same in every
        # schedule of a program, and unique within its run.
        return self._hash

    def _here(self) -> ManagedThread | None:
        """The calling managed thread of this primitive's run, or None outside any run."""
        thread = current_thread()
        if thread is None:
            return None
        if thread.aborting:
            raise SchedulerAbort  # the run is over: unwind without touching shared state
        if thread.run is not self._run:
            raise RuntimeError(
                f"{self._label} was created outside this controlled run; create the objects a "
                "program uses inside the program so that the scheduler controls them"
            )
        return thread

    def __repr__(self) -> str:
        return f"<controlled {self._kind} {self._label}>"


def _deadline(thread: ManagedThread, timeout: float | None) -> float | None:
    if timeout is None or timeout < 0:
        return None
    return thread.run.clock + timeout
