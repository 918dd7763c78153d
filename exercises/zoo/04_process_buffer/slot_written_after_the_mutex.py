"""Bug: put() claims its slot under the mutex but writes the item after letting the mutex go.

Holding the mutex only to move ``tail`` looks like a fine way to keep it short: each producer
has a slot of its own. But ``full`` counts items, not slots in order. Producer A claims slot 0
and is paused before writing it; producer B claims slot 1, writes it and releases ``full``; a
consumer takes ``full`` and reads the oldest slot, 0, which A has not written yet: it gets a
stale value, and A's item is overwritten or read out of order later.
"""

CAUGHT_BY = ("test_many_processes", "test_spawn")


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
        self._mutex = ctx.Lock()

    def put(self, item):
        self._empty.acquire()
        with self._mutex:
            slot = self._tail.value
            self._tail.value = (slot + 1) % self.capacity
        self._slots[slot] = item  # BUG: written after the mutex is let go
        self._full.release()

    def get(self):
        self._full.acquire()
        with self._mutex:
            item = self._slots[self._head.value]
            self._head.value = (self._head.value + 1) % self.capacity
        self._empty.release()
        return item
