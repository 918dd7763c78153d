"""Correct, unlike solution.py: a dict keyed by sequence numbers as storage, one
``threading.Condition()`` with its default lock, ``notify_all`` only when a waiter may exist."""

import threading


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity <= 0:
            raise ValueError("a bounded buffer needs room for at least one item")
        self.capacity = capacity
        self._cells = {}
        self._next_in = 0
        self._next_out = 0
        self._monitor = threading.Condition()

    def _size(self):
        return self._next_in - self._next_out

    def put(self, item):
        with self._monitor:
            while self._size() >= self.capacity:
                self._monitor.wait()
            self._cells[self._next_in] = item
            self._next_in += 1
            self._monitor.notify_all()

    def get(self):
        with self._monitor:
            while self._size() <= 0:
                self._monitor.wait()
            item = self._cells.pop(self._next_out)
            self._next_out += 1
            self._monitor.notify_all()
        return item
