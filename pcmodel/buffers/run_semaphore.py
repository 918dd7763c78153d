"""The thread backend's counting semaphore: a counter and a queue of sleepers.

This is the semaphore as textbooks define it (Dijkstra's P and V, as an operating system
implements them): a count of free permits, and a queue of the threads blocked waiting for
one. ``acquire`` takes a permit if there is one, else joins the queue and sleeps; ``release``
adds permits and, if anybody sleeps, hands them to the sleepers at the head of the queue and
wakes them. Each sleeper sleeps on a lock of its own (its *bell*, held while it is queued,
released to wake it), as ``threading.Condition`` sleeps its waiters.

**The permits are handed over, not left for the woken to take** (Andrews calls it "passing the
baton"). ``release(n)`` gives each sleeper at the head of the queue its share (up to what it
asked for) before it rings its bell, so a woken sleeper has its permits when it wakes: it
never finds them taken by a thread that barged in, never takes the semaphore's lock again,
and a run of permits wakes exactly the sleepers it covers, oldest first, none for nothing.

**Why its own bells and not ``threading.Condition``.** Under the GIL a woken thread cannot run
until its waker blocks or its time slice ends. At capacity 1 every item of a buffer is a
hand-off: the waker rings, returns, comes back for the next item and goes to sleep itself. The
woken thread takes some microseconds to wake; if its waker still runs Python by then, it sleeps
a second time, on the GIL, and the hand-off pays two wake-ups. ``Condition.wait`` and
``notify`` are long enough in Python to cross that threshold: built on them, the semaphore
variant made 3.9 context switches per item at capacity 1 and the textbook's 2.0 (measured on
2 cores, one producer and one consumer); on its own bells it makes 2.1-2.3, and an item
costs 24-31 us instead of 44-59.

Nobody sleeps holding the semaphore's lock. The lock and the bells' type come from
``threading`` when the semaphore is built, so code that replaced ``threading.Lock`` by then
(a controlled scheduler) gets its own primitives inside.

What a Ctrl-C does. Python raises ``KeyboardInterrupt`` in the main thread between two steps,
wherever it is. ``acquire_waiting`` leaves nothing behind: a sleeper interrupted while queued
leaves the queue; one interrupted once it was given permits (woken, or about to be) gives them
back through ``release``, which hands them to the next sleeper, so no wake-up is lost; the lock
is let go. Left open, as in ``threading.Condition.wait``: a second Ctrl-C while an interrupted
sleeper takes the lock back to leave the queue. On the paths that do not sleep (``acquire`` and
``acquire_up_to`` finding a permit, ``release``), a Ctrl-C at the instant just after the lock is
taken keeps it taken, and one just after the call returns loses the permits to the caller (the
semaphore variant's documented window, see :mod:`pcmodel.buffers.semaphore`).
"""

from __future__ import annotations

import collections
import threading
import time

__all__ = ["RunSemaphore"]


