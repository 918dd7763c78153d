"""Suite-wide checks: no test may leave a thread, a child process or a shared-memory file behind."""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from multiprocessing import shared_memory

import pytest

SHM = "/dev/shm"

# Semaphores this test run creates carry its own name prefix, so that the leak check can tell
# them from the entries of other programs (and other test runs) on a shared machine. The prefix
# is inherited by forked children; a spawned child creates its semaphores under the default
# name, but pcmodel's buffers create theirs in the parent and hand them over.
RUN_SEM_PREFIX = f"/mp-pcmtest{os.getpid()}"
multiprocessing.current_process()._config["semprefix"] = RUN_SEM_PREFIX
# Shared-memory blocks this process creates, by name (SharedMemory files under /dev/shm).
_CREATED_SHM: set[str] = set()
_original_shm_init = shared_memory.SharedMemory.__init__


def _recording_shm_init(self, name=None, create=False, size=0, **kwargs):
    _original_shm_init(self, name, create, size, **kwargs)
    if create:
        _CREATED_SHM.add(self._name.lstrip("/"))


shared_memory.SharedMemory.__init__ = _recording_shm_init


def _shm_names() -> set[str]:
    if os.environ.get("PCMODEL_SKIP_SHM_CHECK"):
        return set()
    try:
        return set(os.listdir(SHM))
    except FileNotFoundError:  # not Linux: nothing to compare
        return set()


def _our_processes() -> set[str]:
    """This process and its descendants, as /proc entry names."""
    parents: dict[str, str] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                # The command name may hold spaces and parentheses: split after the last ')'.
                parents[pid] = stat.read().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
    ours = {str(os.getpid())}
    grew = True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in ours} - ours
        grew = bool(found)
        ours |= found
    return ours


def _mapped_by(names: set[str], pids: set[str] | None) -> set[str]:
    """The entries among ``names`` mapped by the processes ``pids`` (None: by every process).

    Matched by inode, since glibc maps a semaphore under the temporary name it was created with.
    """
    inodes = {}
    for name in names:
        try:
            inodes[os.stat(os.path.join(SHM, name)).st_ino] = name
        except OSError:
            continue
    mapped = set()
    for pid in os.listdir("/proc") if pids is None else pids:
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/maps") as maps:
                for line in maps:
                    fields = line.split()
                    if len(fields) >= 6 and fields[5].startswith(SHM):
                        name = inodes.get(int(fields[4]))
                        if name is not None:
                            mapped.add(name)
        except (OSError, ValueError):
            continue
    return mapped


def ours_in_shm(names: set[str]) -> set[str]:
    """The /dev/shm entries among ``names`` that this test run made: named with its semaphore
    prefix, created by it as shared memory, or mapped by this process or one of its children.
    Entries of other programs and other test runs on the machine are never blamed."""
    prefix = "sem." + RUN_SEM_PREFIX.lstrip("/") + "-"
    named = {n for n in names if n.startswith(prefix) or n in _CREATED_SHM}
    unnamed = names - named
    if not unnamed:  # the usual case after a test: no walk over every process of the machine
        return named
    return named | _mapped_by(unnamed, _our_processes())


class Interrupted(BaseException):
    """Stands for a KeyboardInterrupt that lands just after a waiter was woken."""


def interrupt_the_first_waiter(condition) -> None:
    """Make ``condition.wait()`` raise :class:`Interrupted` in the thread named ``"first"``
    once the real wait has returned (woken, or timed out)."""
    real_wait = condition.wait

    def wait(timeout=None):
        woken = real_wait(timeout)
        if threading.current_thread().name == "first":
            raise Interrupted
        return woken

    condition.wait = wait


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.001) -> None:
    """Return once ``predicate()`` is true; fail the test after ``timeout`` seconds.

    A synchronisation helper for observing another actor's state (e.g. "a putter is now
    blocked"), not a sleep that lets a thread run: it returns as soon as the state is reached.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout} s: {predicate}")
        pause.wait(interval)


@pytest.fixture(autouse=True)
def no_leaks():
    """Fail a test that leaves threads, child processes or /dev/shm entries behind."""
    threads_before = set(threading.enumerate())
    shm_before = _shm_names()
    yield
    deadline = time.monotonic() + 10
    for child in multiprocessing.active_children():
        child.join(max(0.0, deadline - time.monotonic()))
    leftover_children = multiprocessing.active_children()

    def leftovers() -> tuple[list[threading.Thread], set[str]]:
        threads = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
        return threads, ours_in_shm(_shm_names() - shm_before)

    leftover_threads, leaked_shm = leftovers()
    if leftover_threads or leaked_shm:
        # Garbage that still owns a thread or a segment gives it up when collected (a
        # multiprocessing.Queue stops its feeder thread, a buffer unlinks its memory). Collected
        # only here: a full collection of a large test process takes a tenth of a second, and
        # most tests leave nothing to collect.
        gc.collect()
        for thread in leftover_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        leftover_threads, leaked_shm = leftovers()
    for child in leftover_children:
        child.kill()
        child.join(5)
    problems = []
    if leftover_children:
        problems.append(f"child processes still running: {leftover_children}")
    if leftover_threads:
        problems.append(f"threads still running: {leftover_threads}")
    if leaked_shm:
        problems.append(f"new entries in {SHM}: {sorted(leaked_shm)}")
    if problems:
        pytest.fail("test left resources behind: " + "; ".join(problems))
