"""Bug: put() notifies ``not_full`` (copied from get()) instead of ``not_empty``.

A getter waiting on an empty buffer is never woken by the put that filled it: it sleeps until
some later get() happens to notify the other condition, which may be never.
"""

import threading
from collections import deque

CAUGHT_BY = ("test_get_blocks_when_empty",)


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
            self._not_full.notify()  # BUG: the getters wait on not_empty

    def get(self):
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            item = self._items.popleft()
            self._not_full.notify()
            return item
