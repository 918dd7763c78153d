"""Backends: where a buffer's primitives, storage and shared state come from.

The algorithms in ``condition.py``, ``semaphore.py`` and ``queued.py`` never import ``threading``
or ``multiprocessing`` themselves; they ask their backend. That is how one algorithm runs on
threads and on processes (as CPython's ``multiprocessing.synchronize.Barrier`` reuses the thread
``Barrier`` unchanged), and how a controlled scheduler can substitute its own primitives.

The thread backend creates ``threading.Lock()`` and ``threading.Condition()`` through the
``threading`` module *at buffer construction time*, and semaphores of its own
(:class:`~pcmodel.buffers.run_semaphore.RunSemaphore`: a counter and a queue of sleepers,
whose permits move in runs) unless ``threading.Semaphore`` was replaced by then: so code that
replaces those module attributes (the controlled scheduler) before building a buffer gets its
own primitives into it.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from itertools import repeat, starmap
from typing import Any

from pcmodel.buffers.run_semaphore import RunSemaphore
from pcmodel.instrument import Level, Recorder

__all__ = ["BACKENDS", "Backend", "RunSemaphore", "ThreadBackend"]

BACKENDS: tuple[str, ...] = ("thread", "process")

# The standard library's class, as it was when this module was imported: a controlled scheduler
# that replaces ``threading.Semaphore`` hands out semaphores of another type, and the thread
# backend then serves those rather than its own (see ThreadBackend).
_StdlibSemaphore = threading.Semaphore


class SharedState:
    """The algorithm's scalar state, as plain attributes (threads share one process's memory)."""

    __slots__ = ("unfinished", "shutdown", "waiting_put", "waiting_get", "puts", "gets",
                 "max_depth", "discarded", "base_depth", "finished", "puts_base",
                 "report_above")

    def __init__(self) -> None:
        self.unfinished = 0  # items put and not yet marked task_done()
        self.shutdown = 0  # 1 once shutdown() was called
        self.waiting_put = 0  # actors inside put() waiting for space
        self.waiting_get = 0  # actors inside get() waiting for items
        self.puts = self.gets = self.max_depth = 0  # recorded only when instrumented
        # (puts one by one by the queue variant only: see finished and puts_base below)
        # So that gets need not be counted one by one: gets = puts + base_depth - depth -
        # discarded (items dropped by an immediate shutdown; depth when recording restarted).
        self.discarded = self.base_depth = 0
        # So that puts need not be counted one by one either (condition, semaphore): every item
        # put is unfinished or finished (marked done, or discarded by an immediate shutdown),
        # so puts = unfinished + finished - puts_base (the sum when recording restarted).
        self.finished = self.puts_base = 0
        # A put leaving more items than this is reported to the recorder: the deepest so far
        # at the counters level (so only a new maximum costs a call), -1 at the timeline level.
        self.report_above = 0


class Backend:
    """The primitives and storage a buffer algorithm needs, for one kind of actor.

    ``encode``/``decode`` (or None) turn items into what the storage holds, and back;
    ``encode_batch``/``decode_many`` do it for ``put_many``/``get_many`` (None: item by item).
    Buffers call them outside any lock, so slow or failing conversions never hold up other
    actors.
    """

    name = ""
    # Whether a buffer records its waits (instrumentation) once it has let go of its lock, or
    # at once: see ``ConditionBuffer`` and the backends.
    records_waits_unlocked = False
    # Whether ``acquire_soon`` may ever find a permit: if not, the algorithms skip the call (a
    # thread going to sleep pays for nothing on its way).
    busy_waits = False
    # Whether its semaphores count their own sleepers (a ``sleeping`` property): if so, the
    # semaphore variant asks them rather than counting its waiters under its mutex.
    semaphores_count_sleepers = False
    # Whether ``close()`` lets go of what the buffer lives in (shared memory, files): if so,
    # the buffer refuses every call once closed (see ``Buffer.close``).
    holds_resources = False
    encode: Callable[[Any], Any] | None = None
    decode: Callable[[Any], Any] | None = None
    encode_batch: Callable[[Any], Any] | None = None
    decode_many: Callable[[Any], list] | None = None

    def lock(self) -> Any:
        raise NotImplementedError

    def condition(self, lock: Any) -> Any:
        raise NotImplementedError

    def semaphore(self, value: int) -> Any:
        raise NotImplementedError

    def release(self, semaphore: Any, n: int) -> None:
        """Release ``semaphore`` ``n`` times."""
        for _ in range(n):
            semaphore.release()

    def acquire_up_to(self, semaphore: Any, n: int) -> int:
        """Take up to ``n`` permits of ``semaphore`` without waiting; how many were taken."""
        taken = 0
        while taken < n and semaphore.acquire(False):
            taken += 1
        return taken

    def acquire_waiting(self, semaphore: Any, wanted: int, timeout: float | None) -> int:
        """Block up to ``timeout`` seconds (None: for ever) for a permit of ``semaphore``, then
        take up to ``wanted - 1`` more that are free; how many were taken, 0 if none came."""
        if not semaphore.acquire(True, timeout):
            return 0
        return 1 + (self.acquire_up_to(semaphore, wanted - 1) if wanted > 1 else 0)

    def acquire_soon(self, semaphore: Any) -> bool:
        """Called when a non-blocking acquire of ``semaphore`` just failed: take a permit that
        comes within microseconds, busy-waiting; False if none did. Never sleeps.

        Threads do not busy-wait (under the GIL a spinning thread keeps the one it waits for
        from running), so this is False at once, and ``busy_waits`` says so.
        """
        return False

    def queue(self, maxsize: int) -> Any:
        """A ready-made queue (the ``queue`` variant): the standard library's for this backend."""
        raise NotImplementedError

    def storage(self, maxsize: int) -> Any:
        """A FIFO with ``append``, ``extend``, ``popleft``, ``clear`` and ``len``; used with
        the lock held."""
        raise NotImplementedError

    def popmany(self, storage: Any, n: int) -> Any:
        """The next ``n`` items of ``storage`` (``1 <= n <= len(storage)``), removed; lock held.
        A storage may return fewer, at least one (the process ring stops at the end of a
        ``put_many`` run rather than cut the next one).

        The result has a ``len()`` and is turned into items by ``decode_many`` (or is the list
        of items when there is none).
        """
        if n == len(storage):  # everything: one copy, not n calls
            taken = list(storage)
            storage.clear()
            return taken
        # n calls of popleft, looped in C rather than in a comprehension. Under contention a
        # get_many mostly takes part of what is there, and the comprehension's call per item
        # was most of what it cost (330 instructions per item against 230, by cachegrind).
        return list(starmap(storage.popleft, repeat((), n)))

    def state(self) -> Any:
        """Fresh scalar state with the attributes of :class:`SharedState`."""
        raise NotImplementedError

    def recorder(self, level: Level, clock: Callable[[], float]) -> Recorder:
        raise NotImplementedError

    def exports(self, recorder: Recorder) -> list[dict]:
        """Every recorder export that belongs to this buffer (all processes)."""
        return [recorder.export()]

    def flush(self, recorder: Recorder) -> None:
        """Publish this process's records to the others (nothing to do for threads)."""

    def reset_exports(self) -> None:
        """Forget records that other processes published."""

    def close(self) -> None:
        """Release shared resources; idempotent."""


