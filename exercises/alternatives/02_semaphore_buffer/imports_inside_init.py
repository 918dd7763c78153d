"""Correct, unlike solution.py: threading is imported inside __init__ (looked up when the
constructor runs, not when the module is imported), and the ring counts its items instead of
keeping a tail index."""


class BoundedBuffer:
    def __init__(self, capacity):
        import threading

        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._slots = [None] * capacity
        self._head = 0
        self._count = 0
        self._free = threading.Semaphore(capacity)
        self._items = threading.Semaphore(0)
        self._mutex = threading.Lock()

    def put(self, item):
        self._free.acquire()
        with self._mutex:
            self._slots[(self._head + self._count) % self.capacity] = item
            self._count += 1
        self._items.release()

    def get(self):
        self._items.acquire()
        with self._mutex:
            item = self._slots[self._head]
            self._slots[self._head] = None
            self._head = (self._head + 1) % self.capacity
            self._count -= 1
        self._free.release()
        return item
