"""Bug: get() notifies only on the full-to-one-free transition (a lost wake-up with several
producers).

The mirror of notifying only when the buffer was empty. With two producers waiting on a full
buffer and two quick gets, the second get sees a free slot already there and stays silent, so the
second producer sleeps while there is room for its item; once the consumers have taken what is
inside, they wait for items that producer never gets to put: everyone waits.
"""

import threading
from collections import deque

CAUGHT_BY = ("test_many_threads",)


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
            was_full = len(self._items) == self.capacity
            item = self._items.popleft()
            if was_full:  # BUG: a second waiting producer is never told about the next slot
                self._not_full.notify()
            return item
