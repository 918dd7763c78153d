"""Backends: where a buffer's primitives, storage and shared state come from.

The algorithms in ``condition.py``, ``semaphore.py`` and ``queued.py`` never import ``threading``
or ``multiprocessing`` themselves; they ask their backend. That is how one algorithm runs on
threads and on processes (as CPython's ``multiprocessing.synchronize.Barrier`` reuses the thread
``Barrier`` unchanged), and how a controlled scheduler can substitute its own primitives.

The thread backend creates ``threading.Lock()`` and ``threading.Condition()`` through the
``threading`` module *at buffer construction time*, and semaphores of its own
(:class:`RunSemaphore`: a counter and a condition, whose permits move in runs) unless
``threading.Semaphore`` was replaced by then: so code that replaces those module attributes (the
controlled scheduler) before building a buffer gets its own primitives into it.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from itertools import repeat, starmap
from typing import Any

from pcmodel.instrument import Level, Recorder

__all__ = ["BACKENDS", "Backend", "RunSemaphore", "ThreadBackend"]

BACKENDS: tuple[str, ...] = ("thread", "process")

# The standard library's class, as it was when this module was imported: a controlled scheduler
# that replaces ``threading.Semaphore`` hands out semaphores of another type, and the thread
# backend then serves those rather than its own (see ThreadBackend).
_StdlibSemaphore = threading.Semaphore


class RunSemaphore:
    """A counting semaphore: a counter of permits and a condition to sleep on while it is 0.

    The textbook's semaphore, written out: ``acquire`` waits while the counter is 0 and takes
    one, ``release`` adds one and wakes a sleeper. Its calls are those of
    ``threading.Semaphore`` (``acquire(blocking=True, timeout=None)``, ``release(n=1)``,
    ``with``), so a buffer's code reads the same with either. What it adds is for a buffer's
    batches: ``acquire_up_to(n)`` (never waits) and ``acquire_waiting(n, timeout)``:

    * **Permits move in runs.** ``acquire_up_to(n)`` takes up to ``n`` permits that are free,
      and ``release(n)`` gives ``n``, each in one hold of the lock: a batch of 100 items pays
      for one operation on each side, not 100.
    * **One wake-up per run, relayed.** ``release(n)`` wakes one sleeper, and only when there
      were no permits (if there were, a sleeper woken for them is on its way). The sleeper
      woken takes its share and, if it leaves permits, wakes the next, which does the same
      (the process semaphore and the condition variant relay so, as Java's
      ``LinkedBlockingQueue`` does); it passes its wake-up on even when it leaves by an
      exception, so none is lost. Waking one sleeper per permit woke, for a run of 100 that
      the first woken ``get_many`` took whole, every other sleeper for nothing.
    * **Sleepers are counted here**, not read from the condition's private list of waiters
      (an interpreter's internals, free to change), so that a release with nobody asleep
      notifies nobody. The count includes sleepers already woken and not yet running: it may
      make a relay wake one sleeper more than needed (which finds no permit and sleeps
      again), never one fewer.
    * **The lock taken by ``acquire()`` and ``release()``, not by ``with``.** On CPython 3.11,
      ``with lock:`` costs twice ``lock.acquire()`` plus ``lock.release()`` (about 2,000
      machine instructions against 900, by cachegrind), and these are the calls every batch
      makes beyond what the condition variant makes.

    Permits go to no waiter in particular; nobody sleeps holding the lock. The lock and the
    condition come from ``threading`` when the semaphore is built, so code that replaced
    ``threading.Lock`` / ``threading.Condition`` by then gets its own inside.
    """

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._value = value  # the permits free now
        self._sleepers = 0  # threads inside acquire_waiting()'s wait(), woken or not yet
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} value={self._value} sleepers={self._sleepers}>"

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take one permit, waiting for it if ``blocking`` (up to ``timeout`` seconds, None:
        for ever); True if taken, False if none came (at once when not ``blocking``).
        ``ValueError`` for a timeout without ``blocking``, as ``threading.Semaphore``."""
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        lock = self._lock
        lock.acquire()
        try:
            if self._value:
                self._value -= 1
                return True
        finally:
            lock.release()
        if not blocking:
            return False
        return self.acquire_waiting(1, timeout) == 1

    __enter__ = acquire  # ``with semaphore:`` waits as acquire() does, relaying its wake-up

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire_up_to(self, n: int) -> int:
        """Take up to ``n`` permits that are free now, without waiting; how many were taken
        (0 if there were none)."""
        lock = self._lock
        lock.acquire()
        try:
            value = self._value
            taken = n if n < value else value
            self._value = value - taken
        finally:
            lock.release()
        return taken

    def release(self, n: int = 1) -> None:
        """Give ``n`` permits, waking one sleeper if there were none (see the class); never
        blocks but for the lock. ``ValueError`` if ``n`` is less than one."""
        if n < 1:
            raise ValueError("n must be one or more")
        lock = self._lock
        lock.acquire()
        try:
            value = self._value + n
            self._value = value
            if value == n and self._sleepers:  # the first permits, and somebody asleep
                self._cond.notify()
        finally:
            lock.release()

    def acquire_waiting(self, n: int, timeout: float | None = None) -> int:
        """Sleep until there is a permit (up to ``timeout`` seconds, None: for ever), then take
        up to ``n``; how many were taken, 0 if none came in time. Whoever leaves with permits
        still free and sleepers left wakes the next one, also by an exception: a wake-up it
        was given is never lost, and permits it took before the exception are given back."""
        cond = self._cond
        deadline = None if timeout is None else time.monotonic() + timeout
        taken = 0
        try:
            with cond:
                try:
                    while not self._value:
                        remaining = None
                        if deadline is not None:
                            remaining = deadline - time.monotonic()
                            if remaining <= 0:
                                return 0
                        self._sleepers += 1
                        try:
                            cond.wait(remaining)
                        finally:
                            self._sleepers -= 1
                    value = self._value
                    taken = n if n < value else value
                    self._value = value - taken
                finally:
                    if self._value and self._sleepers:
                        cond.notify()
        except BaseException:
            # A Ctrl-C after the permits were taken (the relay's notify() or the lock's
            # release returning) would lose them with the return value: they go back.
            if taken:
                self.release(taken)
            raise
        return taken


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
        from running), so this is False at once.
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
