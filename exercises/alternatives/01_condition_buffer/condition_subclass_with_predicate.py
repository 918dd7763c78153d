"""Correct, unlike solution.py: a ``threading.Condition`` subclass that knows its predicate and
waits in a ``while`` loop of its own."""

import threading
from collections import deque


class Predicate(threading.Condition):
    """A condition that knows what it waits for."""

    def __init__(self, lock, test):
        super().__init__(lock)
        self.test = test

    def wait_until_true(self):
        while not self.test():
            self.wait()


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items = deque()
        lock = threading.Lock()
        self._not_full = Predicate(lock, lambda: len(self._items) < self.capacity)
        self._not_empty = Predicate(lock, lambda: bool(self._items))

    def put(self, item):
        with self._not_full:
            self._not_full.wait_until_true()
            self._items.append(item)
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            self._not_empty.wait_until_true()
            item = self._items.popleft()
            self._not_full.notify()
            return item
