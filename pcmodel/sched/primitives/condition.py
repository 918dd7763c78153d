"""Controlled ``threading.Condition``, over a controlled Lock or RLock.

Guarantees (as CPython's): ``wait`` and ``notify`` need the lock held (``RuntimeError``
otherwise); ``wait`` releases the lock completely, whatever the recursion depth, and reacquires
it before returning; ``notify`` removes the woken waiters from the wait list; ``wait`` returns
False only on timeout. Which waiter ``notify()`` wakes is the scheduler's choice (FIFO with
``notify_order="fifo"``); a spurious wake-up happens only within the run's budget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pcmodel.sched.model import ChoiceKind, ManagedThread, Pending, WaitKind, WakeReason
from pcmodel.sched.primitives.base import _OUTSIDE, _Primitive
from pcmodel.sched.primitives.locks import Lock, RLock, _LockBase, _owner_name
from pcmodel.sched.primitives.virtual_time import monotonic


class _Waiter:
    __slots__ = ("thread", "notified")

    def __init__(self, thread: ManagedThread) -> None:
        self.thread = thread
        self.notified = False


class Condition(_Primitive):
    """Controlled ``threading.Condition`` over a controlled Lock or RLock (RLock by default)."""

    _kind = "Condition"

    def __init__(self, lock: Lock | RLock | None = None) -> None:
        super().__init__()
        if lock is None:
            lock = RLock()
        elif not isinstance(lock, _LockBase):
            raise TypeError(
                "a Condition in a controlled run needs a lock created in the run: call "
                "threading.Lock() or threading.RLock() inside the program, not before it"
            )
        self._lock = lock
        self._waiters: list[_Waiter] = []

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Acquire the underlying lock."""
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        """Release the underlying lock."""
        self._lock.release()

    def _notified_probe(self, thread: ManagedThread) -> bool:
        return not any(w.thread is thread for w in self._waiters)

    def _owned_check(self, thread: ManagedThread | None, what: str) -> None:
        who: object = thread if thread is not None else _OUTSIDE
        if not self._lock._is_owned_by(who):
            raise RuntimeError(f"cannot {what} on un-acquired lock ({self._lock._label})")

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, block until notified (or timeout), reacquire; scheduling points.

        Returns False only if the timeout expired. A spurious wake-up (allowed by the docs,
        enabled by the run's ``spurious_wakeups`` budget) returns True without a notify.
        """
        thread = self._here()
        if thread is None:
            raise RuntimeError(
                f"wait() on {self._label} outside the controlled run would block forever"
            )
        self._owned_check(thread, "wait")
        run = thread.run
        lock = self._lock
        if not run.reduce:
            run.point(Pending("wait", self))
        saved = lock._release_all()
        waiter = _Waiter(thread)
        self._waiters.append(waiter)
        run.log("wait", self, f"({lock._label} released)")
        deadline = None if timeout is None else run.clock + max(timeout, 0.0)

        def describe() -> str:
            holder = lock._owner
            held = f"held by {_owner_name(holder)}" if holder is not None else "free"
            if waiter.notified:
                return f"was notified on {self._label}, waits for {lock._label} ({held})"
            return f"waits on {self._label} for a notify ({lock._label} is {held})"

        wake = run.point(
            Pending(
                "wake",
                self,
                enabled=lambda: waiter.notified and lock._free_for(thread),
                deadline=deadline,
                fallback=lambda: lock._free_for(thread),
                spurious=True,
                wait_kind=WaitKind.CONDITION,
                describe=describe,
            )
        )
        if not waiter.notified:
            self._waiters.remove(waiter)
        lock._restore(thread, saved)
        if waiter.notified:
            run.log("woken on", self)
        elif wake is WakeReason.SPURIOUS:
            run.log("woken spuriously on", self)
        else:
            run.log("timed out on", self)
        run.log("reacquire", lock)
        return waiter.notified or wake is WakeReason.SPURIOUS

    def wait_for(self, predicate: Callable[[], Any], timeout: float | None = None) -> Any:
        """Wait until ``predicate()`` is true (CPython's algorithm, on the virtual clock)."""
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = monotonic() + waittime
                else:
                    waittime = endtime - monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` waiters, chosen by the scheduler (FIFO if notify_order="fifo")."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        thread = self._here()
        self._owned_check(thread, "notify")
        if thread is None:
            for waiter in self._waiters[:n]:
                waiter.notified = True
            del self._waiters[:n]
            return
        run = thread.run
        if not run.reduce:
            run.point(Pending("notify", self))
        woken = []
        for _ in range(min(n, len(self._waiters))):
            if run.notify_order == "fifo":
                waiter = self._waiters[0]
            else:
                index = run.choose(ChoiceKind.NOTIFY, [w.thread.index for w in self._waiters], None)
                waiter = next(w for w in self._waiters if w.thread.index == index)
            waiter.notified = True
            self._waiters.remove(waiter)
            woken.append(waiter.thread.name)
        run.log("notify", self, f"-> wakes {', '.join(woken)}" if woken else "(no waiter)")

    def notify_all(self) -> None:
        """Wake every waiter."""
        self.notify(len(self._waiters) or 1)

    notifyAll = notify_all  # noqa: N815 - CPython's deprecated alias
