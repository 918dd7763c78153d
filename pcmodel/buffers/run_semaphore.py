"""The thread backend's counting semaphore: a counter and a queue of sleepers.

This is the semaphore as textbooks define it (Dijkstra's P and V, as an operating system
implements them): a count of free permits, and a queue of the threads blocked waiting for
one. ``acquire`` takes a permit if there is one, else joins the queue and sleeps; ``release``
adds permits and, if there were none and somebody sleeps, wakes the sleeper at the head of the
queue. Each sleeper sleeps on a lock of its own (its *bell*, held while it is queued, released
to wake it), as ``threading.Condition`` sleeps its waiters.

**One wake-up per run, relayed.** The woken sleeper takes the lock again and takes its share
of the permits (a thread that was not asleep may have taken them first: then it queues again).
If it leaves permits behind and others sleep, it wakes the next, which does the same; it passes
its wake-up on even when it leaves by an exception, so none is lost. So a run of 100 permits
that the first ``get_many`` takes whole wakes one sleeper, not one per permit. The permits go
to whoever comes for them first, as ``threading.Semaphore``'s do: a running thread never waits
behind a sleeper that is still waking up (handing the permits to the sleepers in order instead
made batches of 100 at capacity 16, 4 producers and 4 consumers, three times slower: 52,000
items/s against 165,000, 1.25 context switches per item against 0.22).

**Why its own bells and not ``threading.Condition``.** Under the GIL a woken thread cannot run
Python until its waker blocks or its time slice ends. At capacity 1 every item of a buffer is
a hand-off: the waker rings, returns, comes back for the next item and goes to sleep itself.
The woken thread takes some microseconds to wake; if its waker still runs Python by then, it
sleeps a second time, on the GIL, and the hand-off pays two wake-ups. ``Condition.wait`` and
``notify`` add enough Python on that way back to sleep to cross the threshold: built on them,
the semaphore variant made 3.9 context switches per item at capacity 1 (the textbook's
semaphore 2.0) and an item cost 54-58 us; on its own bells, which also count their sleepers
for the buffer's ``waiting``, it makes 2.0 and an item costs 26 us (2 cores, one producer and
one consumer; the textbook's semaphore 31-33 us).

Nobody sleeps holding the semaphore's lock. The lock and the bells' type come from
``threading`` when the semaphore is built, so code that replaced ``threading.Lock`` by then
(a controlled scheduler) gets its own primitives inside.

What a Ctrl-C does. Python raises ``KeyboardInterrupt`` in the main thread between two steps,
wherever it is. ``acquire_waiting`` leaves nothing behind: it takes the lock by ``with`` (so no
instant lies between taking it and the block that lets it go), a sleeper interrupted while
queued leaves the queue, one interrupted once woken passes its wake-up on, and permits taken
before the exception go back through ``release``. A sleeper is taken off the queue and its bell
rung with no call in between but the ring (``del`` is not a call): a Ctrl-C lands before it is
woken or once it is. Left open, as in ``threading.Condition.wait``: a second Ctrl-C while an
interrupted sleeper takes the lock back to leave the queue. On the paths every item takes
(``acquire`` and ``acquire_up_to`` finding a permit, ``release``), the lock is taken by
``acquire()``, which costs half of ``with``: a Ctrl-C at the instant just after it keeps the
lock taken, and one just after the call returns loses its permits to the caller (the semaphore
variant's documented window, see :mod:`pcmodel.buffers.semaphore`).
"""

from __future__ import annotations

import collections
import threading
import time

__all__ = ["RunSemaphore"]


