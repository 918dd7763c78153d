"""Correct, unlike solution.py: a monitor across processes, one ``ctx.Condition`` around a shared
array that holds the slots and the head and count."""


class BoundedBuffer:
    HEAD, COUNT = 0, 1

    def __init__(self, capacity, ctx):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.state = ctx.Array("q", 2, lock=False)
        self.slots = ctx.Array("q", capacity, lock=False)
        self.changed = ctx.Condition(ctx.Lock())

    def put(self, item):
        with self.changed:
            while self.state[self.COUNT] == self.capacity:
                self.changed.wait()
            tail = (self.state[self.HEAD] + self.state[self.COUNT]) % self.capacity
            self.slots[tail] = item
            self.state[self.COUNT] += 1
            self.changed.notify_all()

    def get(self):
        with self.changed:
            while self.state[self.COUNT] == 0:
                self.changed.wait()
            head = self.state[self.HEAD]
            item = self.slots[head]
            self.state[self.HEAD] = (head + 1) % self.capacity
            self.state[self.COUNT] -= 1
            self.changed.notify_all()
            return item
