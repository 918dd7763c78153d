"""Correct, written differently: each side counts the threads inside it and notifies only when
someone of the other side is there to hear it (``wait_for`` does the re-checking)."""

import threading
from collections import deque


class BoundedBuffer:
    """A FIFO buffer of at most ``capacity`` items; put() and get() block."""

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items = deque()
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._not_empty = threading.Condition(self._lock)
        self._putters = 0  # threads inside put(), waiting or about to
        self._getters = 0  # threads inside get(), waiting or about to

    def put(self, item):
        with self._lock:
            self._putters += 1
            try:
                self._not_full.wait_for(lambda: len(self._items) < self.capacity)
            finally:
                self._putters -= 1
            self._items.append(item)
            if self._getters:
                self._not_empty.notify()

    def get(self):
        with self._lock:
            self._getters += 1
            try:
                self._not_empty.wait_for(lambda: self._items)
            finally:
                self._getters -= 1
            item = self._items.popleft()
            if self._putters:
                self._not_full.notify()
            return item
