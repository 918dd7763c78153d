# Controlled replacements for the threading primitives, used while a controlled run is active.
#
# Each operation is a scheduling point: the calling thread announces what it is about to do
# (acquire, release, wait, notify, ...), parks, and performs it atomically when the scheduler picks
# it. A blocking operation is announced with the predicate under which it can proceed, so the
# scheduler never resumes a thread that would block: blocking is modelled, never real.
#
# The semantics follow CPython's Lib/threading.py (which these classes mirror method for method):
# Lock may be released by any thread, RLock only by its owner; Condition.notify() removes the
# woken waiters from the wait list; wait() returns False only on timeout. Where CPython is FIFO
# but the documentation promises no order (which waiter notify() wakes), the scheduler chooses.
#
# Reduction (on by default, ``reduce=False`` turns it off): releasing a lock or a semaphore,
# waiting on and notifying a condition, and starting a thread are not scheduling points. A
# release can be moved before any operation of another thread without changing the outcome (it
# is a "left mover", Lipton 1975); wait and notify happen while holding the condition's lock, so
# no other thread can touch that condition in between; a new thread's first steps are its own.
# They are still recorded in the trace. This shrinks the space that depth-first exploration must
# cover without hiding any outcome.

from __future__ import annotations

import time as _time
from collections.abc import Callable
from typing import Any

