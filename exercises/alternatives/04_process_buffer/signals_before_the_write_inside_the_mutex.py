"""Correct, unlike solution.py: put() releases the items semaphore inside the mutex, before it
writes the slot. Harmless, unlike the same order outside the mutex: a get() woken by it must
still take the mutex, which put() holds until the slot is written."""

class BoundedBuffer:
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
        self._empty.acquire()
        with self._mutex:
            slot = self._tail.value
            self._tail.value = (slot + 1) % self.capacity
            self._full.release()  # a woken get() still waits for the mutex
            self._slots[slot] = item

    def get(self):
        self._full.acquire()
        with self._mutex:
            item = self._slots[self._head.value]
            self._head.value = (self._head.value + 1) % self.capacity
        self._empty.release()
        return item

