"""Bug: get() reads the oldest item in one hold of the lock and removes it in a second.

Between the two holds another getter can take the lock and read the same oldest item: it
comes out twice, and the item behind it is removed unread.
"""

import threading
from collections import deque

CAUGHT_BY = ("test_many_threads", "test_interleavings")


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items = deque()
        lock = threading.Lock()
        self._not_full = threading.Condition(lock)
        self._not_empty = threading.Condition(lock)

    def get(self):
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            item = self._items[0]
        with self._not_full:  # BUG: the lock was let go in between
            self._items.popleft()
            self._not_full.notify()
        return item

    def put(self, item):
        with self._not_full:
            while len(self._items) == self.capacity:
                self._not_full.wait()
            self._items.append(item)
            self._not_empty.notify()