class RunSemaphore:
    """A counting semaphore whose permits move in runs, with one wake-up per run, relayed.

    Its calls are those of ``threading.Semaphore`` (``acquire(blocking=True, timeout=None)``,
    ``release(n=1)``, ``with``), so a buffer's code reads the same with either. What it adds
    is for a buffer's batches: ``acquire_up_to(n)`` (never waits) and
    ``acquire_waiting(n, timeout)`` (waits for the first permit, takes up to ``n``):

    * **Permits move in runs.** ``acquire_up_to(n)`` takes up to ``n`` permits that are free,
      and ``release(n)`` gives ``n``, each in one hold of the lock: a batch of 100 items pays
      for one operation on each side, not 100.
    * **One wake-up per run, relayed.** ``release(n)`` wakes one sleeper, and only when there
      were no permits (if there were, a sleeper woken for them is on its way); the woken one
      takes its share and wakes the next if it leaves permits (see the module).
    * **The lock taken by ``acquire()`` and ``release()``, not by ``with``** on the paths every
      item takes. On CPython 3.11, ``with lock:`` costs twice ``lock.acquire()`` plus
      ``lock.release()`` (about 2,000 machine instructions against 900, by cachegrind).
    """

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._value = value  # the permits free now
        # The queue, oldest first: each sleeper's bell, a lock it holds and sleeps on. Whoever
        # wakes it takes the bell off the queue and releases it. While permits are free and
        # the queue is not empty, a sleeper woken for them is on its way.
        self._sleepers: collections.deque[threading.Lock] = collections.deque()
        self._lock = threading.Lock()
        self._new_bell = threading.Lock

    def __repr__(self) -> str:
        return f"<{type(self).__name__} value={self._value} sleepers={len(self._sleepers)}>"

    @property
    def sleeping(self) -> int:
        """How many threads sleep in ``acquire`` now, queued for a wake-up (for observers: a
        snapshot, read without the lock)."""
        return len(self._sleepers)

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

    __enter__ = acquire  # ``with semaphore:`` waits as acquire() does

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
            sleepers = self._sleepers
            if value == n and sleepers:  # the first permits, and somebody asleep: wake one
                woken = sleepers[0]
                del sleepers[0]
                woken.release()
        finally:
            lock.release()

    def acquire_waiting(self, n: int, timeout: float | None = None) -> int:
        """Take up to ``n`` permits, sleeping until there is one (up to ``timeout`` seconds,
        None: for ever); how many were taken, 0 if none came in time.

        Whoever leaves with permits still free and sleepers queued wakes the next one, also
        by an exception: a wake-up it was given is never lost, and permits it took before the
        exception are given back (see the module).
        """
        bell = None  # this thread's bell, from when it queues until it is back, woken
        taken = 0  # the permits taken, given back if an exception follows
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            lock = self._lock
            while True:
                # ``with``: no instant between taking the lock and the block, where a Ctrl-C
                # would keep the lock taken.
                with lock:
                    bell = None  # back (or never asleep): nothing to pass on from here
                    value = self._value
                    if value:
                        taken = n if n < value else value
                        value -= taken
                        self._value = value
                        sleepers = self._sleepers
                        if value and sleepers:  # permits left: relay the wake-up
                            woken = sleepers[0]
                            del sleepers[0]
                            woken.release()
                        return taken
                    remaining = -1.0
                    if deadline is not None:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return 0
                    bell = self._new_bell()
                    bell.acquire()
                    self._sleepers.append(bell)
                # Asleep until a release or a relay rings the bell (or the time is up).
                if not bell.acquire(True, remaining) and not self._woken_anyway(bell):
                    return 0
        except BaseException:
            if bell is not None:
                self._leave(bell)
            elif taken:
                self.release(taken)
            raise

    def _woken_anyway(self, bell: threading.Lock) -> bool:
        """The sleeper of ``bell`` woke by its timeout: True if a release or a relay rang its
        bell meanwhile (it is woken: it goes for the permits), else False, and it has left
        the queue."""
        with self._lock:
            if bell not in self._sleepers:
                return True
            self._sleepers.remove(bell)
        return False

    def _leave(self, bell: threading.Lock) -> None:
        """An exception takes the sleeper of ``bell`` out of ``acquire_waiting``: out of the
        queue if it is still there; if it was woken, its wake-up goes to the next sleeper
        when there are permits for one."""
        with self._lock:
            sleepers = self._sleepers
            if bell in sleepers:
                sleepers.remove(bell)
            elif self._value and sleepers:  # it was woken: pass the wake-up on
                woken = sleepers[0]
                del sleepers[0]
                woken.release()
