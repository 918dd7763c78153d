"""Correct, unlike solution.py: a dataclass whose lock comes from a field's
default_factory=threading.Lock (captured when the class was defined, not looked up in
__init__), the conditions made in __post_init__, and the item taken after the notify (the
lock is still held, so no waiter can run before it)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class BoundedBuffer:
    capacity: int
    _items: deque = field(default_factory=deque, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {self.capacity}")
        self._not_full = threading.Condition(self._lock)
        self._not_empty = threading.Condition(self._lock)

    def put(self, item) -> None:
        with self._not_full:
            while len(self._items) >= self.capacity:
                self._not_full.wait()
            self._items.append(item)
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            self._not_full.notify()
            return self._items.popleft()
