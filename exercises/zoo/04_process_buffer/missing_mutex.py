"""Bug: no mutex around the shared slots and indices.

Two producer processes run truly in parallel (no GIL between processes): both read the same
``tail``, write the same slot and advance the index, so one item overwrites the other and a slot
is read twice or stale. It shows as lost and duplicated items with several producers.
"""

CAUGHT_BY = ('test_many_processes',)


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
        # BUG: no mutex: another process can use the same tail
        self._slots[self._tail.value] = item
        self._tail.value = (self._tail.value + 1) % self.capacity
        self._full.release()

    def get(self):
        self._full.acquire()
        # BUG: no mutex: another process can read the same head
        item = self._slots[self._head.value]
        self._head.value = (self._head.value + 1) % self.capacity
        self._empty.release()
        return item
