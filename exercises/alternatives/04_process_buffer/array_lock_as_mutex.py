"""Correct, unlike solution.py: one synchronized ``ctx.Array`` holds the slots plus the two
indices in its last cells, and its own lock (``get_lock()``) is the mutex."""


class BoundedBuffer:
    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._head_at = capacity
        self._tail_at = capacity + 1
        self._shared = ctx.Array("q", capacity + 2)  # lock=True: a synchronized wrapper
        self._spaces = ctx.Semaphore(capacity)
        self._items = ctx.Semaphore(0)

    def put(self, item):
        self._spaces.acquire()
        with self._shared.get_lock():
            raw = self._shared.get_obj()
            tail = raw[self._tail_at]
            raw[tail] = item
            raw[self._tail_at] = (tail + 1) % self.capacity
        self._items.release()

    def get(self):
        self._items.acquire()
        with self._shared.get_lock():
            raw = self._shared.get_obj()
            head = raw[self._head_at]
            item = raw[head]
            raw[self._head_at] = (head + 1) % self.capacity
        self._spaces.release()
        return item
