"""Ending a controlled run early (Ctrl-C in the controller) ends every thread at once, whatever
it was doing: no thread is left waiting for another that will never answer."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from pcmodel.sched import DepthFirst, yield_point
from pcmodel.sched.runtime import ControlledRun
from pcmodel.sched.thread_context import _allocate_lock


class Interrupted(BaseException):
    """Stands for the KeyboardInterrupt that Ctrl-C raises in the controller."""


@pytest.mark.timeout(30)
def test_ctrl_c_while_a_new_thread_starts_ends_the_run_at_once():
    # The parent of a thread waits in start() until the new thread reaches its first scheduling
    # point. Ctrl-C lands in the controller just then: the new thread, reaching that point after
    # the run is over, ends with SchedulerAbort, and must still let its parent go, or the parent
    # waits out the whole step timeout (and the run blames it as stuck).
    assert threading.current_thread() is threading.main_thread()  # where signals land
    main_ident = threading.main_thread().ident
    ending = _allocate_lock()  # a real lock: released once the run is ending
    ending.acquire()

    class Run(ControlledRun):
        def _end_all(self) -> None:
            self._ending = True
            ending.release()  # the new thread goes on to its first point only now
            super()._end_all()

    def child() -> None:
        signal.pthread_kill(main_ident, signal.SIGINT)  # Ctrl-C, during the parent's start()
        assert ending.acquire(timeout=20)
        yield_point("first point, reached after the run ended")

    def program() -> None:
        threading.Thread(target=child, name="child").start()
        yield_point("after start")

    def interrupt(signum, frame):
        raise Interrupted

    step_timeout = 10.0
    run = Run(DepthFirst(), step_timeout=step_timeout)
    previous = signal.signal(signal.SIGINT, interrupt)
    started = time.monotonic()
    try:
        with pytest.raises(Interrupted):
            run.execute(program)
    finally:
        signal.signal(signal.SIGINT, previous)
    took = time.monotonic() - started
    assert run.failure is None, run.failure  # nobody was stuck: the run was interrupted
    assert not run.leaked
    assert all(not t.real.is_alive() for t in run.threads)
    assert took < step_timeout / 2, f"the interrupted run took {took:.1f} s to end"
