"""Controlled ``threading.Semaphore`` and ``threading.BoundedSemaphore``.

Guarantees (as CPython's): ``acquire`` blocks while the value is 0 and is a scheduling point
announced with the predicate "value > 0", so a resumed thread always gets a unit (or its timeout
ran out on the virtual clock); ``release(n)`` adds ``n``; a BoundedSemaphore raises
``ValueError`` when released above its initial value.
"""

from __future__ import annotations

from pcmodel.sched.model import Pending, WaitKind, WakeReason
from pcmodel.sched.primitives.base import _deadline, _Primitive


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
