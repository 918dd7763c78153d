"""Bug: busy waiting disguised as a timed wait. get() waits with a 5 ms timeout in a loop.

The while loop is right and no wake-up is lost, but nobody notifies: the consumer relies on its
timeout, so it wakes up 200 times a second with nothing to do. It shows as a waiting get() that
keeps waking up while the buffer stays empty.
"""

import threading
from collections import deque

CAUGHT_BY = ("test_no_busy_waiting",)


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items = deque()
        self._changed = threading.Condition()

    def put(self, item):
        with self._changed:
            while len(self._items) == self.capacity:
                self._changed.wait(0.005)  # BUG: polls instead of being notified
            self._items.append(item)

    def get(self):
        with self._changed:
            while not self._items:
                self._changed.wait(0.005)  # BUG: polls instead of being notified
            return self._items.popleft()
