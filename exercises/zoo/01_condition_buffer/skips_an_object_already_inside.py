"""Bug: put() skips an object that is already in the buffer ("no duplicates"), compared by
identity.

A queue must hold whatever is put, as often as it is put: the same object put twice must come
out twice. Here the second put() of an object still inside returns at once without storing it,
so one copy is lost, and the consumer waiting for it waits for ever. With distinct items (as in
every put of a counter or a fresh message) nothing shows; it takes one object put twice while
the first copy is still inside.
"""

import threading
from collections import deque

CAUGHT_BY = ("test_any_items_many_buffers",)


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._items = deque()
        lock = threading.Lock()
        self._not_full = threading.Condition(lock)
        self._not_empty = threading.Condition(lock)

    def put(self, item):
        with self._not_full:
            if any(x is item for x in self._items):
                return  # BUG: a second copy of an object is an item too
            while len(self._items) >= self.capacity:
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
