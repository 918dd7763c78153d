"""Reference solution: a bounded buffer as a monitor (one lock, two conditions).

The locking protocol of CPython's ``queue.Queue``: ``not_full`` and ``not_empty`` share one lock;
every wait sits in a ``while`` loop, because a wake-up only says "the state may have changed".
"""

import threading
from collections import deque


class BoundedBuffer:
    """A FIFO buffer holding at most ``capacity`` items; put() and get() block."""

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._items = deque()
        lock = threading.Lock()
        self._not_full = threading.Condition(lock)
        self._not_empty = threading.Condition(lock)

    def put(self, item):
        """Add ``item`` at the tail, waiting while the buffer is full."""
        with self._not_full:
            while len(self._items) == self.capacity:
                self._not_full.wait()
            self._items.append(item)
            self._not_empty.notify()

    def get(self):
        """Remove and return the oldest item, waiting while the buffer is empty."""
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            item = self._items.popleft()
            self._not_full.notify()
            return item
