# Controlled execution of real threads: exactly one managed thread runs at a time.
#
# Each managed thread is a real ``threading.Thread`` gated by its own private lock (its "gate").
# The thread that called ``ControlledRun.execute`` becomes the controller: it hands a baton to one
# managed thread at a time by releasing that thread's gate, then waits until the thread comes back
# at its next scheduling point (or exits). A scheduling point announces the operation the thread is
# about to perform (a ``Pending``): the controller runs only threads whose pending operation can
# proceed, so "who runs next" is a choice the strategy makes among enabled threads.
#
# Prior art: CHESS (Musuvathi and Qadeer, "Iterative context bounding", PLDI 2007) for the
# one-thread-at-a-time model and preemption counting; Rust's loom for the baton-passing design.
#
# ControlledRun is assembled from one module per part: ``scheduling_points`` (the program side:
# park, log, choose, spawn), ``diagnosis`` (invariants, deadlock and polling reports, blocked
# states), ``teardown`` (ending every thread); this module holds the controller's loop.
# ``thread_context`` holds the per-OS-thread state and the real primitives they all share.

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from pcmodel.sched.diagnosis import DiagnosisMixin
from pcmodel.sched.model import (
    Choice,
    ChoiceKind,
    FailureKind,
    InvariantViolation,
    ManagedThread,
    NondeterminismError,
    Pending,
    RunFailure,
    SchedulerAbort,
    WaitKind,
    WakeReason,
    label_of,
)
from pcmodel.sched.scheduling_points import SchedulingPointsMixin
from pcmodel.sched.targets import real_path
from pcmodel.sched.teardown import TeardownMixin
from pcmodel.sched.thread_context import _allocate_lock, current_thread, yield_point
from pcmodel.sched.trace import ThreadStatus, TraceEvent

if TYPE_CHECKING:
    from pcmodel.sched.strategies import Strategy

__all__ = [
    "Choice",
    "ChoiceKind",
    "ControlledRun",
    "FailureKind",
    "InvariantViolation",
    "ManagedThread",
    "NondeterminismError",
    "Pending",
    "RunFailure",
    "SchedulerAbort",
    "WaitKind",
    "WakeReason",
    "current_thread",
    "label_of",
    "yield_point",
]

# One controlled run at a time per process: patching the threading module is process-wide.
_RUN_LOCK = _allocate_lock()
_SIGNAL_SLICE = 0.1  # seconds: the longest a Ctrl-C may wait for the controller to see it

# Decisions for spurious wake-ups are encoded as ``~index`` (negative) so that a decision list is
# a plain list of ints: ``i`` runs thread i normally, ``~i`` wakes thread i without a notify.


