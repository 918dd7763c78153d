"""Controlled ``threading.Thread``: its body runs as a managed thread of the run.

Guarantees: built inside a run, ``start`` hands the body to the scheduler and ``join`` is a
scheduling point that resumes only when the thread has finished (or its timeout ran out on the
virtual clock); a thread can be started once and cannot join itself (``RuntimeError``, as
CPython). Built outside a run, ``Thread(...)`` returns an ordinary ``threading.Thread``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pcmodel.sched.model import ManagedThread, Pending, WaitKind, label_of
from pcmodel.sched.primitives.base import _Primitive
from pcmodel.sched.thread_context import _RealThread, current_thread


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
