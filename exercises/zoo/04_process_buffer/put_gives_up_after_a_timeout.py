"""Bug: put() waits at most 2 s for a free slot, then returns without writing its item.

A timeout looks like a guard against hanging for ever. But a full buffer is not an error: it is
how a fast producer is slowed down to the consumers' pace. Once the consumers have been busy
for longer than the timeout, put() returns as if the item were stored, and it is silently lost.
"""

CAUGHT_BY = ('test_put_blocks_when_full',)


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._slots = ctx.Array("q", capacity, lock=False)
        self._head = ctx.Value("i", 0, lock=False)  # next slot to read
        self._tail = ctx.Value("i", 0, lock=False)  # next slot to write
        self._empty = ctx.Semaphore(capacity)  # free slots
        self._full = ctx.Semaphore(0)  # items ready
        self._mutex = ctx.Lock()

    def put(self, item):
        if not self._empty.acquire(timeout=2):
            return  # BUG: the item is lost
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

