"""Bug: put() tests for room with the lock held, but stores the item after letting it go.

The fullness test and the append are one decision and must happen in one hold of the lock. Here
two producers can both see the last free slot, both leave the ``with`` block, and both append:
the buffer holds one item more than its capacity. No item is lost and nothing hangs, so only a
check that counts what is inside at the worst moment sees it: the schedule searches of
``test_interleavings`` and of ``test_many_threads`` (two producers racing for the last slot) reach
that moment in every grading.
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
        self._items.append(item)  # BUG: the room seen above may be taken by now
        with self._not_empty:
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            item = self._items.popleft()
            self._not_full.notify()
            return item
