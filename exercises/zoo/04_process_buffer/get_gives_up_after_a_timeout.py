"""Bug: get() waits at most 2 s for an item, then returns None.

An empty buffer is not an error either: a consumer waits for as long as the producers take.
After a quiet spell longer than the timeout, get() hands its caller None, an item nobody put.
"""

CAUGHT_BY = ('test_put_blocks_when_full',)


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._slots = ctx.Array("q", capacity, lock=False)
        self._head = ctx.Value("i", 0, lock=False)
        self._tail = ctx.Value("i", 0, lock=False)
        self._empty = ctx.Semaphore(capacity)
        self._full = ctx.Semaphore(0)
        self._mutex = ctx.Lock()

    def put(self, item):
        self._empty.acquire()
        with self._mutex:
            self._slots[self._tail.value] = item
            self._tail.value = (self._tail.value + 1) % self.capacity
        self._full.release()

    def get(self):
        if not self._full.acquire(timeout=2):
            return None  # BUG: a get() must wait for an item
        with self._mutex:
            item = self._slots[self._head.value]
            self._head.value = (self._head.value + 1) % self.capacity
        self._empty.release()
        return item
