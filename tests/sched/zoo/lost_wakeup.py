"""Bug: lost wake-up. get() checks for items, lets go of the lock, and only then waits: a
notify() sent between the check and the wait is lost, and the consumer sleeps forever."""

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
            self.not_empty.notify()

    def get(self):
        while True:
            with self.mutex:
                if self.items:
                    item = self.items.popleft()
                    self.not_full.notify()
                    return item
            # The lock is released between the check and the wait: a notify() sent now is lost.
            with self.mutex:
                self.not_empty.wait()
