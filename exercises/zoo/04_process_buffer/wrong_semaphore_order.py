"""Bug: the mutex is taken before waiting on the counting semaphore.

A producer process that finds the buffer full sleeps while holding the mutex; the consumer
process that would free a slot blocks on that mutex. Both wait forever.
"""

CAUGHT_BY = ('test_put_blocks_when_full',)


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
        with self._mutex:  # BUG: waits for a slot while holding the mutex
            self._empty.acquire()
            self._slots[self._tail.value] = item
            self._tail.value = (self._tail.value + 1) % self.capacity
        self._full.release()

    def get(self):
        with self._mutex:  # BUG: waits for an item while holding the mutex
            self._full.acquire()
            item = self._slots[self._head.value]
            self._head.value = (self._head.value + 1) % self.capacity
        self._empty.release()
        return item
