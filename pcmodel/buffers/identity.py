"""Which process a process buffer's records name: its pid and its start time, in one number.

A process buffer records who holds its locks and owes its permits, so that a death is found
(:mod:`pcmodel.buffers.robust`). A bare pid is not enough: once its process is reaped, Linux
hands the number to the next process it creates, going round ``/proc/sys/kernel/pid_max``
(often 32768) in under a minute on a busy machine. A holder that died unseen until then would
seem alive for as long as the stranger lives, and its peers would wait on its lock for ever.

So a record is the process's *identity*: its pid and its start time (field 22 of
``/proc/PID/stat``, clock ticks since boot), which no later process with that pid shares, packed
into one 64-bit number (``started << PID_BITS | pid``) so that recording it stays one store. A
record names a live process if a process with its pid exists, is not a zombie, and started then.
A start time is counted in clock ticks (10 ms): a pid given on within the tick its holder started
in would pass for it, but that takes the whole pid space to go round in those 10 ms.

Where there is no ``/proc`` (not Linux), the start time is 0 and the record is the bare pid:
there, a pid reused before anyone looked still hides a death.
"""

from __future__ import annotations

import os

__all__ = ["PID_BITS", "current_identity", "current_pid", "pid_of", "process_alive"]

PID_BITS = 22
"""Bits of an identity that hold the pid: Linux pids stay below ``pid_max``, at most 2**22. The
40 bits above hold the start time, enough at 100 ticks a second for three centuries of uptime."""

_PID_MASK = (1 << PID_BITS) - 1
_HAVE_PROC = os.path.exists("/proc/self/stat")


def _stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` from the state on (field 3); None if no process has
    that pid. Read after the command name's last ')', as the name may hold spaces and ')'."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rindex(b")") + 2:].split()


def _identity_now() -> int:
    pid = os.getpid()
    fields = _stat(pid) if _HAVE_PROC else None
    started = int(fields[19]) if fields is not None else 0  # field 22: the start time
    return started << PID_BITS | pid


_pid = os.getpid()
_me = _identity_now()


def _refresh() -> None:
    global _pid, _me
    _pid, _me = os.getpid(), _identity_now()


# A forked child is a new process: it gets its own pid and start time. (Modules that keep a
# copy of the identity refresh it from their own at-fork hooks, which run after this one: a
# child's hooks run in the order they were registered, and they import this module first.)
os.register_at_fork(after_in_child=_refresh)


def current_pid() -> int:
    """This process's pid, kept up to date across forks without a system call per question."""
    return _pid


def current_identity() -> int:
    """This process's identity (see the module), computed once per process and after a fork."""
    return _me


def pid_of(identity: int) -> int:
    """The pid an identity names (for messages: the start time means nothing to a reader)."""
    return identity & _PID_MASK


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to someone else
        return True
    return True


def process_alive(identity: int) -> bool:
    """True unless the process ``identity`` names has exited: no process has its pid, or the
    one that has it is a zombie (exited, not yet reaped) or started at another time (a later
    process given the pid). Without ``/proc``, or with a start time of 0, it goes by the pid
    alone; a ``/proc`` entry that cannot be read does too."""
    pid, started = identity & _PID_MASK, identity >> PID_BITS
    if not _HAVE_PROC:
        return _pid_exists(pid)
    try:
        fields = _stat(pid)
    except OSError:  # hidden from this user (mounted with hidepid): the pid is all we have
        return _pid_exists(pid)
    if fields is None or fields[0] in (b"Z", b"X"):
        return False
    return started == 0 or int(fields[19]) == started
