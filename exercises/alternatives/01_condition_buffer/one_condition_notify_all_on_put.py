"""Correct, unlike solution.py: one condition for both sides, where put() wakes every waiter
and get() wakes only one.

A consumer waits only while the buffer is empty, and every put() wakes every waiter: so when a
get() runs, no consumer can be asleep (the put that brought the item woke it), and get()'s
``notify()`` can only reach a producer. The asymmetry is the point: with ``notify()`` on both
sides a wake-up can reach the wrong kind of thread (see the zoo's single_condition_notify).
"""

import threading
from collections import deque


class BoundedBuffer:
    """A FIFO buffer holding at most ``capacity`` items; put() and get() block."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._items: deque = deque()
        self._changed = threading.Condition()

    def put(self, item) -> None:
        with self._changed:
            while len(self._items) >= self.capacity:
                self._changed.wait()
            self._items.append(item)
            self._changed.notify_all()

    def get(self):
        with self._changed:
            while len(self._items) == 0:
                self._changed.wait()
            item = self._items.popleft()
            self._changed.notify()
            return item
