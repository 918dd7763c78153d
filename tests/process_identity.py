"""Which process a pid names, and whether it is still that very process.

A pid names a process only while that process exists: once it is reaped, the kernel hands the
number to the next process or thread it creates. A machine running this suite (thousands of
processes, and every thread takes a number from the same space) goes round a pid space of 32768
in well under a minute, so a test that notes a pid and looks at ``/proc/PID`` seconds later may
be looking at a stranger, and report a process "still running" that ended long ago. Here a
process is named by its pid and its start time (field 22 of ``/proc/PID/stat``, in clock ticks
since boot), which no later holder of the pid shares.

Read from ``/proc`` (Linux): elsewhere no pid names a process here, and nothing runs.
"""

from __future__ import annotations

import os
from typing import NamedTuple


class ProcessIdentity(NamedTuple):
    """One process: its pid and its start time (clock ticks after boot)."""

    pid: int
    started: int


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (the state first); None if
    there is no such process. The command name may hold spaces and parentheses: the fields
    resume after its last ')'."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].decode().split()
    except (OSError, IndexError):
        return None


def identity(pid: int) -> ProcessIdentity | None:
    """The identity of the process ``pid`` names now; None if none does.

    A zombie still has one (it holds its pid until it is reaped): :func:`running` says it does
    not run."""
    fields = _stat(pid)
    return None if fields is None else ProcessIdentity(pid, int(fields[19]))


def running(process: ProcessIdentity) -> bool:
    """Whether the process ``process`` names still runs: a process with its pid and its start
    time exists and is not a zombie (dead, waiting to be reaped). False for any later process
    given the same pid."""
    fields = _stat(process.pid)
    return fields is not None and fields[0] not in ("Z", "X") and int(fields[19]) == process.started


def descendants(root: int) -> set[ProcessIdentity]:
    """Every process below the process ``root`` now (children, their children, ...), from one
    look at /proc: a process that ends meanwhile is left out, never mistaken for another."""
    children: dict[int, list[ProcessIdentity]] = {}
    try:
        entries = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return set()
    for pid in entries:
        fields = _stat(pid)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(ProcessIdentity(pid, int(fields[19])))
    found: set[ProcessIdentity] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child.pid)
    return found
