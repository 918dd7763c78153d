"""The program side of a controlled run: what a managed thread does at a scheduling point.

:class:`SchedulingPointsMixin` is the part of :class:`~pcmodel.sched.runtime.ControlledRun`
that runs in managed threads: park at a scheduling point and wait for the baton (``point``),
record the trace (``log``), ask the strategy for a choice (``choose``), start a managed thread
(``spawn``, ``_bootstrap``), turn an exception raised by the program into the run's failure, and
place a scheduling point before the lines of traced files (line-level scheduling).

Guarantees: a managed thread runs only between the controller releasing its gate and its next
``point``; ``point`` raises ``SchedulerAbort`` once the run is ending, so no thread touches
shared state after its run is over; an exception raised by the program is never lost (it becomes
the run's failure, with the scheduler's own frames left out of the traceback); a choice is
recorded only when there was more than one option.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace

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
    WakeReason,
    label_of,
)
from pcmodel.sched.targets import real_path
from pcmodel.sched.thread_context import _RealEvent, _RealThread, _tls, current_thread
from pcmodel.sched.trace import TraceEvent

__all__ = ["SchedulingPointsMixin"]

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__)) + os.sep


class SchedulingPointsMixin:
    """Scheduling points, trace records, choices and thread start-up of a ControlledRun."""

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
        self._hand_back(thread)
        thread.gate.acquire()
        if thread.aborting:
            raise SchedulerAbort
        thread.pending = None
        return thread.wake

    def _hand_back(self, thread: ManagedThread) -> None:
        """Wake whoever waits for ``thread`` to stop: its parent in ``start()`` (the first
        time), otherwise the controller."""
        handback, thread.handback = thread.handback, None
        if handback is not None:
            handback.set()
        else:
            self._to_controller.release()

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
        if parent is None:
            thread.pending = Pending("start")
        self.threads.append(thread)
        _tls.internal = True  # the real Thread's own Event/Condition must be real ones
        try:
            if parent is not None:
                # An event, not a lock: the end of the run sets it too (_end_all), and setting
                # it twice is harmless where releasing a lock twice is an error.
                thread.eager = True
                signal = thread.handback = _RealEvent()
            real = _RealThread(target=self._bootstrap, args=(thread,), name=name, daemon=True)
            thread.real = real
            real.start()
        finally:
            _tls.internal = False
        if signal is not None and not signal.wait(timeout=self.step_timeout):
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
            # A thread ended before its first scheduling point still has a parent waiting for
            # it in start(); the controller no longer waits for anyone.
            handback = thread.handback
            if handback is not None:
                handback.set()
            return
        if not aborted:
            self.log("exit")
        self._hand_back(thread)

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
            hit = self._traced[filename] = real_path(filename) in self.trace_files
        return self._local_tracer if hit else None

    def _local_tracer(self, frame, event, arg):  # noqa: ANN001 - sys.settrace signature
        if event == "line" and (self.lines_inside_locks or not _tls.thread.locks_held):
            text = source_line(frame.f_code.co_filename, frame.f_lineno)
            if needs_point(text):
                where = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
                self.point(Pending("line", where))
                self.log("line", where, text)
        return self._local_tracer
