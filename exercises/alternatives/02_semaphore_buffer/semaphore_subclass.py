"""Correct, unlike solution.py: a ``threading.Semaphore`` subclass that names what it counts,
with ``take()`` and ``give()`` for acquire and release, over a deque."""

import threading
from collections import deque


class Counter(threading.Semaphore):
    """A counting semaphore that names what it counts."""

    def __init__(self, what, value):
        super().__init__(value)
        self.what = what

    def take(self):
        self.acquire()

    def give(self):
        self.release()


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items = deque()
        self._free = Counter("free slots", capacity)
        self._ready = Counter("items", 0)
        self._mutex = threading.Lock()

    def put(self, item):
        self._free.take()
        with self._mutex:
            self._items.append(item)
        self._ready.give()

    def get(self):
        self._ready.take()
        with self._mutex:
            item = self._items.popleft()
        self._free.give()
        return item
