# Install the controlled primitives into the threading, time and queue modules for one run.
#
# Student code looks its primitives up at call time (``threading.Lock()``, ``time.sleep(...)``),
# and so do the standard library's queue.Queue and pcmodel's thread-backend buffers, so replacing
# the module attributes for the duration of a run puts every object the program builds under the
# scheduler without changing a line of it. The replacements are switches: called from a managed
# thread they build controlled objects; called from any other thread (the test runner, a timer,
# the scheduler itself building real threads) they build the real ones, so the rest of the
# process is unaffected.
#
# Names bound at import (``from threading import Lock, Condition``, ``from time import sleep``,
# ``from os import fork``) are looked up in the importing module, not in ``threading``: the run
# re-binds them, for the duration of the run, in the modules it is told about (the program's and
# the buffer's), so such code is scheduled exactly like code that writes ``threading.Lock()``.
# The scheduler's own modules are never re-bound: they keep the real primitives on purpose.
#
# ``queue.SimpleQueue`` (written in C) and what ``concurrent.futures.ThreadPoolExecutor`` shares
# between runs are handled by ``thread_pools``.
#
# Factories a module's functions and classes captured when they were defined (a dataclass
# field's ``default_factory=threading.Lock``, a default argument) are neither: the first run
# that is told about the module makes them look ``threading`` up when called
# (``pcmodel.sched.captured``), once and for good, since outside a run they build the real
# primitive as before.
#
# Not controlled: objects created before the run (real locks block for real; the watchdog then
# reports the thread as stuck), names bound in modules the run was not told about,
# ``threading.Timer``, processes. ``os._exit`` is patched too, so that a program calling it fails
# its schedule (as ``SystemExit``) instead of ending the process that explores it. So are the
# ways a managed thread could start a process (``os.fork``, ``os.forkpty``, a
# ``multiprocessing`` process of any start method): a forked child inherits every lock the
# scheduler holds to keep the other threads parked and hangs in its after-fork handlers, its
# parent waits for it until the watchdog gives up, and the child is left behind. Called from a
# managed thread they raise ``ProcessStartRefused`` before anything is made, and the schedule
# fails saying that processes cannot be explored. (A program run with ``subprocess`` replaces
# the child at once and is allowed, though not controlled.)

from __future__ import annotations

import contextlib
import multiprocessing.process
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

from pcmodel.sched import primitives
from pcmodel.sched.captured import (
    SUBCLASSABLE,
    rebase_primitive_subclasses,
    rebind_captured_factories,
    restore_bases,
)
from pcmodel.sched.runtime import current_thread
from pcmodel.sched.thread_pools import forgetting_run_workers, pool_replacements

__all__ = ["ProcessStartRefused", "patched"]


def _thread_methods() -> list[tuple[object, str, object]]:
    """Controlled start/join/is_alive for subclasses of the real ``threading.Thread``.

    A class such as ``class Producer(threading.Thread)`` defined when its module was imported
    subclasses the real class, not the controlled one; started from a managed thread it runs as
    a managed thread through a controlled stand-in that calls its ``run()``.
    """
    real = threading.Thread
    real_start, real_join, real_is_alive = real.start, real.join, real.is_alive

    def start(self: threading.Thread) -> None:
        if current_thread() is None:
            return real_start(self)
        if getattr(self, "_pcmodel_proxy", None) is not None:
            raise RuntimeError("threads can only be started once")
        proxy = primitives.Thread(target=self.run, name=self.name, daemon=self.daemon)
        self._pcmodel_proxy = proxy
        proxy.start()
        return None

    def join(self: threading.Thread, timeout: float | None = None) -> None:
        proxy = getattr(self, "_pcmodel_proxy", None)
        if proxy is None:
            return real_join(self, timeout)
        return proxy.join(timeout)

    def is_alive(self: threading.Thread) -> bool:
        proxy = getattr(self, "_pcmodel_proxy", None)
        return real_is_alive(self) if proxy is None else proxy.is_alive()

    return [(real, "start", start), (real, "join", join), (real, "is_alive", is_alive)]


def _switch(real: Callable[..., Any], controlled: Callable[..., Any]) -> Callable[..., Any]:
    def factory(*args: Any, **kwargs: Any) -> Any:
        if current_thread() is None:
            return real(*args, **kwargs)
        return controlled(*args, **kwargs)

    factory.__name__ = getattr(real, "__name__", "factory")
    factory.__doc__ = f"{factory.__name__} (controlled inside a pcmodel.sched run)"
    return factory


def _exit_switch() -> Callable[..., Any]:
    """``os._exit`` that, called by a managed thread of this process, fails the schedule.

    The real one would end the whole process at once, the exploring program and its report
    with it; as ``SystemExit`` it is reported like ``sys.exit()``. A process forked during the
    run (it inherits the patch) still exits for real: multiprocessing ends its children so.
    """
    real_exit, pid = os._exit, os.getpid()

    def _exit(status: int) -> None:
        if current_thread() is None or os.getpid() != pid:
            real_exit(status)
        raise SystemExit(
            f"os._exit({status!r}) called inside a controlled run: it would end the whole "
            "process, the exploration with it; return or raise instead"
        )

    return _exit


