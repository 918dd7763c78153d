# The vocabulary of controlled runs: failure and choice kinds, what a parked thread waits for,
# and the scheduler-side record of a managed thread. Kept apart from the runtime so that the
# primitives, strategies and reports can share it without importing the machinery.

from __future__ import annotations

import _thread
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from pcmodel.sched.trace import Activity

if TYPE_CHECKING:
    from pcmodel.sched.runtime import ControlledRun

__all__ = [
    "Choice",
    "ChoiceKind",
    "FailureKind",
    "InvariantViolation",
    "ManagedThread",
    "NondeterminismError",
    "Pending",
    "RunFailure",
    "SchedulerAbort",
    "WaitKind",
    "WakeReason",
    "label_of",
]

_allocate_lock = _thread.allocate_lock


class SchedulerAbort(BaseException):  # noqa: N818 - not an error: the run is being ended
    """Raised inside a managed thread to end it when its run is over.

    It derives from BaseException so that ``except Exception`` in the program does not swallow it.
    """


class InvariantViolation(AssertionError):
    """Raised by checks inside the program (or by invariants) when a property of the run fails."""


class NondeterminismError(RuntimeError):
    """A replayed schedule offered different choices than when it was recorded.

    The program under test must be deterministic apart from thread interleaving: no real time, no
    unseeded randomness, no dependence on object ids or set order of unhashed objects.
    """


class FailureKind(str, Enum):
    """What went wrong in a failing schedule."""

    EXCEPTION = "exception"  # a managed thread raised
    DEADLOCK = "deadlock"  # every live thread blocked, no timeout pending
    LIVELOCK = "livelock"  # the step budget ran out before every thread finished
    INVARIANT = "invariant"  # an invariant or a check in the program failed
    STUCK = "stuck"  # a thread ran too long without reaching a scheduling point
    POLLING = "polling"  # every thread blocked; only a timeout or sleep() running out goes on


class ChoiceKind(str, Enum):
    """What a decision chooses."""

    THREAD = "thread"  # which thread runs the next step
    NOTIFY = "notify"  # which waiter a Condition.notify() wakes


class WaitKind(str, Enum):
    """What a blocked thread is waiting for (for reports and timelines)."""

    NONE = "none"
    LOCK = "lock"
    CONDITION = "condition"
    SEMAPHORE = "semaphore"
    EVENT = "event"
    JOIN = "join"
    SLEEP = "sleep"


class WakeReason(Enum):
    """Why the controller resumed a thread at its scheduling point."""

    ENABLED = "enabled"
    TIMEOUT = "timeout"
    SPURIOUS = "spurious"


def _always() -> bool:
    return True


@dataclass(eq=False)
class Pending:
    """The operation a managed thread is about to perform at a scheduling point.

    ``enabled`` says whether it can proceed now. ``deadline`` (virtual time) makes it a timed wait:
    once the clock reaches it the thread may resume with a timeout, provided ``fallback`` (for a
    condition wait: the lock is free) holds. ``spurious`` allows a wake-up without its trigger.
    """

    op: str
    obj: object | None = None
    enabled: Callable[[], bool] = _always
    deadline: float | None = None
    fallback: Callable[[], bool] = _always
    spurious: bool = False
    wait_kind: WaitKind = WaitKind.NONE
    describe: Callable[[], str] | None = None


@dataclass(eq=False)
class ManagedThread:
    """Scheduler-side record of one managed thread (index 0 is the program's main thread)."""

    index: int
    name: str
    run: ControlledRun
    target: Callable[[], object]
    gate: _thread.LockType = field(default_factory=_allocate_lock)
    pending: Pending | None = None
    finished: bool = False
    daemon: bool = False
    aborting: bool = False
    wake: WakeReason = WakeReason.ENABLED
    activity: Activity | None = None
    locks_held: int = 0  # controlled Lock/RLock acquisitions not yet released
    open_line: int | None = None  # index of its last "line" event, until the line has run
    eager: bool = False  # runs its prologue inside its parent's start() step
    # Set when it first parks, for its parent waiting in start() (None: wake the controller).
    handback: threading.Event | None = None
    real: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.gate.acquire()  # closed until the controller hands over the baton


def label_of(obj: object | None) -> str:
    """Name of a primitive or object in traces: its ``_label`` if it has one."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    label = getattr(obj, "_label", None)
    return label if isinstance(label, str) else type(obj).__name__


@dataclass(frozen=True)
class Choice:
    """One recorded decision: the options offered and the one taken."""

    kind: ChoiceKind
    candidates: tuple[int, ...]
    chosen: int
    current: int | None
    preemptive: bool


@dataclass
class RunFailure:
    """A failure observed during one run (kind and human-readable message)."""

    kind: FailureKind
    message: str
    thread: str | None = None
