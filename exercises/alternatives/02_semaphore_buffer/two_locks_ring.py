"""Correct, unlike solution.py: ``import threading as th`` and two mutexes, one for the producers'
tail and one for the consumers' head. The counting semaphores guarantee that a producer and a
consumer never touch the same slot at once, so the two sides need not exclude each other."""

import threading as th


class BoundedBuffer:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError(capacity)
        self.capacity = capacity
        self.ring = [None] * capacity
        self.write_at = 0
        self.read_at = 0
        self.slots_free = th.Semaphore(capacity)
        self.slots_used = th.Semaphore(0)
        self.producer_lock = th.Lock()
        self.consumer_lock = th.Lock()

    def put(self, item):
        self.slots_free.acquire()
        with self.producer_lock:
            self.ring[self.write_at] = item
            self.write_at = (self.write_at + 1) % self.capacity
        self.slots_used.release()

    def get(self):
        self.slots_used.acquire()
        with self.consumer_lock:
            item = self.ring[self.read_at]
            self.ring[self.read_at] = None
            self.read_at = (self.read_at + 1) % self.capacity
        self.slots_free.release()
        return item
