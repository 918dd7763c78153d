"""Bug: get() releases ``full`` instead of ``empty``.

Every get() announces an item that does not exist and never frees a slot: the next get() reads
an empty slot (None), and once ``capacity`` items went in, every put() waits forever.
"""

import threading

CAUGHT_BY = ('test_put_blocks_when_full',)


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
            item = self._slots[self._head]
            self._slots[self._head] = None
            self._head = (self._head + 1) % self.capacity
        self._full.release()  # BUG: should free a slot: self._empty.release()
        return item
