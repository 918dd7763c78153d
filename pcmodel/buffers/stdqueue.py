"""``queue.Queue`` with Python 3.13's ``shutdown()``, on every Python we support.

On 3.13 and later this is ``queue.Queue`` itself. Before, it is a subclass whose ``put``, ``get``
and ``shutdown`` follow 3.13's semantics line by line, on the same mutex and conditions
(``not_full``, ``not_empty``, ``all_tasks_done``) that ``queue.Queue`` already has; storage,
``task_done`` and ``join`` are inherited unchanged.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from pcmodel.errors import ShutDown

__all__ = ["ShutdownQueue"]

if hasattr(queue.Queue, "shutdown"):
    ShutdownQueue = queue.Queue
else:

    class ShutdownQueue(queue.Queue):  # type: ignore[no-redef]
        """``queue.Queue`` plus ``shutdown(immediate=False)`` as in Python 3.13."""

        def __init__(self, maxsize: int = 0) -> None:
            super().__init__(maxsize)
            self.is_shutdown = False

        def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
            """As ``queue.Queue.put``; raises ShutDown once the queue is shut down."""
            with self.not_full:
                if self.is_shutdown:
                    raise ShutDown
                if self.maxsize > 0:
                    if not block:
                        if self._qsize() >= self.maxsize:
                            raise queue.Full
                    elif timeout is None:
                        while self._qsize() >= self.maxsize:
                            self.not_full.wait()
                            if self.is_shutdown:
                                raise ShutDown
                    elif timeout < 0:
                        raise ValueError("'timeout' must be a non-negative number")
                    else:
                        endtime = time.monotonic() + timeout
                        while self._qsize() >= self.maxsize:
                            remaining = endtime - time.monotonic()
                            if remaining <= 0.0:
                                raise queue.Full
                            self.not_full.wait(remaining)
                            if self.is_shutdown:
                                raise ShutDown
                self._put(item)
                self.unfinished_tasks += 1
                self.not_empty.notify()

        def get(self, block: bool = True, timeout: float | None = None) -> Any:
            """As ``queue.Queue.get``; raises ShutDown once shut down and empty."""
            with self.not_empty:
                if self.is_shutdown and not self._qsize():
                    raise ShutDown
                if not block:
                    if not self._qsize():
                        raise queue.Empty
                elif timeout is None:
                    while not self._qsize():
                        self.not_empty.wait()
                        if self.is_shutdown and not self._qsize():
                            raise ShutDown
                elif timeout < 0:
                    raise ValueError("'timeout' must be a non-negative number")
                else:
                    endtime = time.monotonic() + timeout
                    while not self._qsize():
                        remaining = endtime - time.monotonic()
                        if remaining <= 0.0:
                            raise queue.Empty
                        self.not_empty.wait(remaining)
                        if self.is_shutdown and not self._qsize():
                            raise ShutDown
                item = self._get()
                self.not_full.notify()
                return item

        def shutdown(self, immediate: bool = False) -> None:
            """Shut down: puts raise ShutDown; gets drain what is left (nothing, if
            ``immediate``, which also counts the discarded items as done), then raise."""
            with self.mutex:
                self.is_shutdown = True
                if immediate:
                    while self._qsize():
                        self._get()
                        if self.unfinished_tasks > 0:
                            self.unfinished_tasks -= 1
                    self.all_tasks_done.notify_all()
                self.not_empty.notify_all()
                self.not_full.notify_all()
