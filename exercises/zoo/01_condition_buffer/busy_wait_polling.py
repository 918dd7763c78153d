"""Bug: busy waiting. get() polls the buffer in a loop with a short sleep.

Nothing is lost and nothing hangs, but a caller waiting on an empty buffer never sleeps in a
primitive: it wakes up hundreds of times a second, uses CPU and holds the GIL that other threads
need. It shows as a get() that never blocks on a lock, condition or semaphore.
"""

import threading
import time
from collections import deque

CAUGHT_BY = ("test_no_busy_waiting",)


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items = deque()
        self._lock = threading.Lock()

    def put(self, item):
        while True:
            with self._lock:
                if len(self._items) < self.capacity:
                    self._items.append(item)
                    return
            time.sleep(0.001)  # BUG: polling

    def get(self):
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
            time.sleep(0.001)  # BUG: polling
