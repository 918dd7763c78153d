"""The yardsticks ``pcmodel bench`` measures buffers against, written here, each the textbook
algorithm and nothing more.

* :class:`TextbookSemaphoreBuffer`: two counting semaphores, a mutex and a deque; no shutdown, no
  instrumentation (the yardstick of the semaphore variant, bound by ``threading.Semaphore``);
* :class:`BareConditionBuffer`: the condition variant's algorithm with its instrumentation hooks
  taken out (the yardstick of what instrumentation costs, off and on).
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["BareConditionBuffer", "TextbookSemaphoreBuffer"]


class TextbookSemaphoreBuffer:
    """Dijkstra's bounded buffer as a textbook prints it: no timeout, shutdown or statistics."""

    def __init__(self, maxsize: int) -> None:
        self._items: collections.deque = collections.deque()
        self._mutex = threading.Lock()
        self._empty_slots = threading.Semaphore(maxsize)
        self._full_slots = threading.Semaphore(0)

    def put(self, item: Any) -> None:
        self._empty_slots.acquire()
        with self._mutex:
            self._items.append(item)
        self._full_slots.release()

    def get(self) -> Any:
        self._full_slots.acquire()
        with self._mutex:
            item = self._items.popleft()
        self._empty_slots.release()
        return item


class BareConditionBuffer:
    """``ConditionBuffer``'s put/get/put_many/get_many with the instrumentation taken out.

    Line for line the condition variant's algorithm (lock, three conditions, waiter counts,
    shutdown flag, task accounting, ``block``/``timeout``), minus the recorder checks and the
    encode/decode hooks: what the variant would cost if it could not be instrumented.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: collections.deque = collections.deque()
        self._mutex = threading.Lock()
        self._not_full = threading.Condition(self._mutex)
        self._not_empty = threading.Condition(self._mutex)
        self._all_tasks_done = threading.Condition(self._mutex)
        self._shutdown = False
        self._unfinished = 0
        self._waiting_put = 0
        self._waiting_get = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if block and timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        with self._mutex:
            if self._shutdown:
                raise RuntimeError("put() after shutdown")
            items = self._items
            woken = 0 < self.maxsize <= len(items)
            if woken:
                if not block:
                    raise queue.Full
                self._wait_for_space(timeout)
            items.append(item)
            self._unfinished += 1
            if self._waiting_get and len(items) == 1:
                self._not_empty.notify()
            if woken and self._waiting_put and len(items) < self.maxsize:
                self._not_full.notify()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block and timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        with self._mutex:
            items = self._items
            woken = not items
            if woken:
                if self._shutdown:
                    raise RuntimeError("get() after shutdown")
                if not block:
                    raise queue.Empty
                self._wait_for_items(timeout)
            item = items.popleft()
            if self._waiting_put and len(items) == self.maxsize - 1:
                self._not_full.notify()
            if woken and items and self._waiting_get:
                self._not_empty.notify()
        return item

    def put_many(self, batch: Sequence[Any], timeout: float | None = None) -> None:
        batch = list(batch)
        deadline = None if timeout is None else time.monotonic() + timeout
        done, total = 0, len(batch)
        with self._mutex:
            buffered = self._items
            woken = False
            while done < total:
                free = total - done if self.maxsize <= 0 else self.maxsize - len(buffered)
                if free <= 0:
                    self._wait_for_space(None if deadline is None
                                         else max(0.0, deadline - time.monotonic()))
                    woken = True
                    continue
                run = batch[done:done + free]
                buffered.extend(run)
                done += len(run)
                self._unfinished += len(run)
                if self._waiting_get and len(buffered) == len(run):
                    self._not_empty.notify()
                if woken and self._waiting_put and len(buffered) < self.maxsize:
                    self._not_full.notify()
                woken = False

    def get_many(self, max_items: int, timeout: float | None = None) -> list:
        with self._mutex:
            items = self._items
            woken = not items
            if woken:
                self._wait_for_items(timeout)
            was_full = len(items) == self.maxsize
            taken = [items.popleft() for _ in range(min(max_items, len(items)))]
            if was_full and self._waiting_put:
                self._not_full.notify()
            if woken and items and self._waiting_get:
                self._not_empty.notify()
        return taken

    def shutdown(self, immediate: bool = False) -> None:
        """As ``ConditionBuffer.shutdown``: wake every waiter; ``immediate`` drops the items.
        (Not measured: it lets an interrupted benchmark stop its actors.)"""
        with self._mutex:
            self._shutdown = True
            if immediate:
                self._unfinished -= len(self._items)
                self._items.clear()
            self._not_empty.notify_all()
            self._not_full.notify_all()

    def _wait_for_space(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._waiting_put += 1
        try:
            while len(self._items) >= self.maxsize:
                if deadline is None:
                    self._not_full.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise queue.Full
                    self._not_full.wait(remaining)
                if self._shutdown:
                    raise RuntimeError("put() after shutdown")
        except BaseException:
            if self._waiting_put > 1 and len(self._items) < self.maxsize:
                self._not_full.notify()
            raise
        finally:
            self._waiting_put -= 1

    def _wait_for_items(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._waiting_get += 1
        try:
            while not self._items:
                if self._shutdown:
                    raise RuntimeError("get() after shutdown")
                if deadline is None:
                    self._not_empty.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise queue.Empty
                    self._not_empty.wait(remaining)
        except BaseException:
            if self._waiting_get > 1 and self._items:
                self._not_empty.notify()
            raise
        finally:
            self._waiting_get -= 1
