"""Bug: the emptiness test happens outside the lock (a lost wake-up).

get() looks at the buffer without holding the lock and only then takes the lock to wait. A put()
and its notify() can happen between the look and the wait(), so the consumer sleeps through the
only notification it would get, while an item sits in the buffer.
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

    def put(self, item):
        with self._not_full:
            while len(self._items) == self.capacity:
                self._not_full.wait()
            self._items.append(item)
            self._not_empty.notify()

    def get(self):
        while not self._items:  # BUG: checked without the lock
            with self._not_empty:
                self._not_empty.wait()  # the notify may already have happened
        with self._not_empty:
            item = self._items.popleft()
            self._not_full.notify()
            return item
