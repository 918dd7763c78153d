"""Bug: the mutex is a ``threading.Lock()``, kept from exercise 02.

A thread lock lives in one process. Under ``fork`` each child gets its own copy, so the
producers in different processes exclude nobody and write the same slot; under ``spawn`` the
buffer cannot even be handed to a child (``TypeError: cannot pickle '_thread.lock' object``).
"""

import threading

CAUGHT_BY = ("test_spawn",)


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._slots = ctx.Array("q", capacity, lock=False)
        self._head = ctx.Value("i", 0, lock=False)  # next slot to read
        self._tail = ctx.Value("i", 0, lock=False)  # next slot to write
        self._empty = ctx.Semaphore(capacity)  # free slots
        self._full = ctx.Semaphore(0)  # items ready
        self._mutex = threading.Lock()  # BUG: shared by no other process

    def put(self, item):
        self._empty.acquire()
        with self._mutex:
            self._slots[self._tail.value] = item
            self._tail.value = (self._tail.value + 1) % self.capacity
        self._full.release()

    def get(self):
        self._full.acquire()
        with self._mutex:
            item = self._slots[self._head.value]
            self._head.value = (self._head.value + 1) % self.capacity
        self._empty.release()
        return item
