"""Bug: put() announces the item (``full.release()``) before it has written it.

A getter woken by that release can take the mutex first and read the slot while it still
holds the previous item or ``None``: items are lost, duplicated or replaced by ``None``.
"""

import threading

CAUGHT_BY = ("test_many_threads", "test_interleavings")


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._slots = [None] * capacity
        self._head = 0
        self._tail = 0
        self._empty = threading.Semaphore(capacity)
        self._full = threading.Semaphore(0)
        self._mutex = threading.Lock()

    def put(self, item):
        self._empty.acquire()
        self._full.release()  # BUG: the item is not in its slot yet
        with self._mutex:
            self._slots[self._tail] = item
            self._tail = (self._tail + 1) % self.capacity

    def get(self):
        self._full.acquire()
        with self._mutex:
            item = self._slots[self._head]
            self._slots[self._head] = None
            self._head = (self._head + 1) % self.capacity
        self._empty.release()
        return item
