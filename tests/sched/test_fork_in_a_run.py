"""A managed thread that starts a process (os.fork, os.forkpty, a multiprocessing process)
fails its schedule saying that processes cannot be explored, and nothing is started: before, the
forked child hung in its after-fork handlers (threading's builds an RLock there, which came out
a controlled one waiting for a scheduler the child does not have), the schedule failed as
"stuck", and the child was left running for ever. A program run with subprocess is allowed; one
whose preexec_fn makes it run Python in the forked child hung the same way."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pty
import signal
import subprocess
import sys
import threading
from os import fork

import pytest

from pcmodel.sched import FailureKind, explore_program

REFUSED = "called inside a controlled run: processes cannot be explored"


def _children() -> set[int]:
    """The pids of this process's children, from /proc (os.fork children included, which
    multiprocessing.active_children() does not know)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid():
            found.add(int(entry))
    return found


@pytest.fixture(autouse=True)
def no_forked_child():
    """Fail a test that leaves a forked child, after killing it (so a failing test cannot
    leave a hung process on the machine)."""
    before = _children()
    yield
    stray = _children() - before
    for pid in stray:
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):  # the program's waitpid may reap it first
            os.waitpid(pid, 0)
    assert not stray, f"forked children left behind: {sorted(stray)}"


def _in_a_thread(work):
    def program() -> None:
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()

    return program


def _fork_and_wait() -> None:
    pid = os.fork()
    if pid == 0:  # the child, had it been started: leaves at once
        os._exit(0)
    os.waitpid(pid, 0)


def test_os_fork_in_a_managed_thread_fails_the_schedule_and_starts_no_child():
    result = explore_program(_in_a_thread(_fork_and_wait), max_schedules=3, step_timeout=1.0)
    assert result.failure is not None
    assert result.failure.kind is FailureKind.EXCEPTION
    assert f"Thread-1 raised ProcessStartRefused: os.fork() {REFUSED}" in result.failure.message
    assert os.fork.__module__ == "posix"  # the real one again after the run


def test_the_refusal_is_not_hidden_by_except_exception():
    def careless() -> None:
        try:
            _fork_and_wait()
        except Exception:  # a program that shrugs errors off still fails its schedule
            pass

    result = explore_program(careless, max_schedules=3, step_timeout=1.0)
    assert result.failure is not None
    assert f"os.fork() {REFUSED}" in result.failure.message


@pytest.mark.parametrize("start", [lambda: os.forkpty(), lambda: pty.fork()],
                         ids=["os.forkpty", "pty.fork"])
def test_os_forkpty_and_pty_fork_are_refused_too(start):
    result = explore_program(start, max_schedules=1, step_timeout=1.0)
    assert result.failure is not None
    assert f"os.forkpty() {REFUSED}" in result.failure.message


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_multiprocessing_process_is_refused_whatever_its_start_method(method):
    context = multiprocessing.get_context(method)

    def program() -> None:
        process = context.Process(target=print)
        process.start()
        process.join()

    result = explore_program(_in_a_thread(program), max_schedules=1, step_timeout=1.0)
    assert result.failure is not None
    assert f"multiprocessing Process.start() {REFUSED}" in result.failure.message
    assert not multiprocessing.active_children()


def test_outside_a_run_processes_start_as_always():
    from pcmodel.sched.patching import ProcessStartRefused

    process = multiprocessing.get_context("fork").Process(target=os.getpid)
    process.start()
    process.join(10)
    assert process.exitcode == 0
    assert issubclass(ProcessStartRefused, BaseException)
    assert not issubclass(ProcessStartRefused, Exception)


def test_fork_imported_by_name_is_refused_too():
    def program() -> None:
        pid = fork()  # the name this module bound at import, re-bound for the run
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)

    result = explore_program(program, max_schedules=1, step_timeout=1.0)
    assert result.failure is not None
    assert f"os.fork() {REFUSED}" in result.failure.message


def test_subprocess_with_a_preexec_fn_runs_and_is_reaped():
    def run_one() -> None:
        done = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=os.getpid)
        assert done.returncode == 0

    result = explore_program(_in_a_thread(run_one), max_schedules=2, step_timeout=5.0)
    assert result.ok, result.failure
