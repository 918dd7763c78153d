"""Bug: the fullness test is off by one (``>`` instead of ``==``).

put() waits only when the buffer already holds more than ``capacity`` items, so one item too many
gets in: a buffer of capacity 2 holds 3. It shows as put() returning on a full buffer, and in
the stress checks as a third item inside once the producers have filled the buffer.
"""

import threading
from collections import deque

CAUGHT_BY = ("test_put_blocks_when_full", "test_many_threads")


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
            while len(self._items) > self.capacity:  # BUG: lets capacity + 1 items in
                self._not_full.wait()
            self._items.append(item)
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            item = self._items.popleft()
            self._not_full.notify()
            return item
