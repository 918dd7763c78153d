"""Bug: the items semaphore is made with ``ctx.Semaphore()``, whose value starts at 1.

The buffer announces one item before anything was put: the first get() on an empty buffer
does not wait, it returns the slot's initial 0 and moves ``head`` one slot ahead of ``tail``.
From then on each get() reads the slot after the one just written: stale values, items twice.
A sequence that never calls get() on an empty buffer does not see it.
"""

CAUGHT_BY = ("test_transfer_between_processes", "test_no_busy_waiting")


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._slots = ctx.Array("q", capacity, lock=False)
        self._head = ctx.Value("i", 0, lock=False)  # next slot to read
        self._tail = ctx.Value("i", 0, lock=False)  # next slot to write
        self._empty = ctx.Semaphore(capacity)  # free slots
        self._full = ctx.Semaphore()  # BUG: the default value is 1, not 0
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
