"""Which managed thread runs in this OS thread, and the real primitives the scheduler keeps.

A controlled run patches ``threading`` and ``time`` for its duration; the scheduler itself must
keep using the real objects. This module binds them (``_RealThread``, ``_allocate_lock``) at
import, before any run can patch anything, and holds the per-OS-thread record that tells a
controlled primitive whether it is called from a managed thread.

Guarantees: ``current_thread()`` is None outside a controlled run, and also while the scheduler
builds its own real threading objects (so those are never controlled); ``yield_point`` is a
no-op outside a run. Nothing here blocks.

A process forked by a managed thread (``subprocess`` with a ``preexec_fn`` forks and runs
Python in the child before its ``exec``) is under no run: the scheduler's threads were not
copied. Its after-fork handlers (``threading`` builds a new RLock there) must therefore build
real objects, not controlled ones that would wait for ever for a scheduler; the fork handlers
below see to it, and the child's thread is no longer managed.
"""

from __future__ import annotations

import _thread
import os
import threading

from pcmodel.sched.model import ManagedThread, Pending

__all__ = ["current_thread", "yield_point"]

# Real primitives, saved before any patching, for the scheduler's own use.
_RealThread = threading.Thread
_RealEvent = threading.Event  # builds real ones only while ``_tls.internal`` is set
_allocate_lock = _thread.allocate_lock

# Per-OS-thread state: ``thread`` is the ManagedThread running here (None outside a run);
# ``internal`` is set while the scheduler itself builds real threading objects.
_tls = _thread._local()


def current_thread() -> ManagedThread | None:
    """The managed thread running in this OS thread, or None outside a controlled run."""
    thread = getattr(_tls, "thread", None)
    if thread is None or getattr(_tls, "internal", False):
        return None
    return thread


def yield_point(name: str) -> None:
    """Declare a named scheduling point; a no-op outside a controlled run.

    Teaching code calls it where a preemption is instructive (``yield_point("after slot write")``);
    under the scheduler another thread may run here.
    """
    thread = getattr(_tls, "thread", None)
    if thread is None:
        return
    thread.run.point(Pending("yield", name))
    thread.run.log("yield", name)


def _before_fork() -> None:
    _tls.internal_before_fork = getattr(_tls, "internal", False)
    _tls.internal = True  # the child's after-fork handlers build real objects


def _after_fork_in_parent() -> None:
    _tls.internal = getattr(_tls, "internal_before_fork", False)


def _after_fork_in_child() -> None:
    _tls.thread = None  # the child runs no scheduler: nothing in it is managed
    _tls.internal = False


if hasattr(os, "register_at_fork"):  # not on every platform
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
