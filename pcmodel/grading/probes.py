"""Load a student's module and watch its synchronisation from outside, without changing its code.

A graded check must know *when* a caller is blocked (to prove that ``put`` on a full buffer waits,
or that a waiting ``get`` burns no CPU) without sleeping and hoping. Student code creates its
primitives through the ``threading`` module, so :func:`instrument` rebinds the module's
``threading`` (and any names imported from it) to a proxy whose Lock, RLock, Condition, Semaphore
and BoundedSemaphore are thin wrappers around the real ones. Each wrapper tells a :class:`Probe`
when a caller really blocks (a non-blocking attempt failed first), so a check can wait for "one
thread is blocked" exactly as trio's tests wait for ``wait_all_tasks_blocked()``.

The proxy Condition can also inject spurious wake-ups: ``wait()`` returning without a notify, which
POSIX condition variables allow and which a ``while`` loop around ``wait()`` tolerates, while an
``if`` does not. Java's ``Object.wait`` documentation and OSTEP chapter 30 make the same point.

A class the student built on a primitive (``class Gate(threading.Condition)``) took the real one
as its base at import; it is given the wrapper as its base
(:func:`pcmodel.sched.captured.rebase_primitive_subclasses`; a run under the scheduler gives it
the controlled class), so it is watched like the rest.
"""

from __future__ import annotations

import _thread
import importlib.util
import itertools
import os
import sys
import threading
import types
from collections import Counter
from collections.abc import Callable
from typing import Any

from pcmodel.sched.captured import (
    SUBCLASSABLE,
    rebase_primitive_subclasses,
    replace_captured_factories,
)

__all__ = [
    "ImplementationError",
    "Probe",
    "compile_problem",
    "instrument",
    "load_impl",
    "syntax_error_line",
]

_module_ids = itertools.count(1)


class ImplementationError(Exception):
    """The student's file could not be loaded or lacks the required interface."""


