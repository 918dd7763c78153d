"""Bug: items leave from the wrong end (a stack, not a queue).

get() uses ``pop()``, which removes the newest item: nothing is lost, but the order is LIFO. It
shows as get() returning the latest item while older ones wait.
"""

import threading
from collections import deque

CAUGHT_BY = ("test_fifo_sequence",)


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items = deque()
        lock = threading.Lock()
        self._not_full = threading.Condition(lock)
        self._not_empty = threading.Condition(lock)

    def put(self, item):
        with self._not_full:
            while len(self._items) == self.capacity:
                self._not_full.wait()
            self._items.append(item)
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            item = self._items.pop()  # BUG: the newest item, not the oldest
            self._not_full.notify()
            return item
