"""Bug: the counting semaphores start with each other's values.

``empty`` starts at 0 and ``full`` at ``capacity``: the buffer believes it is full when it is
empty. get() on a new buffer returns None at once instead of waiting, and put() blocks.
"""

import threading

CAUGHT_BY = ('test_get_blocks_when_empty',)


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._slots = [None] * capacity
        self._head = 0  # next slot to read
        self._tail = 0  # next slot to write
        self._empty = threading.Semaphore(0)  # BUG: should start at capacity
        self._full = threading.Semaphore(capacity)  # BUG: should start at 0
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
        self._empty.release()
        return item
