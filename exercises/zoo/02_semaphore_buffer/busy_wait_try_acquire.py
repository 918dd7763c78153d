"""Bug: busy waiting on the semaphores with non-blocking acquires.

put() and get() call ``acquire(blocking=False)`` in a loop until it succeeds. Nothing is lost,
but a waiting caller spins at 100% CPU and never sleeps in a primitive.
"""

import threading

CAUGHT_BY = ('test_no_busy_waiting',)


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
        while not self._empty.acquire(blocking=False):  # BUG: spins
            pass
        with self._mutex:
            self._slots[self._tail] = item
            self._tail = (self._tail + 1) % self.capacity
        self._full.release()

    def get(self):
        while not self._full.acquire(blocking=False):  # BUG: spins
            pass
        with self._mutex:
            item = self._slots[self._head]
            self._slots[self._head] = None
            self._head = (self._head + 1) % self.capacity
        self._empty.release()
        return item
