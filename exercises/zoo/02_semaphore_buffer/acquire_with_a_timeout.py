"""Bug: the semaphores are acquired with a timeout "so that nothing can hang", and the result
is ignored.

``acquire(timeout=5)`` returns False after five seconds without a token, and the code goes on
as if it had one: a get() on a buffer that stays empty for longer returns the stale slot
(``None``), and a put() on a full one overwrites the oldest item. A short test never waits that
long.
"""

import threading

CAUGHT_BY = ("test_waits_as_long_as_it_takes",)


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
        self._empty.acquire(timeout=5)  # BUG: goes on without a free slot after 5 s
        with self._mutex:
            self._slots[self._tail] = item
            self._tail = (self._tail + 1) % self.capacity
        self._full.release()

    def get(self):
        self._full.acquire(timeout=5)  # BUG: goes on without an item after 5 s
        with self._mutex:
            item = self._slots[self._head]
            self._slots[self._head] = None
            self._head = (self._head + 1) % self.capacity
        self._empty.release()
        return item
