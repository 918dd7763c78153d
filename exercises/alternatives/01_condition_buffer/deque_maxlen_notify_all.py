"""Correct, in another style: a ``deque(maxlen=...)`` that knows its own capacity, a
reentrant lock, ``wait_for`` with a predicate and ``notify_all``.

A ``deque`` with ``maxlen`` would drop its oldest item when appended to while full, but put()
never appends to a full one: it waits first. ``notify_all`` wakes more threads than needed;
each re-checks its predicate, so that costs time, never correctness.
"""

import threading
from collections import deque


class BoundedBuffer:
    def __init__(self, capacity):
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError("capacity must be a positive int")
        self.capacity = capacity
        self._queue = deque(maxlen=capacity)
        self._monitor = threading.RLock()
        self._has_room = threading.Condition(self._monitor)
        self._has_items = threading.Condition(self._monitor)

    def _full(self):
        return len(self._queue) == self._queue.maxlen

    def put(self, item):
        with self._monitor:
            self._has_room.wait_for(lambda: not self._full())
            self._queue.append(item)
            self._has_items.notify_all()

    def get(self):
        with self._monitor:
            self._has_items.wait_for(lambda: len(self._queue) > 0)
            item = self._queue.popleft()
            self._has_room.notify_all()
        return item
