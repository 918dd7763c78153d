"""Bug: the ring has a fixed number of slots (8), whatever the capacity.

The semaphores count ``capacity`` free slots, but the indices wrap around the 8 slots of the
list. Up to a capacity of 8 that is right (some slots are never used); above it, a producer
laps the consumers and overwrites slots not read yet: items are lost and others come out
twice. It shows only when a buffer larger than the ring holds more than 8 items.
"""

import threading

CAUGHT_BY = ("test_fifo_sequence",)

SLOTS = 8  # preallocated once: enough for the buffers in the examples


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._slots = [None] * SLOTS  # BUG: should be [None] * capacity
        self._head = 0  # next slot to read
        self._tail = 0  # next slot to write
        self._empty = threading.Semaphore(capacity)  # free slots
        self._full = threading.Semaphore(0)  # items ready to take
        self._mutex = threading.Lock()

    def put(self, item):
        self._empty.acquire()
        with self._mutex:
            self._slots[self._tail] = item
            self._tail = (self._tail + 1) % len(self._slots)
        self._full.release()

    def get(self):
        self._full.acquire()
        with self._mutex:
            item = self._slots[self._head]
            self._slots[self._head] = None
            self._head = (self._head + 1) % len(self._slots)
        self._empty.release()
        return item
