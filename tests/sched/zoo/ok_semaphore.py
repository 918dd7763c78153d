"""Correct semaphore buffer: wait for a free slot/an item first, then take the mutex."""

import threading
from collections import deque


class BoundedBuffer:
    def __init__(self, capacity):
        self.capacity = capacity
        self.items = deque()
        self.mutex = threading.Lock()
        self.empty = threading.Semaphore(capacity)  # free slots
        self.full = threading.Semaphore(0)  # items

    def put(self, item):
        self.empty.acquire()
        with self.mutex:
            self.items.append(item)
        self.full.release()

    def get(self):
        self.full.acquire()
        with self.mutex:
            item = self.items.popleft()
        self.empty.release()
        return item
