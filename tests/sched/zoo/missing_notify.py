"""Bug: put() never notifies not_empty, so a consumer that waits on an empty buffer sleeps
forever (a deadlock once the producers are done or blocked)."""

import threading
from collections import deque


class BoundedBuffer:
    def __init__(self, capacity):
        self.capacity = capacity
        self.items = deque()
        self.mutex = threading.Lock()
        self.not_full = threading.Condition(self.mutex)
        self.not_empty = threading.Condition(self.mutex)

    def put(self, item):
        with self.mutex:
            while len(self.items) >= self.capacity:
                self.not_full.wait()
            self.items.append(item)

    def get(self):
        with self.mutex:
            while not self.items:
                self.not_empty.wait()
            item = self.items.popleft()
            self.not_full.notify()
            return item
