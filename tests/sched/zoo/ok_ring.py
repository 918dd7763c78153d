"""Correct ring buffer: slots and head/tail indices, semaphores for slots and items, a mutex."""

import threading


class BoundedBuffer:
    def __init__(self, capacity):
        self.capacity = capacity
        self.slots = [None] * capacity
        self.head = 0
        self.tail = 0
        self.mutex = threading.Lock()
        self.empty = threading.Semaphore(capacity)
        self.full = threading.Semaphore(0)

    def put(self, item):
        self.empty.acquire()
        with self.mutex:
            self.slots[self.tail] = item
            self.tail = (self.tail + 1) % self.capacity
        self.full.release()

    def get(self):
        self.full.acquire()
        with self.mutex:
            item = self.slots[self.head]
            self.slots[self.head] = None
            self.head = (self.head + 1) % self.capacity
        self.empty.release()
        return item
