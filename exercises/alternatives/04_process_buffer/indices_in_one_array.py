"""Correct, unlike solution.py: both indices in one shared array, the mutex a binary
``ctx.Semaphore(1)``, and the counting semaphores named after what they count.

``self._ends[0]`` is the next slot to read and ``self._ends[1]`` the next to write; an array
of two C ``int`` in shared memory is as shared as two ``Value`` objects.
"""

READ, WRITE = 0, 1


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._slots = ctx.Array("q", [0] * capacity, lock=False)
        self._ends = ctx.Array("i", 2, lock=False)  # [next slot to read, next slot to write]
        self._free_slots = ctx.Semaphore(capacity)
        self._items = ctx.Semaphore(0)
        self._mutex = ctx.Semaphore(1)

    def put(self, item):
        self._free_slots.acquire()
        self._mutex.acquire()
        try:
            at = self._ends[WRITE]
            self._slots[at] = item
            self._ends[WRITE] = (at + 1) % self.capacity
        finally:
            self._mutex.release()
        self._items.release()

    def get(self):
        self._items.acquire()
        self._mutex.acquire()
        try:
            at = self._ends[READ]
            item = self._slots[at]
            self._ends[READ] = (at + 1) % self.capacity
        finally:
            self._mutex.release()
        self._free_slots.release()
        return item
