"""Correct, written differently: two ever-growing counters instead of wrapped indices.

``puts`` and ``gets`` count the items ever put and taken; the slot of the next one is the count
modulo the capacity, wrapped where it is used. Python integers never overflow, so the counters
can grow for ever. The mutex is taken and let go by hand.
"""

from threading import Lock, Semaphore


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._slots = [None] * capacity
        self._puts = 0  # items ever put: the next write goes to puts % capacity
        self._gets = 0  # items ever taken: the next read comes from gets % capacity
        self._free_slots = Semaphore(capacity)
        self._items = Semaphore(0)
        self._mutex = Lock()

    def put(self, item):
        self._free_slots.acquire()
        self._mutex.acquire()
        try:
            self._slots[self._puts % self.capacity] = item
            self._puts += 1
        finally:
            self._mutex.release()
        self._items.release()

    def get(self):
        self._items.acquire()
        self._mutex.acquire()
        try:
            slot = self._gets % self.capacity
            item, self._slots[slot] = self._slots[slot], None
            self._gets += 1
        finally:
            self._mutex.release()
        self._free_slots.release()
        return item
