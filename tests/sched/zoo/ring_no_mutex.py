"""Bug: missing mutex. Semaphores count slots and items, but two consumers can read the same
slot before either advances ``head``: one item is received twice and another is lost. Under
CPython's GIL this almost never shows in stress tests; it needs line-level scheduling."""

import threading


class BoundedBuffer:
    def __init__(self, capacity):
        self.capacity = capacity
        self.slots = [None] * capacity
        self.head = 0
        self.tail = 0
        self.empty = threading.Semaphore(capacity)
        self.full = threading.Semaphore(0)

    def put(self, item):
        self.empty.acquire()
        self.slots[self.tail] = item
        self.tail = (self.tail + 1) % self.capacity
        self.full.release()

    def get(self):
        self.full.acquire()
        item = self.slots[self.head]
        self.slots[self.head] = None
        self.head = (self.head + 1) % self.capacity
        self.empty.release()
        return item
