"""Bug: busy waiting on a shared counter.

get() loops, taking the lock and looking at a shared count until an item is there. Nothing is
lost, but a consumer process waiting on an empty buffer burns a whole core.
"""

CAUGHT_BY = ('test_no_busy_waiting',)


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._slots = ctx.Array("q", capacity, lock=False)
        self._head = ctx.Value("i", 0, lock=False)  # next slot to read
        self._tail = ctx.Value("i", 0, lock=False)  # next slot to write
        self._empty = ctx.Semaphore(capacity)  # free slots
        self._count = ctx.Value("i", 0, lock=False)
        self._mutex = ctx.Lock()

    def put(self, item):
        self._empty.acquire()
        with self._mutex:
            self._slots[self._tail.value] = item
            self._tail.value = (self._tail.value + 1) % self.capacity
            self._count.value += 1

    def get(self):
        while True:  # BUG: spins until an item appears
            with self._mutex:
                if self._count.value > 0:
                    self._count.value -= 1
                    item = self._slots[self._head.value]
                    self._head.value = (self._head.value + 1) % self.capacity
                    break
        self._empty.release()
        return item
