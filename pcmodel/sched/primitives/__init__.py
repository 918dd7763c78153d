"""Controlled replacements for the threading primitives, used while a controlled run is active.

Each operation is a scheduling point: the calling thread announces what it is about to do
(acquire, release, wait, notify, ...), parks, and performs it atomically when the scheduler picks
it. A blocking operation is announced with the predicate under which it can proceed, so the
scheduler never resumes a thread that would block: blocking is modelled, never real.

The semantics follow CPython's Lib/threading.py (which these classes mirror method for method):
Lock may be released by any thread, RLock only by its owner; Condition.notify() removes the
woken waiters from the wait list; wait() returns False only on timeout. Where CPython is FIFO
but the documentation promises no order (which waiter notify() wakes), the scheduler chooses.

Reduction (on by default, ``reduce=False`` turns it off): releasing a lock or a semaphore,
waiting on and notifying a condition, and starting a thread are not scheduling points. A
release can be moved before any operation of another thread without changing the outcome (it
is a "left mover", Lipton 1975); wait and notify happen while holding the condition's lock, so
no other thread can touch that condition in between; a new thread's first steps are its own.
They are still recorded in the trace. This shrinks the space that depth-first exploration must
cover without hiding any outcome.

The package has one module per kind of object: ``base`` (what every controlled primitive
shares), ``locks`` (Lock, RLock), ``condition`` (Condition), ``semaphores`` (Semaphore,
BoundedSemaphore), ``event`` (Event), ``threads`` (Thread), ``virtual_time`` (sleep, monotonic,
perf_counter, time). ``pcmodel.sched.patching`` installs the names exported here.
"""

from __future__ import annotations

from pcmodel.sched.primitives.condition import Condition
from pcmodel.sched.primitives.event import Event
from pcmodel.sched.primitives.locks import Lock, RLock
from pcmodel.sched.primitives.semaphores import BoundedSemaphore, Semaphore
from pcmodel.sched.primitives.threads import Thread
from pcmodel.sched.primitives.virtual_time import (
    VIRTUAL_EPOCH,
    monotonic,
    perf_counter,
    sleep,
    wall_time,
)

__all__ = [
    "BoundedSemaphore",
    "Condition",
    "Event",
    "Lock",
    "RLock",
    "Semaphore",
    "Thread",
    "VIRTUAL_EPOCH",
    "monotonic",
    "perf_counter",
    "sleep",
    "wall_time",
]