def load_impl(path: str | os.PathLike[str], *required: str) -> types.ModuleType:
    """Import the file at ``path`` as a fresh module and check it defines ``required`` names.

    Raises ImplementationError (with a message for the student) when the file is missing, fails to
    import, or lacks a name. Each call returns a new module object.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImplementationError(f"no implementation file at {path}")
    name = f"pcmodel_student_{next(_module_ids)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImplementationError(f"cannot import {path}: it is not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as importlib's recipe does: inspect and pickle look it up here
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[name]
        raise ImplementationError(syntax_error_line(exc, path)) from exc
    except Exception as exc:
        del sys.modules[name]
        raise ImplementationError(f"importing {os.path.basename(path)} failed: {exc!r}") from exc
    missing = [attr for attr in required if not hasattr(module, attr)]
    if missing:
        raise ImplementationError(
            f"{os.path.basename(path)} must define {', '.join(missing)} (see the task's interface)"
        )
    return module


def syntax_error_line(exc: SyntaxError, path: str | os.PathLike[str]) -> str:
    """``file:line: message`` for a SyntaxError, as compilers print it."""
    where = os.path.basename(os.fspath(exc.filename or path))
    return f"{where}:{exc.lineno or '?'}: {exc.msg}"


def compile_problem(path: str | os.PathLike[str]) -> str | None:
    """``file:line: message`` when the file does not compile, else None (nothing is run)."""
    try:
        source = open(path, "rb").read()  # noqa: SIM115 - bytes, so the coding line applies
    except OSError as exc:
        return f"{os.fspath(path)}: cannot read it: {exc.strerror}"
    try:
        compile(source, os.fspath(path), "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError are SyntaxErrors
        return syntax_error_line(exc, path)
    except ValueError as exc:  # e.g. a null byte in the source
        return f"{os.path.basename(os.fspath(path))}: {exc}"
    return None


class Probe:
    """Counts threads blocked inside the primitives of one instrumented module.

    ``blocked`` is the number of threads blocked right now; ``block_events`` counts every time a
    thread started blocking; ``tries`` counts acquisitions that did not wait (taken at once, or
    tried without blocking and refused: a polling loop shows as many of them and no block);
    ``created`` counts primitives by kind. ``spurious`` is how many more ``Condition.wait()``
    calls will return at once without a notify.
    """

    def __init__(self, spurious: int = 0) -> None:
        self._cond = threading.Condition(threading.Lock())
        self.blocked = 0
        self.block_events = 0
        self.spurious = spurious
        self.spurious_done = 0
        self.created: Counter[str] = Counter()
        self.tries = 0  # approximate under races: a measure of polling, not an exact count

    def enter(self) -> None:
        with self._cond:
            self.blocked += 1
            self.block_events += 1
            self._cond.notify_all()

    def leave(self) -> None:
        with self._cond:
            self.blocked -= 1
            self._cond.notify_all()

    def take_spurious(self) -> bool:
        with self._cond:
            if self.spurious <= 0:
                return False
            self.spurious -= 1
            self.spurious_done += 1
            return True

    def poke(self) -> None:
        """Wake :meth:`wait_until` callers so they re-evaluate (after outside state changed)."""
        with self._cond:
            self._cond.notify_all()

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds (rechecked at every probe event); False on timeout."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)


def _blocking_acquire(
    probe: Probe, acquire: Callable[..., bool], blocking: bool, timeout: Any
) -> bool:
    probe.tries += 1
    if acquire(False):
        return True
    if not blocking:
        return False
    probe.enter()
    try:
        return acquire(True, timeout)
    finally:
        probe.leave()


def _make_proxy(probe: Probe) -> types.ModuleType:
    real_condition = threading.Condition

    class Lock:
        def __init__(self) -> None:
            probe.created["Lock"] += 1
            self._lock = _thread.allocate_lock()

        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            return _blocking_acquire(probe, self._lock.acquire, blocking, timeout)

        def release(self) -> None:
            self._lock.release()

        def locked(self) -> bool:
            return self._lock.locked()

        __enter__ = acquire

        def __exit__(self, *exc: object) -> None:
            self._lock.release()

    class RLock(Lock):
        def __init__(self) -> None:
            probe.created["RLock"] += 1
            self._lock = threading.RLock()

        def locked(self) -> bool:  # pragma: no cover - RLock has no locked() before 3.13
            return self._is_owned()

        # Condition uses these to release a recursively held lock completely while waiting.
        def _is_owned(self) -> bool:
            return self._lock._is_owned()

        def _release_save(self) -> Any:
            return self._lock._release_save()

        def _acquire_restore(self, state: Any) -> None:
            self._lock._acquire_restore(state)

    class Condition(real_condition):
        _primitive_kind = "Condition"

        def __init__(self, lock: Any = None) -> None:
            probe.created["Condition"] += 1
            super().__init__(RLock() if lock is None else lock)

        def wait(self, timeout: float | None = None) -> bool:
            if probe.take_spurious():
                return super().wait(0)  # releases and re-takes the lock, no notify needed
            probe.enter()
            try:
                return super().wait(timeout)
            finally:
                probe.leave()

    class Semaphore:
        _kind = "Semaphore"
        _primitive_kind = "Semaphore"

        def __init__(self, value: int = 1) -> None:
            probe.created[self._kind] += 1
            self._sem = getattr(threading, self._kind)(value)

        def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
            return _blocking_acquire(probe, self._sem.acquire, blocking, timeout)

        def release(self, n: int = 1) -> None:
            self._sem.release(n)

        __enter__ = acquire

        def __exit__(self, *exc: object) -> None:
            self._sem.release()

        def __getattr__(self, name: str) -> Any:  # e.g. a peek at _value
            return getattr(self._sem, name)

    class BoundedSemaphore(Semaphore):
        _kind = "BoundedSemaphore"
        _primitive_kind = "BoundedSemaphore"

    proxy = types.ModuleType("threading", "threading, with primitives that report blocking")
    proxy.__dict__.update({k: v for k, v in vars(threading).items() if not k.startswith("__")})
    proxy.Lock = Lock
    proxy.RLock = RLock
    proxy.Condition = Condition
    proxy.Semaphore = Semaphore
    proxy.BoundedSemaphore = BoundedSemaphore
    return proxy


def instrument(module: types.ModuleType, probe: Probe) -> None:
    """Make ``module`` create its primitives through ``probe``'s wrappers.

    Rebinds ``threading`` and names imported from it (``from threading import Condition``). Only
    primitives created after this call are watched, so call it before constructing the buffer.
    """
    proxy = _make_proxy(probe)
    swaps = {
        id(threading): proxy,
        id(threading.Lock): proxy.Lock,
        id(threading.RLock): proxy.RLock,
        id(threading.Condition): proxy.Condition,
        id(threading.Semaphore): proxy.Semaphore,
        id(threading.BoundedSemaphore): proxy.BoundedSemaphore,
    }
    for name, value in list(vars(module).items()):
        replacement = swaps.get(id(value))
        if replacement is not None:
            setattr(module, name, replacement)
    # Factories captured when a class or function was defined (a dataclass field's
    # default_factory, a default argument, a class attribute) are not module names.
    replace_captured_factories(module, lambda name: getattr(proxy, name))
    _rebase_subclasses(module, proxy)
    _route_local_imports(module, proxy)


def _rebase_subclasses(module: types.ModuleType, proxy: types.ModuleType) -> None:
    """Make the classes ``module`` defined on top of a primitive (``class Gate(threading.
    Condition)``) inherit from ``proxy``'s wrapper instead, so their waits are seen too.

    Such a class took the real primitive as its base when the module was imported, before any
    name could be rebound. Its own methods stay as written; ``super()`` now reaches the wrapper,
    which counts the primitive and reports its waits."""
    rebase_primitive_subclasses(module, {kind: getattr(proxy, kind) for kind in SUBCLASSABLE})


# The probed ``threading`` of each instrumented module, by module name.
_PROXIES: dict[str, types.ModuleType] = {}


def _route_local_imports(module: types.ModuleType, proxy: types.ModuleType) -> None:
    """Make an ``import threading`` (or ``from threading import ...``) run inside ``module``'s
    functions, after this call, give ``proxy`` too.

    Such an import is not a module name to rebind: it looks ``threading`` up when the function
    runs. Python hands ``__import__`` the importing frame's globals, so one hook, installed once
    per process (a check's child), answers with the proxy of the instrumented module that
    imports, and leaves every other import (the grader's own, the libraries') alone.
    """
    import builtins

    _PROXIES[module.__name__] = proxy
    if getattr(builtins.__import__, "routes_probed_threading", False):
        return
    real_import = builtins.__import__

    def probed_import(name: str, globals: Any = None, locals: Any = None,  # noqa: A002
                      fromlist: Any = (), level: int = 0) -> Any:
        if name == "threading" and level == 0 and isinstance(globals, dict):
            routed = _PROXIES.get(globals.get("__name__"))  # type: ignore[arg-type]
            if routed is not None:
                return routed
        return real_import(name, globals, locals, fromlist, level)

    probed_import.routes_probed_threading = True  # type: ignore[attr-defined]
    builtins.__import__ = probed_import
