"""Bug: the mutex guards put() but not get().

The student reasons that the consumer is alone on its side (the first tests had one consumer
process) and the semaphores already keep it off slots being written. With two consumer processes
running truly in parallel, both read the same ``head``, take the same item and advance the index
twice: one item comes out twice and the one next to it never does.
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
            self._slots[self._tail.value] = item
            self._tail.value = (self._tail.value + 1) % self.capacity
        self._full.release()

    def get(self):
        self._full.acquire()
        # BUG: no mutex: two consumer processes can read the same head
        item = self._slots[self._head.value]
        self._head.value = (self._head.value + 1) % self.capacity
        self._empty.release()
        return item
