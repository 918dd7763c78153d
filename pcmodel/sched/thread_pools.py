# What a controlled run installs so that concurrent.futures.ThreadPoolExecutor is scheduled.
#
# The executor looks most of its primitives up at call time (``threading.Thread``,
# ``threading.Semaphore``, the futures' ``threading.Condition``), so the switches of ``patching``
# already control them. Four things are out of their reach:
#
# - its work queue is a ``queue.SimpleQueue``, written in C: a worker blocked in ``get()`` blocks
#   for real, where the scheduler cannot see it. Inside a run ``queue.SimpleQueue()`` builds the
#   standard library's own pure-Python twin (``queue._PySimpleQueue``, same methods and
#   guarantees), whose waits are a controlled Semaphore;
# - ``concurrent.futures.thread`` builds a module-level lock when first imported, held by every
#   ``submit()`` and ``shutdown()``. Imported inside a run it would be a controlled lock of that
#   run (and its import registers fork hooks a controlled lock cannot serve), so the module is
#   imported before the run starts, and for the run its lock is replaced by one the run owns;
# - futures live in sets (``wait()`` builds one, and returns two) and ``wait()`` locks them in
#   the order of their ``id()``: both change from one schedule to the next, so a replayed
#   schedule would take other steps. Inside a run a future hashes like its (controlled)
#   condition, whose hash is the same in every schedule, and futures are locked in hash order;
# - the module remembers every worker thread in ``_threads_queues`` to join them at interpreter
#   exit. The run's workers are forgotten when the run ends: they are not real threads.

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator
from concurrent.futures import _base as futures_base
from concurrent.futures import thread as futures_thread
from typing import Any

from pcmodel.sched import primitives
from pcmodel.sched.runtime import current_thread

__all__ = [
    "AcquireFuturesInOrder", "RunFuture", "RunLock", "forgetting_run_workers", "pool_replacements",
    "simple_queue",
]


def simple_queue(*args: Any, **kwargs: Any) -> Any:
    """``queue.SimpleQueue()``: the C queue outside a run, its pure-Python twin inside one."""
    if current_thread() is None:
        return _REAL_SIMPLE_QUEUE(*args, **kwargs)
    return queue._PySimpleQueue(*args, **kwargs)


_REAL_SIMPLE_QUEUE = queue.SimpleQueue


class RunLock:
    """A module-level lock shared by the program: real outside the run, controlled inside it.

    The controlled lock is built by the first managed thread that uses it, so it belongs to the
    run (a primitive built outside the run cannot be used by it). One instance serves one run.
    """

    def __init__(self, real: Any) -> None:
        self._real = real
        self._controlled: primitives.Lock | None = None

    def _lock(self) -> Any:
        if current_thread() is None:
            return self._real
        if self._controlled is None:
            self._controlled = primitives.Lock()
        return self._controlled

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """As ``threading.Lock.acquire``; a scheduling point inside the run."""
        return self._lock().acquire(blocking, timeout)

    def release(self) -> None:
        """As ``threading.Lock.release``."""
        self._lock().release()

    def locked(self) -> bool:
        """As ``threading.Lock.locked``."""
        return self._lock().locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class RunFuture(futures_base.Future):
    """``concurrent.futures.Future`` whose hash is its condition's: the same in every schedule."""

    def __hash__(self) -> int:
        return hash(self._condition)


class AcquireFuturesInOrder:
    """Lock futures' conditions in hash order (the standard library uses ``id()`` order)."""

    def __init__(self, futures: Any) -> None:
        self.futures = sorted(futures, key=lambda f: (hash(f), id(f)))

    def __enter__(self) -> None:
        for future in self.futures:
            future._condition.acquire()

    def __exit__(self, *exc_info: object) -> None:
        for future in self.futures:
            future._condition.release()


def pool_replacements() -> list[tuple[object, str, object]]:
    """(module, name, replacement) for the names a ThreadPoolExecutor needs controlled."""
    return [
        (queue, "SimpleQueue", simple_queue),
        (futures_thread, "_global_shutdown_lock", RunLock(futures_thread._global_shutdown_lock)),
        (futures_base, "Future", RunFuture),
        (futures_base, "_AcquireFutures", AcquireFuturesInOrder),
    ]


@contextlib.contextmanager
def forgetting_run_workers() -> Iterator[None]:
    """On exit, drop the run's pool workers from the executor module's exit-time join list."""
    try:
        yield
    finally:
        registry = futures_thread._threads_queues
        for worker in [t for t in list(registry) if isinstance(t, primitives.Thread)]:
            registry.pop(worker, None)
