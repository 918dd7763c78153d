"""Bug: the mutex is a new ``threading.Lock()`` made inside put() and get().

``with threading.Lock():`` looks like a critical section, but every call locks a lock of its
own that no other thread ever sees: nothing is excluded. Two producers can write the same slot
before either moves ``tail``, exactly as with no mutex at all; under the GIL a stress test
almost never shows it.
"""

import threading

CAUGHT_BY = ("test_interleavings", "test_many_threads")


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

    def put(self, item):
        self._empty.acquire()
        with threading.Lock():  # BUG: a fresh lock per call excludes no one
            self._slots[self._tail] = item
            self._tail = (self._tail + 1) % self.capacity
        self._full.release()

    def get(self):
        self._full.acquire()
        with threading.Lock():  # BUG: a fresh lock per call excludes no one
            item = self._slots[self._head]
            self._slots[self._head] = None
            self._head = (self._head + 1) % self.capacity
        self._empty.release()
        return item