class RunSemaphore:
    """A counting semaphore whose permits move in runs and are handed to sleepers in order.

    Its calls are those of ``threading.Semaphore`` (``acquire(blocking=True, timeout=None)``,
    ``release(n=1)``, ``with``), so a buffer's code reads the same with either. What it adds
    is for a buffer's batches: ``acquire_up_to(n)`` (never waits) and
    ``acquire_waiting(n, timeout)`` (waits for the first permit, takes up to ``n``):

    * **Permits move in runs.** ``acquire_up_to(n)`` takes up to ``n`` permits that are free,
      and ``release(n)`` gives ``n``, each in one hold of the lock: a batch of 100 items pays
      for one operation on each side, not 100.
    * **Sleepers are served in order, with their permits.** ``release(n)`` gives the sleeper
      at the head of the queue up to what it asked for, then the next, while permits last,
      and wakes each one it served; what is left stays free. A sleeper is woken only with
      permits in hand (see the module).
    * **The lock taken by ``acquire()`` and ``release()``, not by ``with``** on the paths every
      item takes. On CPython 3.11, ``with lock:`` costs twice ``lock.acquire()`` plus
      ``lock.release()`` (about 2,000 machine instructions against 900, by cachegrind).
    """

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._value = value  # the permits free now: never while somebody is queued
        # The queue, oldest first: (bell, permits wanted) per sleeper. A bell is a lock its
        # sleeper holds and sleeps on; whoever serves the sleeper notes in ``_granted`` how
        # many permits it gave it, then releases the bell.
        self._sleepers: collections.deque[tuple[threading.Lock, int]] = collections.deque()
        self._granted: dict[threading.Lock, int] = {}
        self._lock = threading.Lock()
        self._new_bell = threading.Lock

    def __repr__(self) -> str:
        return f"<{type(self).__name__} value={self._value} sleepers={len(self._sleepers)}>"

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
        """Give ``n`` permits: to the sleepers at the head of the queue, each up to what it
        asked for, waking each one served; the rest stay free. Never blocks but for the lock.
        ``ValueError`` if ``n`` is less than one."""
        if n < 1:
            raise ValueError("n must be one or more")
        lock = self._lock
        lock.acquire()
        try:
            value = self._value + n
            self._value = value
            sleepers = self._sleepers
            while value and sleepers:
                # No call between the grant and the bell but the bell's own (``del`` is not
                # one): a Ctrl-C lands before the sleeper is served or once it is woken.
                bell, wants = sleepers[0]
                granted = wants if wants < value else value
                value -= granted
                self._value = value
                self._granted[bell] = granted
                del sleepers[0]
                bell.release()
        finally:
            lock.release()

    def acquire_waiting(self, n: int, timeout: float | None = None) -> int:
        """Take up to ``n`` permits, sleeping until there is one (up to ``timeout`` seconds,
        None: for ever); how many were taken, 0 if none came in time.

        Left by an exception (a Ctrl-C), it takes nothing: it leaves the queue, and permits it
        was given go back through ``release`` to the next sleepers (see the module).
        """
        bell = None  # this thread's bell, once it is queued
        taken = 0  # permits found free, without sleeping
        try:
            # ``with``: no instant between taking the lock and the block, where a Ctrl-C
            # would keep the lock taken.
            with self._lock:
                value = self._value
                if value:
                    taken = n if n < value else value
                    self._value = value - taken
                    return taken
                if timeout is not None:
                    if timeout <= 0:
                        return 0
                    deadline = time.monotonic() + timeout
                bell = self._new_bell()
                bell.acquire()
                self._sleepers.append((bell, n))
            if timeout is None:
                bell.acquire()  # asleep until a release serves this sleeper
            elif (not bell.acquire(True, max(0.0, deadline - time.monotonic()))
                  and not self._served_anyway(bell, n)):
                return 0
            # Served: its permits, and its entry gone, with no call in between (``del`` is
            # not one) where a Ctrl-C could land with the permits neither here nor there.
            granted = self._granted
            taken = granted[bell]
            del granted[bell]
            return taken
        except BaseException:
            if bell is not None:
                self._leave(bell, n)
            elif taken:
                self.release(taken)
            raise

    def _served_anyway(self, bell: threading.Lock, wants: int) -> bool:
        """The sleeper of ``bell`` woke by its timeout: True if a release served it meanwhile
        (it keeps the permits), else False, and it has left the queue."""
        with self._lock:
            if bell in self._granted:
                return True
            self._sleepers.remove((bell, wants))
        return False

    def _leave(self, bell: threading.Lock, wants: int) -> None:
        """An exception takes the sleeper of ``bell`` out of ``acquire_waiting``: out of the
        queue if it is still there, and the permits it was given, if any, to the next
        sleepers."""
        with self._lock:
            granted = self._granted.pop(bell, 0)
            if not granted and (bell, wants) in self._sleepers:
                self._sleepers.remove((bell, wants))
        if granted:
            self.release(granted)
