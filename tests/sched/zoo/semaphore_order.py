"""Bug: semaphores acquired in the wrong order. get() takes the mutex and then waits for an item
while holding it, so no producer can ever enter: deadlock."""

import threading
from collections import deque


class BoundedBuffer:
    def __init__(self, capacity):
        self.capacity = capacity
        self.items = deque()
        self.mutex = threading.Semaphore(1)
        self.empty = threading.Semaphore(capacity)
        self.full = threading.Semaphore(0)

    def put(self, item):
        self.mutex.acquire()
        self.empty.acquire()
        self.items.append(item)
        self.full.release()
        self.mutex.release()

    def get(self):
        self.mutex.acquire()
        self.full.acquire()
        item = self.items.popleft()
        self.empty.release()
        self.mutex.release()
        return item