from pcmodel.sched.runtime import (
    ChoiceKind,
    ManagedThread,
    Pending,
    SchedulerAbort,
    WaitKind,
    WakeReason,
    _RealThread,
    current_thread,
    label_of,
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

_real_sleep = _time.sleep
_real_monotonic = _time.monotonic
_real_perf_counter = _time.perf_counter
_real_time = _time.time

# Wall-clock time inside a run: a fixed, arbitrary epoch plus the virtual clock, so that code
# computing deadlines from time.time() behaves the same in every schedule.
VIRTUAL_EPOCH = 1_700_000_000.0

_OUTSIDE = "a thread outside the controlled run"


class _Primitive:
    """Base: remembers the run it was built in and a label used in traces."""

    _kind = "Primitive"

    def __init__(self) -> None:
        thread = current_thread()
        self._run = thread.run if thread is not None else None
        self._label = self._run.new_label(self._kind) if self._run is not None else self._kind

    def _here(self) -> ManagedThread | None:
        """The calling managed thread of this primitive's run, or None outside any run."""
        thread = current_thread()
        if thread is None:
            return None
        if thread.aborting:
            raise SchedulerAbort  # the run is over: unwind without touching shared state
        if thread.run is not self._run:
            raise RuntimeError(
                f"{self._label} was created outside this controlled run; create the objects a "
                "program uses inside the program so that the scheduler controls them"
            )
        return thread

    def __repr__(self) -> str:
        return f"<controlled {self._kind} {self._label}>"


def _deadline(thread: ManagedThread, timeout: float | None) -> float | None:
    if timeout is None or timeout < 0:
        return None
    return thread.run.clock + timeout


def _check_acquire_args(blocking: bool, timeout: float | None) -> None:
    if not blocking and timeout not in (None, -1):
        raise ValueError("can't specify a timeout for a non-blocking call")
    if timeout is not None and timeout < 0 and timeout != -1:
        raise ValueError("timeout value must be a non-negative number (or -1 for no timeout)")


def _owner_name(owner: object) -> str:
    return owner.name if isinstance(owner, ManagedThread) else str(owner)


class _LockBase(_Primitive):
    """Shared code of Lock and RLock: ``_owner`` and a recursion ``_count``."""

    _reentrant = False

    def __init__(self) -> None:
        super().__init__()
        self._owner: object | None = None
        self._count = 0

    def _free_for(self, who: object) -> bool:
        return self._owner is None or (self._reentrant and self._owner is who)

    def _take(self, who: object) -> None:
        self._owner = who
        self._count += 1
        if isinstance(who, ManagedThread):
            who.locks_held += 1

    def _describe_wait(self) -> str:
        holder = _owner_name(self._owner) if self._owner is not None else "nobody"
        return f"waits to acquire {self._label}, held by {holder}"

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Acquire the lock; a scheduling point. Returns False if non-blocking or timed out."""
        _check_acquire_args(blocking, timeout)
        thread = self._here()
        if thread is None:
            return self._acquire_outside(blocking, timeout)
        run = thread.run
        if not blocking:
            run.point(Pending("try-acquire", self))
            ok = self._free_for(thread)
            if ok:
                self._take(thread)
            run.log("try-acquire", self, "-> got it" if ok else "-> busy")
            return ok
        wake = run.point(
            Pending(
                "acquire",
                self,
                enabled=lambda: self._free_for(thread),
                deadline=_deadline(thread, timeout),
                wait_kind=WaitKind.LOCK,
                describe=self._describe_wait,
            )
        )
        if wake is WakeReason.TIMEOUT:
            run.log("acquire", self, "-> timed out")
            return False
        self._take(thread)
        run.log("acquire", self)
        return True

    def _acquire_outside(self, blocking: bool, timeout: float) -> bool:
        if self._free_for(_OUTSIDE):
            self._take(_OUTSIDE)
            return True
        if not blocking or timeout >= 0:
            return False
        raise RuntimeError(
            f"{self._label} is held by {_owner_name(self._owner)}; a thread outside the "
            "controlled run cannot wait for it (read state without locking after the run)"
        )

    def release(self) -> None:
        """Release the lock; a scheduling point. RuntimeError if it is not held (by the caller)."""
        thread = self._here()
        who: object = thread if thread is not None else _OUTSIDE
        if thread is not None and not thread.run.reduce:
            thread.run.point(Pending("release", self))
        if self._owner is None or (self._reentrant and self._owner is not who):
            raise RuntimeError(f"cannot release un-acquired lock {self._label}")
        if isinstance(self._owner, ManagedThread):
            self._owner.locks_held -= 1
        self._count -= 1
        if self._count == 0:
            self._owner = None
        if thread is not None:
            thread.run.log("release", self)

    def locked(self) -> bool:
        """Whether the lock is held (not a scheduling point)."""
        return self._owner is not None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    # Used by Condition: release completely / restore, whatever the recursion depth.
    def _is_owned_by(self, who: object) -> bool:
        if self._reentrant:
            return self._owner is who
        return self._owner is not None

    def _release_all(self) -> int:
        count = self._count
        if isinstance(self._owner, ManagedThread):
            self._owner.locks_held -= count
        self._owner = None
        self._count = 0
        return count

    def _restore(self, who: object, count: int) -> None:
        self._owner = who
        self._count = count
        if isinstance(who, ManagedThread):
            who.locks_held += count


class Lock(_LockBase):
    """Controlled ``threading.Lock``: any thread may release it."""

    _kind = "Lock"


class RLock(_LockBase):
    """Controlled ``threading.RLock``: re-entrant; only the owner may release it."""

    _kind = "RLock"
    _reentrant = True


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


class Semaphore(_Primitive):
    """Controlled ``threading.Semaphore``: acquire blocks while the value is 0."""

    _kind = "Semaphore"

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError(f"semaphore initial value must be >= 0, got {value}")
        super().__init__()
        self._value = value

    def _describe_wait(self) -> str:
        return f"waits to acquire {self._label} (value {self._value})"

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Decrement, blocking while the value is 0; False if non-blocking or timed out."""
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        thread = self._here()
        if thread is None:
            if self._value > 0:
                self._value -= 1
                return True
            if not blocking or timeout is not None:
                return False
            raise RuntimeError(
                f"{self._label} is 0; a thread outside the controlled run cannot wait for it"
            )
        run = thread.run
        if not blocking:
            run.point(Pending("try-acquire", self))
            ok = self._value > 0
            if ok:
                self._value -= 1
            run.log("try-acquire", self, f"-> value {self._value}" if ok else "-> busy")
            return ok
        wake = run.point(
            Pending(
                "acquire",
                self,
                enabled=lambda: self._value > 0,
                deadline=_deadline(thread, timeout),
                wait_kind=WaitKind.SEMAPHORE,
                describe=self._describe_wait,
            )
        )
        if wake is WakeReason.TIMEOUT:
            run.log("acquire", self, "-> timed out")
            return False
        self._value -= 1
        run.log("acquire", self, f"-> value {self._value}")
        return True

    def release(self, n: int = 1) -> None:
        """Increment by ``n`` (a scheduling point)."""
        if n < 1:
            raise ValueError("n must be one or more")
        thread = self._here()
        if thread is not None and not thread.run.reduce:
            thread.run.point(Pending("release", self))
        self._check_release(n)
        self._value += n
        if thread is not None:
            thread.run.log("release", self, f"-> value {self._value}")

    def _check_release(self, n: int) -> None:
        """Hook for BoundedSemaphore."""

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class BoundedSemaphore(Semaphore):
    """Controlled ``threading.BoundedSemaphore``: release above the initial value is an error."""

    _kind = "BoundedSemaphore"

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._initial = value

    def _check_release(self, n: int) -> None:
        if self._value + n > self._initial:
            raise ValueError(f"Semaphore released too many times ({self._label})")


class Event(_Primitive):
    """Controlled ``threading.Event``."""

    _kind = "Event"

    def __init__(self) -> None:
        super().__init__()
        self._flag = False

    def is_set(self) -> bool:
        """Whether the flag is set (not a scheduling point)."""
        return self._flag

    isSet = is_set  # noqa: N815 - CPython's deprecated alias

    def _change(self, op: str, value: bool) -> None:
        thread = self._here()
        if thread is not None:
            thread.run.point(Pending(op, self))
        self._flag = value
        if thread is not None:
            thread.run.log(op, self)

    def set(self) -> None:
        """Set the flag, enabling every waiter."""
        self._change("set", True)

    def clear(self) -> None:
        """Clear the flag."""
        self._change("clear", False)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is set; returns the flag (False on timeout)."""
        thread = self._here()
        if thread is None:
            if self._flag or timeout is not None:
                return self._flag
            raise RuntimeError(f"wait() on {self._label} outside the controlled run would block")
        run = thread.run
        run.point(
            Pending(
                "wait",
                self,
                enabled=lambda: self._flag,
                deadline=None if timeout is None else run.clock + max(timeout, 0.0),
                wait_kind=WaitKind.EVENT,
                describe=lambda: f"waits for {self._label} to be set",
            )
        )
        run.log("wait", self, "-> set" if self._flag else "-> timed out")
        return self._flag


class Thread(_Primitive):
    """Controlled ``threading.Thread``: the body runs as a managed thread; join is a scheduling
    point.

    Constructed outside a controlled run it returns an ordinary ``threading.Thread``. Subclasses
    of the real class (defined before the run) are managed too: while a run is active their
    start/join/is_alive go through a controlled stand-in (see ``patching``).
    """

    _kind = "Thread"

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Thread and current_thread() is None:
            return _RealThread(*args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        group: None = None,
        target: Callable[..., object] | None = None,
        name: str | None = None,
        args: tuple = (),
        kwargs: dict[str, Any] | None = None,
        *,
        daemon: bool | None = None,
    ) -> None:
        if group is not None:
            raise ValueError("group argument must be None for now")
        super().__init__()
        if self._run is None:
            raise RuntimeError("a controlled Thread must be created inside the controlled run")
        self._target = target
        self._args = args
        self._kwargs = kwargs or {}
        self._label = name if name is not None else self._label.replace("Thread", "Thread-")
        self.daemon = bool(daemon)
        self._managed: ManagedThread | None = None

    @property
    def name(self) -> str:
        """The thread's name (also its column in trace tables)."""
        return self._label

    @name.setter
    def name(self, value: str) -> None:
        """Rename before start(); RuntimeError after."""
        if self._managed is not None:
            raise RuntimeError("cannot rename a controlled thread after start()")
        self._label = str(value)

    @property
    def ident(self) -> int | None:
        """The real thread's identifier once started."""
        real = self._managed.real if self._managed is not None else None
        return real.ident if real is not None else None

    native_id = ident

    def is_alive(self) -> bool:
        """True from start() until the thread's run() returns."""
        return self._managed is not None and not self._managed.finished

    def start(self) -> None:
        """Start the thread (a scheduling point); RuntimeError if started twice."""
        thread = self._here()
        if thread is None:
            raise RuntimeError(f"{self._label} can only be started inside its controlled run")
        if self._managed is not None:
            raise RuntimeError("threads can only be started once")
        run = thread.run
        if not run.reduce:
            run.point(Pending("start", self))
        run.log("start", self)
        self._managed = run.spawn(self._label, self.run)
        self._managed.daemon = self.daemon

    def run(self) -> None:
        """The thread's body: calls target(*args, **kwargs). Override in subclasses."""
        if self._target is not None:
            self._target(*self._args, **self._kwargs)

    def join(self, timeout: float | None = None) -> None:
        """Block until the thread finishes or ``timeout`` virtual seconds pass."""
        thread = self._here()
        if thread is None:
            raise RuntimeError(f"{self._label} can only be joined inside its controlled run")
        managed = self._managed
        if managed is None:
            raise RuntimeError("cannot join thread before it is started")
        if managed is thread:
            raise RuntimeError("cannot join current thread")
        run = thread.run
        run.point(
            Pending(
                "join",
                self,
                enabled=lambda: managed.finished,
                deadline=None if timeout is None else run.clock + max(timeout, 0.0),
                wait_kind=WaitKind.JOIN,
                describe=lambda: f"waits to join {label_of(self)}",
            )
        )
        run.log("join", self, "" if managed.finished else "-> timed out")


def sleep(secs: float) -> None:
    """Controlled ``time.sleep``: advances the virtual clock; real sleep outside a run."""
    thread = current_thread()
    if thread is None:
        _real_sleep(secs)
        return
    if secs < 0:
        raise ValueError("sleep length must be non-negative")
    run = thread.run
    deadline = run.clock + secs
    run.point(
        Pending(
            "sleep",
            None,
            enabled=lambda: run.clock >= deadline,
            deadline=deadline,
            wait_kind=WaitKind.SLEEP,
            describe=lambda: f"sleeps until t={deadline:g}",
        )
    )
    run.log("sleep", detail=f"{secs:g} s (now t={run.clock:g})")


def monotonic() -> float:
    """Controlled ``time.monotonic`` / ``perf_counter``: the virtual clock inside a run."""
    thread = current_thread()
    if thread is None:
        return _real_monotonic()
    return thread.run.clock


def wall_time() -> float:
    """Controlled ``time.time``: ``VIRTUAL_EPOCH`` plus the virtual clock inside a run."""
    thread = current_thread()
    if thread is None:
        return _real_time()
    return VIRTUAL_EPOCH + thread.run.clock


def perf_counter() -> float:
    """Controlled ``time.perf_counter``: the virtual clock inside a run."""
    thread = current_thread()
    if thread is None:
        return _real_perf_counter()
    return thread.run.clock
