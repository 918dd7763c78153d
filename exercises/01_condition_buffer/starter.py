"""Exercise 01: a bounded buffer as a monitor. Edit this file (see README.md).

Interface: ``BoundedBuffer(capacity)`` with blocking ``put(item)`` and ``get()`` and the attribute
``capacity``. Use ``threading.Lock``, ``threading.Condition`` and ``collections.deque``.
"""

import threading  # noqa: F401 - you will need it
from collections import deque  # noqa: F401 - you will need it


class BoundedBuffer:
    """A FIFO buffer holding at most ``capacity`` items; put() and get() block."""

    def __init__(self, capacity):
        raise NotImplementedError(
            "step A/B: validate capacity (ValueError if < 1), store self.capacity, create a deque, "
            "one Lock and two Conditions (not_full, not_empty) sharing it"
        )

    def put(self, item):
        """Add ``item`` at the tail; wait while the buffer is full."""
        raise NotImplementedError("step C: wait on not_full while full, append, notify not_empty")

    def get(self):
        """Remove and return the oldest item; wait while the buffer is empty."""
        raise NotImplementedError("step D: wait on not_empty while empty, popleft, notify not_full")
