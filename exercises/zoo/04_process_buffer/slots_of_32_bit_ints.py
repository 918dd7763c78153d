"""Bug: the slots are an array of C ``int`` (``"i"``, 32 bits), copied from the indices.

Items are 64-bit integers, but a shared array of ``int`` keeps only their low 32 bits, without
an error: ``2**63 - 1`` comes out as ``-1``. Small items pass every transfer; only an item
beyond 32 bits shows it.
"""

CAUGHT_BY = ("test_fifo_sequence",)


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._slots = ctx.Array("i", capacity, lock=False)  # BUG: 32-bit slots, not "q"
        self._head = ctx.Value("i", 0, lock=False)  # next slot to read
        self._tail = ctx.Value("i", 0, lock=False)  # next slot to write
        self._empty = ctx.Semaphore(capacity)  # free slots
        self._full = ctx.Semaphore(0)  # items ready
        self._mutex = ctx.Lock()

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