class ProcessStartRefused(BaseException):
    """Raised in a managed thread that starts a process: the scheduler explores the threads of
    one process, and a process would run beside it uncontrolled (a forked one hangs).

    A BaseException, as ``SystemExit`` is for ``os._exit``, so that the program's ``except
    Exception`` does not hide it: the schedule fails with this message. Nothing was started.
    """


def _refusing(real: Callable[..., Any], call: str) -> Callable[..., Any]:
    """``real`` for any thread but a managed one, which gets ProcessStartRefused instead."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        if current_thread() is None:
            return real(*args, **kwargs)
        raise ProcessStartRefused(
            f"{call} called inside a controlled run: processes cannot be explored (the "
            "scheduler controls the threads of one process); explore the program's threads, "
            "and run its processes outside the scheduler"
        )

    refuse.__name__ = getattr(real, "__name__", "refuse")
    refuse.__doc__ = f"{call} (refused inside a pcmodel.sched run)"
    return refuse


def _process_starts() -> list[tuple[object, str, object]]:
    """(owner, name, refusing) for every way a managed thread could start a process."""
    found: list[tuple[object, str, object]] = [
        (multiprocessing.process.BaseProcess, "start",
         _refusing(multiprocessing.process.BaseProcess.start, "multiprocessing Process.start()")),
    ]
    for name in ("fork", "forkpty"):  # not on every platform
        if hasattr(os, name):
            found.append((os, name, _refusing(getattr(os, name), f"os.{name}()")))
    return found


_SCHEDULER_PACKAGE = __name__.rpartition(".")[0]


#: The modules whose captured factories were made late-bound already (see above).
_LATE_BOUND: weakref.WeakSet[ModuleType] = weakref.WeakSet()


def _user_modules(modules: Iterable[ModuleType]) -> list[ModuleType]:
    """``modules`` without repeats and without the scheduler's own."""
    found: list[ModuleType] = []
    for module in modules:
        name = getattr(module, "__name__", "")
        if module in found or name == _SCHEDULER_PACKAGE or name.startswith(
            _SCHEDULER_PACKAGE + "."
        ):
            continue
        found.append(module)
    return found


def _rebindings(
    modules: Iterable[ModuleType], swaps: dict[int, object]
) -> list[tuple[object, str, object]]:
    """(module, name, controlled) for every name a module bound to a real primitive; the
    factories its functions and classes captured are made late-bound on the way."""
    found: list[tuple[object, str, object]] = []
    for module in _user_modules(modules):
        if module not in _LATE_BOUND:
            rebind_captured_factories(module)
            _LATE_BOUND.add(module)
        for attr, value in list(vars(module).items()):
            replacement = swaps.get(id(value))
            if replacement is not None:
                found.append((module, attr, replacement))
    return found


@contextlib.contextmanager
def patched(modules: Iterable[ModuleType] = ()) -> Iterator[None]:
    """Replace threading/time/queue attributes by controlled switches, and the ways to end
    the process or start one (os, multiprocessing) by refusals; restore them on exit.

    Names that ``modules`` imported from ``threading``, ``time``, ``queue`` or ``os`` (``from
    threading import Lock``) are replaced too, and restored on exit.
    """
    replacements: list[tuple[object, str, object]] = [
        (threading, "Lock", _switch(threading.Lock, primitives.Lock)),
        (threading, "RLock", _switch(threading.RLock, primitives.RLock)),
        (threading, "Condition", _switch(threading.Condition, primitives.Condition)),
        (threading, "Semaphore", _switch(threading.Semaphore, primitives.Semaphore)),
        (
            threading,
            "BoundedSemaphore",
            _switch(threading.BoundedSemaphore, primitives.BoundedSemaphore),
        ),
        (threading, "Event", _switch(threading.Event, primitives.Event)),
        (threading, "Thread", primitives.Thread),
        (time, "sleep", primitives.sleep),
        (time, "monotonic", primitives.monotonic),
        (time, "perf_counter", primitives.perf_counter),
        (time, "time", primitives.wall_time),
        (os, "_exit", _exit_switch()),
    ]
    replacements += _thread_methods()
    replacements += _process_starts()
    # queue.py binds ``from time import monotonic as time`` at import: its timeouts need the
    # virtual clock too.
    if getattr(queue, "time", None) is time.monotonic:
        replacements.append((queue, "time", primitives.monotonic))
    replacements += pool_replacements()
    swaps = {
        id(getattr(module, name)): value
        for module, name, value in replacements
        if module is threading or module is time or module is queue or module is os
    }
    modules = list(modules)
    replacements += _rebindings(modules, swaps)
    saved = [(module, name, getattr(module, name)) for module, name, _ in replacements]
    # A class built on a primitive (class Gate(threading.Condition)) builds controlled ones.
    controlled = {kind: getattr(primitives, kind) for kind in SUBCLASSABLE}
    rebased: list[tuple[type, tuple[type, ...]]] = []
    try:
        for module, name, value in replacements:
            setattr(module, name, value)
        for module in _user_modules(modules):
            rebased += rebase_primitive_subclasses(module, controlled)
        with forgetting_run_workers():
            yield
    finally:
        restore_bases(rebased)
        for module, name, value in saved:
            setattr(module, name, value)
