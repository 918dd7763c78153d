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

from __future__ import annotations

import _thread
import ctypes
import os
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING

from pcmodel.sched.lines import needs_point, source_line
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
from pcmodel.sched.trace import Activity, ThreadStatus, TraceEvent

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

# Real primitives, saved before any patching, for the scheduler's own use.
_RealThread = threading.Thread
_allocate_lock = _thread.allocate_lock

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__)) + os.sep

# How long a running thread gets to reach a scheduling point once its run is over.
_GRACE = 0.05

# One controlled run at a time per process: patching the threading module is process-wide.
_RUN_LOCK = _allocate_lock()

# Per-OS-thread state: ``thread`` is the ManagedThread running here (None outside a run);
# ``internal`` is set while the scheduler itself builds real threading objects.
_tls = _thread._local()

# Decisions for spurious wake-ups are encoded as ``~index`` (negative) so that a decision list is
# a plain list of ints: ``i`` runs thread i normally, ``~i`` wakes thread i without a notify.


def current_thread() -> ManagedThread | None:
    """The managed thread running in this OS thread, or None outside a controlled run."""
    thread = getattr(_tls, "thread", None)
    if thread is None or getattr(_tls, "internal", False):
        return None
    return thread


def yield_point(name: str) -> None:
    """Declare a named scheduling point; a no-op outside a controlled run.

    Teaching code calls it where a preemption is instructive (``yield_point("after slot write")``);
    under the scheduler another thread may run here.
    """
    thread = getattr(_tls, "thread", None)
    if thread is None:
        return
    thread.run.point(Pending("yield", name))
    thread.run.log("yield", name)


