"""Correct, unlike solution.py: a dict keyed by ever-growing counters, an RLock as the mutex,
explicit acquire/release in try/finally, and context-manager semaphores."""

import threading


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity < 1")
        self.capacity = capacity
        self.store = {}
        self.produced = 0
        self.consumed = 0
        self.spaces = threading.Semaphore(capacity)
        self.items = threading.Semaphore(0)
        self.lock = threading.RLock()

    def put(self, item):
        self.spaces.acquire()
        self.lock.acquire()
        try:
            self.store[self.produced] = item
            self.produced += 1
        finally:
            self.lock.release()
        self.items.release()

    def get(self):
        self.items.acquire()
        self.lock.acquire()
        try:
            item = self.store.pop(self.consumed)
            self.consumed += 1
        finally:
            self.lock.release()
        self.spaces.release()
        return item
