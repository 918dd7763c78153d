"""Bug: busy waiting. get() spins on the deque instead of waiting on a condition, burning CPU
while the buffer is empty (and put() spins while it is full)."""

import threading
from collections import deque


class BoundedBuffer:
    def __init__(self, capacity):
        self.capacity = capacity
        self.items = deque()
        self.mutex = threading.Lock()

    def put(self, item):
        while True:
            with self.mutex:
                if len(self.items) < self.capacity:
                    self.items.append(item)
                    return

    def get(self):
        while True:
            with self.mutex:
                if self.items:
                    return self.items.popleft()
