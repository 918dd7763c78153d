"""Correct, unlike solution.py: ``import threading as th``, a ring of slots with a head index and
a count, an RLock, and explicit acquire/release in try/finally."""

import threading as th


class BoundedBuffer:
    def __init__(self, capacity):
        if not capacity >= 1:
            raise ValueError(f"bad capacity {capacity}")
        self.capacity = capacity
        self.slots = [None] * capacity
        self.head = 0
        self.count = 0
        self.mutex = th.RLock()
        self.space = th.Condition(self.mutex)
        self.data = th.Condition(self.mutex)

    def put(self, item):
        self.mutex.acquire()
        try:
            while self.count == self.capacity:
                self.space.wait()
            self.slots[(self.head + self.count) % self.capacity] = item
            self.count += 1
            self.data.notify()
        finally:
            self.mutex.release()

    def get(self):
        self.mutex.acquire()
        try:
            while self.count == 0:
                self.data.wait()
            item = self.slots[self.head]
            self.slots[self.head] = None
            self.head = (self.head + 1) % self.capacity
            self.count -= 1
            self.space.notify()
            return item
        finally:
            self.mutex.release()
