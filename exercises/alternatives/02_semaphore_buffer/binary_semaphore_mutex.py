"""Correct, in the textbook's own words: the mutex is a binary semaphore, ``Semaphore(1)``,
taken with acquire() and given back with release() in a ``try``/``finally``, and the items
sit in a list used as a queue (``append`` / ``pop(0)``) instead of a ring of slots."""

from threading import Semaphore


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.items = []
        self.empty = Semaphore(capacity)
        self.full = Semaphore(0)
        self.mutex = Semaphore(1)

    def put(self, item):
        self.empty.acquire()
        self.mutex.acquire()
        try:
            self.items.append(item)
        finally:
            self.mutex.release()
        self.full.release()

    def get(self):
        self.full.acquire()
        self.mutex.acquire()
        try:
            item = self.items.pop(0)
        finally:
            self.mutex.release()
        self.empty.release()
        return item
