"""Bug: the primitives come from the multiprocessing module, not from ``ctx``.

``multiprocessing.Semaphore()`` uses the default start method's context. On Linux that is fork,
so everything works until the children are spawned (the default on macOS and Windows): then the
semaphores cannot be passed to the child and the program fails with RuntimeError.
"""

import multiprocessing

CAUGHT_BY = ('test_spawn',)


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        # BUG: ctx is ignored; these belong to the default (fork) context
        self._slots = multiprocessing.Array("q", capacity, lock=False)
        self._head = multiprocessing.Value("i", 0, lock=False)
        self._tail = multiprocessing.Value("i", 0, lock=False)
        self._empty = multiprocessing.get_context("fork").Semaphore(capacity)
        self._full = multiprocessing.get_context("fork").Semaphore(0)
        self._mutex = multiprocessing.get_context("fork").Lock()

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
