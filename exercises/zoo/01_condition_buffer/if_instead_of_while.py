"""Bug: ``if`` instead of ``while`` around ``wait()``.

A waiter that wakes up goes on without rechecking. A wake-up only means "the state may have
changed": another consumer may have taken the item first (a stolen wake-up), or the wait returned
spuriously. It shows as IndexError from popleft() on an empty deque, or as more items than the
capacity when a producer goes on into a full buffer.
"""

import threading
from collections import deque

CAUGHT_BY = ("test_spurious_wakeups", "test_interleavings")


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
            if len(self._items) == self.capacity:  # BUG: must be while
                self._not_full.wait()
            self._items.append(item)
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            if not self._items:  # BUG: must be while
                self._not_empty.wait()
            item = self._items.popleft()
            self._not_full.notify()
            return item
