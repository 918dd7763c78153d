"""Correct, unlike solution.py: names imported from ``threading``, a BoundedSemaphore for the free
slots, and a deque instead of a ring of slots."""

from collections import deque
from threading import BoundedSemaphore, Lock, Semaphore


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.items = deque()
        self.free = BoundedSemaphore(capacity)
        self.ready = Semaphore(0)
        self.guard = Lock()

    def put(self, item):
        self.free.acquire()
        with self.guard:
            self.items.append(item)
        self.ready.release()

    def get(self):
        self.ready.acquire()
        with self.guard:
            item = self.items.popleft()
        self.free.release()
        return item
