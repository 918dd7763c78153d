"""Correct, unlike solution.py: ``ctx.RawArray``/``ctx.RawValue``, a ``BoundedSemaphore`` for the
free slots and an ``RLock`` as the mutex, with explicit acquire/release."""


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError(capacity)
        self.capacity = capacity
        self.cells = ctx.RawArray("q", capacity)
        self.read_at = ctx.RawValue("l", 0)
        self.write_at = ctx.RawValue("l", 0)
        self.free = ctx.BoundedSemaphore(capacity)
        self.used = ctx.Semaphore(0)
        self.mutex = ctx.RLock()

    def put(self, item):
        self.free.acquire()
        self.mutex.acquire()
        try:
            self.cells[self.write_at.value] = item
            self.write_at.value = (self.write_at.value + 1) % self.capacity
        finally:
            self.mutex.release()
        self.used.release()

    def get(self):
        self.used.acquire()
        self.mutex.acquire()
        try:
            item = self.cells[self.read_at.value]
            self.read_at.value = (self.read_at.value + 1) % self.capacity
        finally:
            self.mutex.release()
        self.free.release()
        return item
