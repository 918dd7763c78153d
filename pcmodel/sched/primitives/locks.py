"""Controlled ``threading.Lock`` and ``threading.RLock``.

Guarantees (as CPython's): a Lock may be released by any thread, an RLock only by its owner,
which may acquire it again; releasing a lock that is not held raises ``RuntimeError``. Acquiring
is a scheduling point announced with the predicate "the lock is free (for me)", so the scheduler
only resumes a thread that gets the lock, or whose timeout ran out on the virtual clock. Outside
a run a free lock is taken at once; a thread outside the run cannot wait for a held one.
"""

from __future__ import annotations

from pcmodel.sched.model import ManagedThread, Pending, WaitKind, WakeReason
from pcmodel.sched.primitives.base import _OUTSIDE, _deadline, _Primitive


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
