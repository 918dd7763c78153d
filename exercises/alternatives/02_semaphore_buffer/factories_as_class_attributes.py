"""Correct, unlike solution.py: the semaphore and mutex factories are class attributes
(captured when the class was defined: a subclass could swap them), and a slot is read and
cleared in one tuple assignment."""

import threading


class BoundedBuffer:
    semaphore = threading.Semaphore
    mutex = threading.Lock

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._slots = [None] * capacity
        self._head = self._tail = 0
        self._empty = self.semaphore(capacity)
        self._full = self.semaphore(0)
        self._mutex = self.mutex()

    def put(self, item):
        self._empty.acquire()
        with self._mutex:
            self._slots[self._tail] = item
            self._tail = (self._tail + 1) % self.capacity
        self._full.release()

    def get(self):
        self._full.acquire()
        with self._mutex:
            item, self._slots[self._head] = self._slots[self._head], None
            self._head = (self._head + 1) % self.capacity
        self._empty.release()
        return item
