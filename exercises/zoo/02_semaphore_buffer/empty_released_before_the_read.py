"""Bug: get() frees the slot (``empty.release()``) before it has read it.

A producer waiting for room takes that slot at once and can overwrite the item before the
getter reads it: the item is lost and the new one comes out twice.
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
        with self._mutex:
            self._slots[self._tail] = item
            self._tail = (self._tail + 1) % self.capacity
        self._full.release()

    def get(self):
        self._full.acquire()
        self._empty.release()  # BUG: the slot is not read yet
        with self._mutex:
            item = self._slots[self._head]
            self._slots[self._head] = None
            self._head = (self._head + 1) % self.capacity
        return item
