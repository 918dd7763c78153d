"""Bug: notify only on the empty-to-one transition (a lost wake-up with several consumers).

put() notifies only when it made the buffer non-empty. With two consumers waiting and two quick
puts, the second put sees one item already inside and stays silent, so the second consumer sleeps
while its item waits in the buffer; when the producers stop, it sleeps forever. (Java's
LinkedBlockingQueue also signals only on that transition, and makes up for it: a consumer that
leaves items behind signals the next. pcmodel's condition variant passes its wake-ups on in
the same way.)
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
            if len(self._items) == 1:  # BUG: other consumers may be waiting too
                self._not_empty.notify()

    def get(self):
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            item = self._items.popleft()
            if len(self._items) == self.capacity - 1:  # BUG: the same mistake on this side
                self._not_full.notify()
            return item
