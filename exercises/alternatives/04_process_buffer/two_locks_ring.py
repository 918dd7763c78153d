"""Correct, unlike solution.py: two mutexes, one for the producers' end of the ring and one for
the consumers' end, with both indices in one shared ``ctx.Array("l", 2)``.

A producer and a consumer never touch the same slot at once: a producer writes a slot only after
``free`` says a consumer has finished reading it, and a consumer reads one only after ``ready``
says a producer has finished writing it. So each end needs a lock only against its own kind, and
a put() and a get() can run at the same time."""

_READ, _WRITE = 0, 1  # positions of the two indices in the shared array


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._slots = ctx.RawArray("q", capacity)
        self._at = ctx.RawArray("l", 2)  # [next slot to read, next slot to write]
        self._free = ctx.Semaphore(capacity)
        self._ready = ctx.Semaphore(0)
        self._producers = ctx.Lock()
        self._consumers = ctx.Lock()

    def put(self, item):
        self._free.acquire()
        with self._producers:
            self._slots[self._at[_WRITE]] = item
            self._at[_WRITE] = (self._at[_WRITE] + 1) % self.capacity
        self._ready.release()

    def get(self):
        self._ready.acquire()
        with self._consumers:
            item = self._slots[self._at[_READ]]
            self._at[_READ] = (self._at[_READ] + 1) % self.capacity
        self._free.release()
        return item
