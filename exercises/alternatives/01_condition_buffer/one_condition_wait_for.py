"""Correct, unlike solution.py: one condition for both sides, ``wait_for`` and ``notify_all``,
names imported from ``threading`` at import time."""

from collections import deque
from threading import Condition, Lock


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.q = deque()
        self.changed = Condition(Lock())

    def put(self, item):
        with self.changed:
            self.changed.wait_for(lambda: len(self.q) < self.capacity)
            self.q.append(item)
            self.changed.notify_all()

    def get(self):
        with self.changed:
            self.changed.wait_for(lambda: len(self.q) > 0)
            item = self.q.popleft()
            self.changed.notify_all()
            return item
