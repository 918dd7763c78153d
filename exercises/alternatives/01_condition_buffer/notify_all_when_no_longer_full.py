"""Correct, unlike solution.py: get() wakes the producers only when the buffer stops being full,
and then wakes them all.

A producer waits only while the buffer is full, and every change from full to not full wakes
every waiting producer, so none can sleep through free room: the ones that find the buffer full
again wait for the next change.
"""

import threading
from collections import deque


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items = deque()
        lock = threading.RLock()
        self._not_full = threading.Condition(lock)
        self._not_empty = threading.Condition(lock)

    def put(self, item):
        with self._not_full:
            while len(self._items) >= self.capacity:
                self._not_full.wait()
            self._items.append(item)
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            was_full = len(self._items) == self.capacity
            item = self._items.popleft()
            if was_full:
                self._not_full.notify_all()
            return item
