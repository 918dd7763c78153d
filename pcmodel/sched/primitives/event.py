"""Controlled ``threading.Event``.

Guarantees (as CPython's): ``set`` enables every waiter; ``wait`` returns the flag, False only
when the timeout ran out (on the virtual clock) with the flag clear. ``set`` and ``clear`` are
scheduling points; ``is_set`` is not.
"""

from __future__ import annotations

from pcmodel.sched.model import Pending, WaitKind
from pcmodel.sched.primitives.base import _Primitive


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
