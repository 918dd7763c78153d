"""Bug: get() never notifies ``not_full``.

A producer that waits on a full buffer is never woken, although get() made room: its put() hangs
forever (a lost wake-up that shows on the first full buffer).
"""

import threading
from collections import deque

CAUGHT_BY = ("test_put_blocks_when_full",)


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
            return self._items.popleft()  # BUG: no self._not_full.notify()