class ControlledRun:
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
        self.trace_files = frozenset(os.path.realpath(f) for f in trace_files)
        self._traced: dict[str, bool] = {}
        self.max_steps = max_steps
        self.step_timeout = step_timeout
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

    # ----------------------------------------------------------------- program side (managed)

    def new_label(self, kind: str) -> str:
        """A fresh, deterministic name such as ``Lock2`` for a primitive built in this run."""
        self._counters[kind] = self._counters.get(kind, 0) + 1
        return f"{kind}{self._counters[kind]}"

    def point(self, pending: Pending) -> WakeReason:
        """Scheduling point: park the calling managed thread until the controller resumes it.

        Returns why it was resumed (enabled, timed out, spurious). Raises SchedulerAbort when the
        run is ending.
        """
        thread = _tls.thread
        if self._ending or thread.aborting:
            raise SchedulerAbort
        if thread.open_line is not None:
            self._close_line(thread)
        thread.pending = pending
        back = thread.handback or self._to_controller
        thread.handback = None
        back.release()
        thread.gate.acquire()
        if thread.aborting:
            raise SchedulerAbort
        thread.pending = None
        return thread.wake

    def _contents(self) -> str | None:
        if self.describe_state is None:
            return None
        try:
            return self.describe_state()
        except Exception as exc:  # a display helper must never change the run's outcome
            return f"<{type(exc).__name__}>"

    def _close_line(self, thread: ManagedThread) -> None:
        """Show the contents after a traced line ran, not before."""
        index = thread.open_line
        thread.open_line = None
        if index is not None and self.describe_state is not None:
            self.events[index] = replace(self.events[index], contents=self._contents())

    def log(self, op: str, obj: object | None = None, detail: str = "") -> None:
        """Record an operation the running thread has just performed in the trace."""
        if self._ending:
            return  # threads unwinding after the run add nothing to its trace
        thread = _tls.thread
        if thread.open_line is not None:
            self._close_line(thread)
        contents = self._contents()
        if op == "line":
            thread.open_line = len(self.events)
        switch = self._switch_preempted
        self._switch_preempted = False
        self.events.append(
            TraceEvent(
                step=self.steps,
                thread=thread.name,
                op=op,
                obj=label_of(obj),
                detail=detail,
                clock=self.clock,
                contents=contents,
                preempted=switch,
            )
        )

    def choose(self, kind: ChoiceKind, candidates: Sequence[int], current: int | None) -> int:
        """Ask the strategy to pick among ``candidates`` (recorded only if there is a choice)."""
        options = tuple(candidates)
        if len(options) == 1:
            return options[0]
        try:
            chosen = self.strategy.choose(kind, options, current)
        except NondeterminismError as exc:
            # Surfaces from execute(); the thread that asked just ends.
            self.fatal = exc
            raise SchedulerAbort from exc
        if chosen not in options:
            raise RuntimeError(f"strategy chose {chosen}, not one of {options}")
        preemptive = (
            kind is ChoiceKind.THREAD
            and current is not None
            and current in options
            and chosen != current
        )
        if preemptive:
            self.preemptions += 1
        self.choices.append(Choice(kind, options, chosen, current, preemptive))
        return chosen

    def spawn(self, name: str, target: Callable[[], object]) -> ManagedThread:
        """Create a managed thread.

        Called from a managed thread (``Thread.start``), the new thread runs at once, inside its
        parent's step, up to its first scheduling point. In a program without data races that
        prologue touches no state another thread uses concurrently, so scheduling before it
        would only add equivalent schedules (races are found with line-level points, which make
        the prologue empty). The program's main thread, spawned by the controller, waits at its
        gate instead.
        """
        if any(t.name == name for t in self.threads):
            name = f"{name}#{len(self.threads)}"  # trace columns need distinct names
        thread = ManagedThread(len(self.threads), name, self, target)
        parent = current_thread()
        signal = None
        if parent is not None:
            thread.eager = True
            signal = thread.handback = _allocate_lock()
            signal.acquire()
        else:
            thread.pending = Pending("start")
        self.threads.append(thread)
        _tls.internal = True  # the real Thread's own Event/Condition must be real ones
        try:
            real = _RealThread(target=self._bootstrap, args=(thread,), name=name, daemon=True)
            thread.real = real
            real.start()
        finally:
            _tls.internal = False
        if signal is not None and not signal.acquire(timeout=self.step_timeout):
            self._fail(
                FailureKind.STUCK,
                f"{name} ran for {self.step_timeout} s after start() without reaching a "
                "scheduling point",
            )
            raise SchedulerAbort
        return thread

    def _bootstrap(self, thread: ManagedThread) -> None:
        _tls.thread = thread
        _tls.internal = False
        if not thread.eager:
            thread.gate.acquire()
            if thread.aborting:
                thread.finished = True
                return
            thread.pending = None
        if self.trace_files:
            sys.settrace(self._global_tracer)
        aborted = False
        try:
            self.log("start")
            thread.target()
        except SchedulerAbort:
            aborted = True
        except BaseException as exc:  # never lost: becomes the run's failure
            if thread.aborting or self._ending:
                aborted = True  # raised while unwinding from SchedulerAbort: not the program's
            else:
                self._record_exception(thread, exc)
        finally:
            if self.trace_files:
                sys.settrace(None)
        thread.finished = True
        if thread.open_line is not None:
            self._close_line(thread)
        if thread.aborting or self._ending:
            return
        if not aborted:
            self.log("exit")
        back = thread.handback or self._to_controller
        thread.handback = None
        back.release()

    def _record_exception(self, thread: ManagedThread, exc: BaseException) -> None:
        if self.failure is not None:
            return
        # The scheduler's own frames say nothing to the reader: show the program's only.
        frames = [
            frame
            for frame in traceback.extract_tb(exc.__traceback__)
            if not os.path.realpath(frame.filename).startswith(_PACKAGE_DIR)
        ]
        tb = "".join(
            [
                "Traceback (most recent call last):\n",
                *traceback.format_list(frames),
                *traceback.format_exception_only(type(exc), exc),
            ]
        )
        if isinstance(exc, InvariantViolation):
            kind = FailureKind.INVARIANT
            message = str(exc)
        else:
            kind = FailureKind.EXCEPTION
            message = f"{thread.name} raised {type(exc).__name__}: {exc}\n{tb.rstrip()}"
        self.log("raise", detail=f"{type(exc).__name__}: {exc}")
        self.failure = RunFailure(kind, message, thread.name)

    # Line-level scheduling: a scheduling point before every line of the chosen files. Lines run
    # while the thread holds a controlled Lock/RLock are skipped unless lines_inside_locks: if
    # every access to shared state is under one lock they cannot race, and a race between an
    # unlocked access and a locked one is still found through the unlocked side's lines.
    def _global_tracer(self, frame, event, arg):  # noqa: ANN001 - sys.settrace signature
        if event != "call":
            return None
        filename = frame.f_code.co_filename
        hit = self._traced.get(filename)
        if hit is None:
            hit = self._traced[filename] = os.path.realpath(filename) in self.trace_files
        return self._local_tracer if hit else None

    def _local_tracer(self, frame, event, arg):  # noqa: ANN001 - sys.settrace signature
        if event == "line" and (self.lines_inside_locks or not _tls.thread.locks_held):
            text = source_line(frame.f_code.co_filename, frame.f_lineno)
            if needs_point(text):
                where = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
                self.point(Pending("line", where))
                self.log("line", where, text)
        return self._local_tracer

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
        if not self._to_controller.acquire(timeout=self.step_timeout):
            self._fail(
                FailureKind.STUCK,
                f"{thread.name} ran for {self.step_timeout} s without reaching a scheduling "
                "point: an infinite loop without synchronisation, or a blocking call the "
                "scheduler does not control (a lock or queue created outside the run, real I/O)",
            )

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
            name = getattr(invariant, "__name__", repr(invariant))
            try:
                ok = invariant()
            except AssertionError as exc:
                self._fail(FailureKind.INVARIANT, f"invariant {name} failed: {exc}")
                return
            except Exception as exc:
                self._fail(
                    FailureKind.EXCEPTION,
                    f"invariant {name} raised {type(exc).__name__}: {exc} (invariants must read "
                    "state without taking the program's locks)",
                )
                return
            if ok is False:
                self._fail(FailureKind.INVARIANT, f"invariant {name} returned False")
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

    def _end_all(self) -> None:
        """End every managed thread: blocked ones get SchedulerAbort, stuck ones an async one."""
        self._ending = True
        running = []
        for t in self.threads:
            if t.finished:
                continue
            t.aborting = True
            # The gate is closed in every state (parked, running, not yet started): opening it
            # makes the thread raise SchedulerAbort at its current or next scheduling point.
            t.gate.release()
            if t.pending is None:
                running.append(t)
        for t in running:
            # Between scheduling points when the watchdog fired: give it a moment to reach one,
            # then interrupt it (delivered at its next bytecode; a real blocking call in C is
            # not interrupted, and the thread is reported as leaked).
            assert t.real is not None
            t.real.join(timeout=_GRACE)
            if t.real.is_alive() and t.pending is None:
                _async_raise(t.real, SchedulerAbort)
        for t in self.threads:
            if t.real is not None:
                t.real.join(timeout=self.step_timeout)
                if t.real.is_alive():
                    self.leaked.append(t.name)


def _blocked_status(thread: ManagedThread, pending: Pending) -> ThreadStatus:
    kind = pending.wait_kind
    if kind in (WaitKind.CONDITION, WaitKind.SEMAPHORE):
        # A condition waiter already notified is only waiting for the lock.
        probe = getattr(pending.obj, "_notified_probe", None)
        if kind is WaitKind.CONDITION and probe is not None and probe(thread):
            return ThreadStatus.BLOCKED
        if thread.activity is Activity.PUT:
            return ThreadStatus.WAITING_FOR_SPACE
        if thread.activity is Activity.GET:
            return ThreadStatus.WAITING_FOR_ITEMS
    return ThreadStatus.BLOCKED


def _async_raise(real: threading.Thread, exc_type: type[BaseException]) -> None:
    """Raise ``exc_type`` asynchronously in a real thread (delivered at its next bytecode)."""
    if real.ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(real.ident), ctypes.py_object(exc_type)
    )
