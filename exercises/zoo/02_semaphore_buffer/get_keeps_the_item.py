"""Bug: get() reads the slot but never clears it.

Every item stays referenced by its slot until a later put() overwrites it: a large object, an
open file or a lock taken out of the buffer is never freed while the buffer lives. FIFO order
and counting are right, so only a check that looks for leftover references sees it.
"""

import threading

CAUGHT_BY = ("test_any_items_many_buffers",)


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._slots = [None] * capacity
        self._head = 0  # next slot to read
        self._tail = 0  # next slot to write
        self._empty = threading.Semaphore(capacity)  # free slots
        self._full = threading.Semaphore(0)  # items ready to take
        self._mutex = threading.Lock()

    def put(self, item):
        self._empty.acquire()
        with self._mutex:
            self._slots[self._tail] = item
            self._tail = (self._tail + 1) % self.capacity
        self._full.release()

    def get(self):
        self._full.acquire()
        with self._mutex:
            item = self._slots[self._head]  # BUG: the slot keeps its reference to the item
            self._head = (self._head + 1) % self.capacity
        self._empty.release()
        return item
