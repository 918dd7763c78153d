"""Suite-wide checks: no test may leave a thread, a child process or a shared-memory file behind."""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time

import pytest

SHM = "/dev/shm"

def _shm_names() -> set[str]:
    # /dev/shm is machine-wide: where other programs create semaphores there while the tests run
    # (processes this one cannot see), set PCMODEL_SKIP_SHM_CHECK=1. CI runs alone and checks.
    if os.environ.get("PCMODEL_SKIP_SHM_CHECK"):
        return set()
    try:
        return set(os.listdir(SHM))
    except FileNotFoundError:  # not Linux: nothing to compare
        return set()


def _held_elsewhere(names: set[str]) -> set[str]:
    """The entries among ``names`` that some unrelated process has mapped: not ours to judge.

    /dev/shm is machine-wide; another program's (or another test run's) semaphores appear there
    too. An entry this process leaked is mapped by nobody, or still by this process. Mappings are
    matched by inode, since glibc maps a semaphore under the temporary name it was created with.
    """
    inodes = {}
    for name in names:
        try:
            inodes[os.stat(os.path.join(SHM, name)).st_ino] = name
        except OSError:
            continue
    held = set()
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid == me:
            continue
        try:
            with open(f"/proc/{pid}/maps") as maps:
                for line in maps:
                    fields = line.split()
                    if len(fields) >= 6 and fields[5].startswith(SHM):
                        name = inodes.get(int(fields[4]))
                        if name is not None:
                            held.add(name)
        except (OSError, ValueError):
            continue
    return held


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
    gc.collect()  # a garbage multiprocessing.Queue stops its feeder thread when collected
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(max(0.0, deadline - time.monotonic()))
    leftover_threads = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    leaked_shm = _shm_names() - shm_before
    if leaked_shm:  # judge only what is still there and held by no unrelated process
        leaked_shm = (leaked_shm - _held_elsewhere(leaked_shm)) & _shm_names()
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
