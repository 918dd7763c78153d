"""Bug: semaphores acquired in the wrong order (mutex first).

put() takes the mutex and only then waits for a free slot. On a full buffer the producer sleeps
while holding the mutex, so the consumer that would free a slot blocks on the mutex: a deadlock
that shows the first time a producer waits on a full buffer (and symmetrically in get()).
"""

import threading

CAUGHT_BY = ('test_put_blocks_when_full', 'test_get_blocks_when_empty')


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
        with self._mutex:  # BUG: waits for a slot while holding the mutex
            self._empty.acquire()
            self._slots[self._tail] = item
            self._tail = (self._tail + 1) % self.capacity
        self._full.release()

    def get(self):
        with self._mutex:  # BUG: waits for an item while holding the mutex
            self._full.acquire()
            item = self._slots[self._head]
            self._slots[self._head] = None
            self._head = (self._head + 1) % self.capacity
        self._empty.release()
        return item
