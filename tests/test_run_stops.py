"""A run stops when told to, even in the middle of an item's work.

An actor whose item sleeps for an hour (``--produce-work sleep:3600``) or spins for minutes is
not in the buffer, so shutting the buffer down does not reach it; a thread cannot be killed.
The runner's work is done in slices and each slice asks whether the run was stopped, so Ctrl-C,
SIGTERM and the run's own timeout end such a run at once instead of after the item.

The command runs as a child process that prints a line when an actor first sleeps, so
the signal is sent while the work is under way, never after a guessed delay.
"""

from __future__ import annotations

import ctypes
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from pcmodel.errors import ShutDown
from pcmodel.experiments.work import Work
from tests.conftest import wait_until

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX signals and process groups"),
]

ROOT = Path(__file__).resolve().parents[1]
# `pcmodel ARGS`, printing "sleeping" the first time an actor sleeps for a tenth of a second
# or more (time.sleep is wrapped: the work looks it up in the module each time).
CHILD = textwrap.dedent("""\
    import sys, threading, time
    said = threading.Event()
    real_sleep = time.sleep

    def sleep(seconds):
        if seconds >= 0.1 and not said.is_set():
            said.set()
            print("sleeping", flush=True)
        real_sleep(seconds)

    time.sleep = sleep
    from pcmodel.cli import main
    sys.exit(main(sys.argv[1:]))
""")
HOUR_OF_SLEEP = ["run", "--variant", "condition", "--items", "2", "--produce-work", "sleep:3600",
                 "--no-progress"]


@pytest.fixture
def start():
    """Start ``pcmodel ARGS`` in a session of its own; return once an actor sleeps. Whatever
    the test's outcome, nothing it started is left running."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        started.append(child)
        assert child.stdout.readline() == "sleeping\n", "the run ended before it slept"
        return child

    yield start
    for child in started:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate(timeout=10)


def finish(child: subprocess.Popen) -> tuple[int, str]:
    """The child's status and stderr; it must end within 20 s (the old runner took an hour)."""
    try:
        _, err = child.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("the run went on sleeping after it was stopped")
    return child.returncode, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_a_thread_run_in_the_middle_of_an_item(start, signum):
    child = start(*HOUR_OF_SLEEP)
    os.killpg(child.pid, signum)
    assert finish(child) == (130, "pcmodel run: interrupted\n")


def test_the_timeout_stops_a_thread_run_in_the_middle_of_an_item(start):
    child = start(*HOUR_OF_SLEEP, "--timeout", "0.5")
    status, err = finish(child)
    assert status == 1
    assert err == ("pcmodel run: error: condition/thread: the run took longer than its timeout "
                   "of 0.5s and was stopped\n")


def test_stopped_work_ends_at_the_next_slice():
    from pcmodel.experiments.work import StoppableWork

    stop = ctypes.c_bool(True)
    for spec in ("sleep:3600", "cpu:100000000000"):
        with pytest.raises(ShutDown):
            StoppableWork(Work.parse(spec), stop).perform(random.Random(0))


def test_short_work_is_done_whole_even_when_stopped():
    # Shorter than a slice: done exactly as Work.perform does it, measurements unchanged.
    from pcmodel.experiments.work import StoppableWork

    stop = ctypes.c_bool(True)
    for spec in ("sleep:0.001", "cpu:1000", "sleep:0.001:exp"):
        StoppableWork(Work.parse(spec), stop).perform(random.Random(0))


class _InterruptingSemaphore:
    """A multiprocessing semaphore whose first blocking acquire is preceded by a real SIGINT
    to this process: Ctrl-C while ``Event.set()`` waits for a woken sleeper's answer."""

    def __init__(self, semaphore) -> None:
        self._semaphore = semaphore
        self.fired = False

    def acquire(self, block=True, timeout=None):
        if block and not self.fired:
            self.fired = True
            os.kill(os.getpid(), signal.SIGINT)
        return self._semaphore.acquire(block, timeout)

    def release(self):
        return self._semaphore.release()


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt during the test, as in a terminal (a pytest-xdist
    worker ignores SIGINT: its controller handles Ctrl-C)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_while_the_start_signal_wakes_process_actors_stops_the_run(monkeypatch,
                                                                          sigint_raises):
    # multiprocessing's Event.set() wakes each sleeper, then waits for its answer. A Ctrl-C
    # between the two broke the event: the runner's second set() failed an assertion inside
    # multiprocessing instead of stopping the actors, which then kept the command alive.
    from pcmodel.experiments import actors, runner

    assert threading.current_thread() is threading.main_thread()  # where signals land
    real_start = actors.ProcessCrew.start
    interrupting = []

    def start(crew):
        real_start(crew)
        condition = crew.start_signal._cond
        # Only this process's copy of the condition is changed: the actors were forked with
        # the real semaphore, which they release when woken.
        wait_until(lambda: condition._sleeping_count.get_value() == 2)  # both actors wait
        condition._woken_count = _InterruptingSemaphore(condition._woken_count)
        interrupting.append(condition._woken_count)

    monkeypatch.setattr(actors.ProcessCrew, "start", start)
    with pytest.raises(KeyboardInterrupt):
        runner.run_workload(variant="condition", backend="process", context="fork",
                            producers=1, consumers=1, items=10, progress=False)
    assert interrupting and interrupting[0].fired
