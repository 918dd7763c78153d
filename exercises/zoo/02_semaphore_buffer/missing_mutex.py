"""Bug: no mutex around the ring buffer's slots and indices.

The semaphores keep the counts right, but two producers can both write slot ``tail`` before
either advances it: one item overwrites the other and a slot is skipped, so a consumer later
reads a stale or empty slot. Under CPython's GIL this almost never happens by chance; it shows
under a controlled scheduler (or perturbed timing) as a lost item and a duplicate or None.
"""

import threading

CAUGHT_BY = ('test_interleavings',)


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
        # BUG: no mutex: another producer can run between these two lines
        self._slots[self._tail] = item
        self._tail = (self._tail + 1) % self.capacity
        self._full.release()

    def get(self):
        self._full.acquire()
        # BUG: no mutex: another consumer can read the same slot
        item = self._slots[self._head]
        self._slots[self._head] = None
        self._head = (self._head + 1) % self.capacity
        self._empty.release()
        return item
