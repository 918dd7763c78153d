"""A process that died holding part of a process buffer is found dead even after the kernel gave
its pid to another process.

Linux hands out pids in order and goes round ``pid_max`` (often 32768) within a minute on a busy
machine. Waiting for a real reuse would take tens of thousands of processes, so these tests make
the record a reuse leaves: a real holder takes the lock (or permits, or a debt slot) and exits,
and the pid in what it recorded is then replaced by the pid of a process that is running, as if
that process had been given the dead holder's pid. The pid sits in the record's low bits
whatever else the record holds, so the replacement is ``record - dead pid + live pid``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Callable

import pytest

from pcmodel.buffers.robust import PARTICIPANTS, Health, RobustLock
from pcmodel.buffers.robust_semaphore import RobustSemaphore
from pcmodel.errors import BufferBroken

pytestmark = pytest.mark.timeout(30)

FORK = multiprocessing.get_context("fork")
PID_MASK = (1 << 22) - 1  # a record's pid (Linux pids are below 2**22)


def live_pid() -> int:
    """The pid of a running process that is neither this one nor the dead holder, and started
    at another time: this process's parent, started many clock ticks before the holder this
    process forks. (A process forked just before the holder could share its start tick, and
    then pass for it: a start time is counted in clock ticks, see pcmodel.buffers.identity.)"""
    parent = os.getppid()
    if parent <= 0:
        pytest.skip("this process's parent is outside its pid namespace")
    return parent


def exited_child(work: Callable[[], object]) -> int:
    """Run ``work`` in a forked child that then exits without letting go of anything; return
    the child's pid once it has exited and been reaped."""
    pid = os.fork()
    if pid == 0:
        try:
            work()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return pid


def given_to(record: int, dead: int, live: int) -> int:
    """``record``, left by process ``dead``, as it reads once ``dead``'s pid names ``live``."""
    return record - dead + live


def lock_of_a_dead_holder() -> tuple[Health, RobustLock, int]:
    """A lock taken by a process that exited holding it, its record as it reads once the
    holder's pid names a live process; with its health and that live pid."""
    live = live_pid()
    health = Health(FORK)
    lock = RobustLock(FORK, health)
    dead = exited_child(lock.acquire)
    lock._owner.value = given_to(lock._owner.value, dead, live)
    return health, lock, live


def test_a_dead_lock_holder_whose_pid_now_names_a_live_process_breaks_the_check():
    health, _, live = lock_of_a_dead_holder()
    with pytest.raises(BufferBroken, match=f"process {live} died holding the buffer's lock"):
        health.check()


def test_an_acquire_with_a_timeout_raises_instead_of_waiting_on_that_lock():
    health, lock, _ = lock_of_a_dead_holder()
    with pytest.raises(BufferBroken, match="died holding the buffer's lock"):
        lock.acquire(timeout=5)  # before the fix: False after 5 s, and for ever without one
    assert health.broken


def test_a_dead_debtor_whose_pid_now_names_a_live_process_breaks_the_check():
    live = live_pid()
    health = Health(FORK)
    sem = RobustSemaphore(FORK, 1, health)
    dead = exited_child(sem.acquire)  # dies owing the permit it took
    table = health.table
    index = next(i for i in range(PARTICIPANTS) if table[3 * i] & PID_MASK == dead)
    assert table[3 * index + 1] == 1
    table[3 * index] = given_to(table[3 * index], dead, live)
    with pytest.raises(BufferBroken, match=f"process {live} died between taking 1 permit"):
        health.check()


def test_debt_slots_left_by_exited_processes_are_reused_though_their_pids_were_given_on():
    live = live_pid()
    health = Health(FORK)
    dead = exited_child(health.debt_slot)  # claims a slot, owes nothing, exits
    table = health.table
    left = next(table[3 * i] for i in range(PARTICIPANTS) if table[3 * i])
    for index in range(PARTICIPANTS):  # every slot held by the same stale record
        table[3 * index:3 * index + 3] = [given_to(left, dead, live), 0, 0]
    assert health.debt_slot() >= 0  # before the fix: -1, the table full of the "living"


def test_a_live_holder_is_not_taken_for_dead():
    health = Health(FORK)
    lock = RobustLock(FORK, health)
    taken, go = os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            lock.acquire()
            os.write(taken[1], b"x")
            os.read(go[0], 1)
        finally:
            os._exit(0)
    try:
        assert os.read(taken[0], 1) == b"x"
        health.check()  # the forked child recorded itself, not its parent: it runs
        assert not health.broken and not lock.acquire(timeout=0.3)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        for end in (*taken, *go):
            os.close(end)
    with pytest.raises(BufferBroken, match=f"process {pid} died holding"):
        health.check()


def test_an_identity_names_one_process_only():
    from pcmodel.buffers import identity, robust, robust_semaphore

    me = identity.current_identity()
    assert identity.pid_of(me) == os.getpid()
    assert robust._me == robust_semaphore._me == me
    assert identity.process_alive(me)
    assert not identity.process_alive(me + (1 << identity.PID_BITS))  # started at another time
    read_end, write_end = os.pipe()
    zombie = os.fork()
    if zombie == 0:
        os.write(write_end, str(identity.current_identity()).encode())
        os._exit(0)
    try:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reader:
            its = int(reader.read())
        os.waitid(os.P_PID, zombie, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
        assert identity.pid_of(its) == zombie and not identity.process_alive(its)
    finally:
        os.waitpid(zombie, 0)


def test_a_forked_child_has_its_own_identity_everywhere():
    from pcmodel.buffers import identity, robust, robust_semaphore

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            seen = {identity.current_identity(), robust._me, robust_semaphore._me}
            os.write(write_end, json.dumps(sorted(seen)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        seen = json.loads(reader.read())
    os.waitpid(pid, 0)
    assert len(seen) == 1 and identity.pid_of(seen[0]) == pid
    assert seen[0] != identity.current_identity()


def test_without_proc_a_record_is_judged_by_its_pid_alone(monkeypatch):
    from pcmodel.buffers import identity

    monkeypatch.setattr(identity, "_HAVE_PROC", False)  # as on a system without /proc
    holder = live_pid()
    assert identity.process_alive(holder)  # a live pid is not taken for dead there
    assert not identity.process_alive(exited_child(lambda: None))  # reaped: no such pid
