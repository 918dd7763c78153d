"""Reference solution: the semaphore bounded buffer, shared between processes.

The algorithm of exercise 02 unchanged; only where things live moves, as in CPython's
``multiprocessing.synchronize``: slots and indices in shared memory (``ctx.Array``/``ctx.Value``),
semaphores and the mutex from the same multiprocessing context. Items are integers, because a
shared array of C ``long long`` holds them without pickling.
"""


class BoundedBuffer:
    """A FIFO ring of ``capacity`` integer slots in shared memory; put() and get() block.

    Build it in the parent and pass it to ``ctx.Process(..., args=(buffer, ...))``.
    """

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
        """Write the integer ``item``; wait while every slot is taken."""
        self._empty.acquire()
        with self._mutex:
            self._slots[self._tail.value] = item
            self._tail.value = (self._tail.value + 1) % self.capacity
        self._full.release()

    def get(self):
        """Take the oldest item; wait while the buffer is empty."""
        self._full.acquire()
        with self._mutex:
            item = self._slots[self._head.value]
            self._head.value = (self._head.value + 1) % self.capacity
        self._empty.release()
        return item