class ControlledRun(SchedulingPointsMixin, DiagnosisMixin, TeardownMixin):
    """One schedule of a program under the controlled scheduler.

    ``execute(program)`` runs ``program`` as managed thread "main"; every thread it starts through
    the (patched) ``threading`` module is managed too. The run ends when every thread finished or
    at the first failure; in either case every managed thread has been ended (threads still
    blocked receive ``SchedulerAbort``) before ``execute`` returns.
    """


    def __init__(
        self,
        strategy: Strategy,
        *,
        invariants: Sequence[Callable[[], object]] = (),
        trace_files: Sequence[str] = (),
        max_steps: int = 10_000,
        step_timeout: float = 5.0,
        spurious_wakeups: int = 0,
        notify_order: str = "any",
        reduce: bool = True,
        lines_inside_locks: bool = False,
        allow_polling: bool = True,
        bind: Sequence[ModuleType] = (),
    ) -> None:
        if max_steps <= 0:
            raise ValueError(f"max_steps must be positive, got {max_steps}")
        if step_timeout <= 0:
            raise ValueError(f"step_timeout must be positive, got {step_timeout}")
        if spurious_wakeups < 0:
            raise ValueError(f"spurious_wakeups must be >= 0, got {spurious_wakeups}")
        if notify_order not in ("any", "fifo"):
            raise ValueError(f"notify_order must be 'any' or 'fifo', got {notify_order!r}")
        self.strategy = strategy
        self.invariants = tuple(invariants)
        self.trace_files = frozenset(real_path(f) for f in trace_files)
        self._traced: dict[str, bool] = {}
        self.max_steps = max_steps
        self.step_timeout = step_timeout
        slices = max(1, math.ceil(step_timeout / _SIGNAL_SLICE))
        self._slices = (slices, step_timeout / slices)  # how _handed_back waits, at every step
        self.spurious_left = spurious_wakeups
        self.notify_order = notify_order
        self.reduce = reduce
        self.lines_inside_locks = lines_inside_locks
        # A program that never asks for a timeout must never need time to pass: if it does,
        # some thread naps and re-checks instead of being woken (polling).
        self.allow_polling = allow_polling
        # Modules whose names imported from threading/time the run re-binds (see patching).
        self.bind = tuple(bind)
        self.threads: list[ManagedThread] = []
        self.clock = 0.0
        self.steps = 0
        self.events: list[TraceEvent] = []
        self.statuses: list[tuple[tuple[str, ThreadStatus], ...]] = []
        self.choices: list[Choice] = []
        self.preemptions = 0
        self.failure: RunFailure | None = None
        self.fatal: Exception | None = None
        self.leaked: list[str] = []
        self.describe_state: Callable[[], str] | None = None
        self.explain_deadlock: Callable[[], str] | None = None
        self._running: ManagedThread | None = None
        self._switch_preempted = False
        self._to_controller = _allocate_lock()
        self._counters: dict[str, int] = {}
        self._ending = False

    # ----------------------------------------------------------------- controller side

    def execute(self, program: Callable[[], object]) -> RunFailure | None:
        """Run ``program`` to completion or first failure; return the failure or None."""
        if current_thread() is not None:
            raise RuntimeError("a controlled run cannot be started from inside another one")
        if not _RUN_LOCK.acquire(blocking=False):
            raise RuntimeError(
                "another controlled run is active in this process; runs patch the threading "
                "module and cannot overlap (use separate processes to run them in parallel)"
            )
        from pcmodel.sched.patching import patched  # patching imports primitives, which need us

        try:
            self._to_controller.acquire()
            with patched(self.bind):
                self.spawn("main", program)
                try:
                    self._loop()
                finally:
                    self._end_all()
        finally:
            _RUN_LOCK.release()
        if self.fatal is not None:
            raise self.fatal
        return self.failure

    def _loop(self) -> None:
        while True:
            if self.failure is not None or self.fatal is not None:
                return
            self._check_invariants()
            if self.failure is not None:
                return
            live = [t for t in self.threads if not t.finished]
            if not any(not t.daemon for t in live):
                return  # as at interpreter exit, daemon threads do not keep the program alive
            candidates = self._candidates(live)
            if not candidates:
                if not self.allow_polling and self._polling(live):
                    return
                if self._advance_clock(live):
                    continue
                self._fail(FailureKind.DEADLOCK, self._deadlock_message(live))
                return
            if self.steps >= self.max_steps:
                self._fail(
                    FailureKind.LIVELOCK,
                    f"no end after {self.max_steps} steps: some thread keeps running without "
                    "the program finishing (busy waiting, or an infinite loop); raise max_steps "
                    "if the program is just long",
                )
                return
            self._step(live, candidates)

    def _candidates(self, live: list[ManagedThread]) -> list[int]:
        normal: list[int] = []
        spurious: list[int] = []
        for t in live:
            pending = t.pending
            if pending is None:
                continue
            if pending.enabled():
                normal.append(t.index)
            elif pending.deadline is not None and self.clock >= pending.deadline:
                if pending.fallback():
                    normal.append(t.index)
            elif pending.spurious and self.spurious_left > 0 and pending.fallback():
                spurious.append(~t.index)
        return normal + spurious

    def _advance_clock(self, live: list[ManagedThread]) -> bool:
        deadlines = [
            t.pending.deadline
            for t in live
            if t.pending is not None
            and t.pending.deadline is not None
            and t.pending.deadline > self.clock
        ]
        if not deadlines:
            return False
        self.clock = min(deadlines)
        return True

    def _step(self, live: list[ManagedThread], candidates: list[int]) -> None:
        previous = self._running
        current = previous.index if previous is not None and not previous.finished else None
        try:
            chosen = self.choose(ChoiceKind.THREAD, candidates, current)
        except SchedulerAbort:
            return  # self.fatal is set
        # Mark the first trace row after a preemption (a switch away from a runnable thread).
        self._switch_preempted = current is not None and current in candidates and chosen != current
        if chosen < 0:
            thread = self.threads[~chosen]
            thread.wake = WakeReason.SPURIOUS
            self.spurious_left -= 1
        else:
            thread = self.threads[chosen]
            pending = thread.pending
            assert pending is not None
            thread.wake = WakeReason.ENABLED if pending.enabled() else WakeReason.TIMEOUT
        self.statuses.append(self._status_row(live, thread))
        self.steps += 1
        self._running = thread
        thread.gate.release()
        if not self._handed_back():
            self._fail(
                FailureKind.STUCK,
                f"{thread.name} ran for {self.step_timeout} s without reaching a scheduling "
                "point: an infinite loop without synchronisation, or a blocking call the "
                "scheduler does not control (a lock or queue created outside the run, real I/O)",
            )

    def _handed_back(self) -> bool:
        """Wait up to ``step_timeout`` for the running thread to hand control back to the
        controller; False if it did not.

        In slices of at most 0.1 s: a Ctrl-C is raised by its Python handler only between
        bytecodes, and a blocking wait is cut short only by a signal that arrives *during* it.
        One that lands just before the wait begins (the handler has run in C, the waiting
        call has not started yet) would otherwise be seen only when the whole timeout is
        over; a slice ends, the handler runs, and the run ends at once."""
        slices, each = self._slices
        # The first slice that ends with the hand-back ends the wait (any() stops there).
        return any(self._to_controller.acquire(timeout=each) for _ in range(slices))
