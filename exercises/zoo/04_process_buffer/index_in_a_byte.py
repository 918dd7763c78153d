"""Bug: the head and tail indices live in a shared signed byte (``ctx.Value("b")``).

A byte holds -128..127: in a buffer of capacity 128 or more, the index overflows (ctypes wraps
it silently to a negative number, which Python's indexing reads from the end of the array), so
items come out of order or are overwritten. Small buffers work, which is why it hides.
"""

CAUGHT_BY = ('test_fifo_sequence',)


class BoundedBuffer:
    """A FIFO ring of ``capacity`` integer slots in shared memory; put() and get() block.

    Build it in the parent and pass it to ``ctx.Process(..., args=(buffer, ...))``.
    """

    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._slots = ctx.Array("q", capacity, lock=False)
        self._head = ctx.Value("b", 0, lock=False)  # BUG: a signed byte, -128..127
        self._tail = ctx.Value("b", 0, lock=False)
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
