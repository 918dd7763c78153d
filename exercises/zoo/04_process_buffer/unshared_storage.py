"""Bug: the slots and indices are plain Python objects, not shared memory.

Each process gets its own copy of the list and the two ints (a fork copies them, spawn pickles
them). The semaphores are shared, so a consumer is told an item is there, but it reads its own,
never-written copy of the slot: it receives 0, which nobody put, and the producer's items are lost.
"""

CAUGHT_BY = ('test_transfer_between_processes',)


class _Box:
    """A plain mutable int holder (each process has its own copy)."""

    def __init__(self, value):
        self.value = value


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        # BUG: private to each process
        self._slots = [0] * capacity
        self._head = _Box(0)
        self._tail = _Box(0)
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
