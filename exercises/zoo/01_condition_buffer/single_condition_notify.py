"""Bug: one condition variable for both kinds of waiter, woken with ``notify()``.

Producers waiting for space and consumers waiting for items sleep on the same condition, and
notify() wakes just one of them, in FIFO order, whatever it waits for. In OSTEP's schedule (one
producer, two consumers, capacity 1) a consumer wakes the other consumer instead of the producer;
then all three wait and nothing moves: a deadlock.
"""

import threading
from collections import deque

CAUGHT_BY = ("test_mixed_waiters", "test_many_threads", "test_interleavings")


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items = deque()
        self._changed = threading.Condition()  # BUG: one condition for two predicates

    def put(self, item):
        with self._changed:
            while len(self._items) == self.capacity:
                self._changed.wait()
            self._items.append(item)
            self._changed.notify()  # may wake a producer instead of a consumer

    def get(self):
        with self._changed:
            while not self._items:
                self._changed.wait()
            item = self._items.popleft()
            self._changed.notify()  # may wake a consumer instead of a producer
            return item
