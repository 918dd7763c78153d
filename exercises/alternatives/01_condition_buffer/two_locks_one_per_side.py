"""Correct, unlike solution.py: each condition has a lock of its own (the two-lock queue of
Java's LinkedBlockingQueue): producers exclude producers, consumers exclude consumers.

A producer tests for room and appends under the ``not_full`` lock, a consumer tests for an
item and pops under the ``not_empty`` lock; ``deque.append`` and ``popleft`` are atomic, and
the other side can only make the test more true (a pop makes room, an append brings an item),
so a test never goes stale. Each notify is sent holding the lock its waiter tested under, so
it cannot fall between a waiter's test and its wait, and no thread holds one lock while taking
the other.
"""

import threading
from collections import deque


class BoundedBuffer:
    """A FIFO buffer holding at most ``capacity`` items; put() and get() block."""

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._items = deque()
        self._not_full = threading.Condition()
        self._not_empty = threading.Condition()

    def put(self, item):
        with self._not_full:
            while len(self._items) >= self.capacity:
                self._not_full.wait()
            self._items.append(item)
        with self._not_empty:
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            item = self._items.popleft()
        with self._not_full:
            self._not_full.notify()
        return item
