"""Ending a controlled run: every managed thread is ended before the run returns.

:class:`TeardownMixin` is the part of :class:`~pcmodel.sched.runtime.ControlledRun` that ends a
run, whatever its outcome: threads parked at a scheduling point are released and raise
``SchedulerAbort`` there; a thread caught between scheduling points (the watchdog fired) gets a
short grace period and is then interrupted by an asynchronous ``SchedulerAbort``. A parent
waiting in ``start()`` for a new thread is let go at once, whatever the new thread does.

Guarantees: after ``_end_all`` every managed thread has finished, or is named in ``leaked``
(a thread blocked in a real call written in C cannot be interrupted); each join is bounded by
the run's ``step_timeout``.
"""

from __future__ import annotations

import ctypes
import threading

from pcmodel.sched.model import SchedulerAbort

__all__ = ["TeardownMixin"]

# How long a running thread gets to reach a scheduling point once its run is over.
_GRACE = 0.05


class TeardownMixin:
    """Ending every managed thread of a ControlledRun."""

    def _end_all(self) -> None:
        """End every managed thread: blocked ones get SchedulerAbort, stuck ones an async one."""
        self._ending = True
        running = []
        for t in self.threads:
            if t.finished:
                continue
            t.aborting = True
            # The gate is closed in every state (parked, running, not yet started) but one: the
            # controller has just opened it and the thread has not yet passed it (a run ended
            # there by Ctrl-C). Opening it makes the thread raise SchedulerAbort at its current
            # or next scheduling point; an open one it passes, to raise there too.
            if t.gate.locked():
                t.gate.release()
            # A parent waiting in start() for this thread's first scheduling point is let go
            # now: the thread may never reach one (it ends, or it is interrupted, first).
            handback = t.handback
            if handback is not None:
                handback.set()
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


def _async_raise(real: threading.Thread, exc_type: type[BaseException]) -> None:
    """Raise ``exc_type`` asynchronously in a real thread (delivered at its next bytecode)."""
    if real.ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(real.ident), ctypes.py_object(exc_type)
    )
