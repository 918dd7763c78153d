"""Reference solution: a bounded buffer from two counting semaphores and a mutex.

Dijkstra's construction (OSTEP chapter 31): ``empty`` counts free slots, ``full`` counts items,
and a mutex protects the ring of slots and its two indices. Each side waits on its counting
semaphore *before* taking the mutex, so a waiting thread never holds the lock the other side needs.
"""

import threading


class BoundedBuffer:
    """A FIFO ring of ``capacity`` slots; put() and get() block."""

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._slots = [None] * capacity
        self._head = 0  # next slot to read
        self._tail = 0  # next slot to write
        self._empty = threading.Semaphore(capacity)  # free slots
        self._full = threading.Semaphore(0)  # items ready to take
        self._mutex = threading.Lock()

    def put(self, item):
        """Write ``item`` into the next free slot, waiting while every slot is taken."""
        self._empty.acquire()
        with self._mutex:
            self._slots[self._tail] = item
            self._tail = (self._tail + 1) % self.capacity
        self._full.release()

    def get(self):
        """Take the oldest item, waiting while the buffer is empty."""
        self._full.acquire()
        with self._mutex:
            item = self._slots[self._head]
            self._slots[self._head] = None
            self._head = (self._head + 1) % self.capacity
        self._empty.release()
        return item
