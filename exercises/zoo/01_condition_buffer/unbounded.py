"""Bug: the capacity is stored but never enforced.

put() never waits, so the buffer grows without limit and gives no backpressure: a fast producer
fills memory instead of slowing down. It shows as put() returning on a full buffer.
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
        self._not_empty = threading.Condition()

    def put(self, item):
        with self._not_empty:
            self._items.append(item)  # BUG: no wait while full
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            return self._items.popleft()