class ThreadBackend(Backend):
    """Threads in one process: ``threading`` primitives and a ``collections.deque``."""

    name = "thread"
    # Under the GIL the thread a release woke cannot run before this one blocks, so a record
    # made after the release only delays it; made under the lock, before the notify, it delays
    # nobody (measured, capacity 1: counters 0.80x of a bare condition, against 0.65x after).
    records_waits_unlocked = False

    def __init__(self) -> None:
        # Semaphores of its own (see RunSemaphore), unless ``threading.Semaphore`` was replaced
        # (a controlled scheduler's) when the buffer is built: the class's methods below serve
        # other semaphores one permit at a time. Its own are served by RunSemaphore's methods,
        # called as functions of the semaphore, with no call of the backend's in between (the
        # process backend does the same): a permit operation is one Python call, not two.
        if threading.Semaphore is _StdlibSemaphore:
            self.semaphore = RunSemaphore  # type: ignore[method-assign]
            self.release = RunSemaphore.release  # type: ignore[method-assign]
            self.acquire_up_to = RunSemaphore.acquire_up_to  # type: ignore[method-assign]
            self.acquire_waiting = RunSemaphore.acquire_waiting  # type: ignore[method-assign]
            self.semaphores_count_sleepers = True

    def lock(self) -> Any:
        return threading.Lock()

    def condition(self, lock: Any) -> Any:
        return threading.Condition(lock)

    def semaphore(self, value: int) -> Any:
        return threading.Semaphore(value)

    def release(self, semaphore: Any, n: int) -> None:
        semaphore.release(n)  # threading.Semaphore and the scheduler's take n at once

    def queue(self, maxsize: int) -> Any:
        from pcmodel.buffers.stdqueue import ShutdownQueue

        return ShutdownQueue(maxsize)

    def storage(self, maxsize: int) -> collections.deque:
        # A plain deque, not a subclass: CPython calls an exact deque's append/popleft faster.
        return collections.deque()

    def state(self) -> SharedState:
        return SharedState()

    def recorder(self, level: Level, clock: Callable[[], float]) -> Recorder:
        return Recorder(level, clock)
