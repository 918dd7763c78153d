"""Exercise 02: a bounded buffer from semaphores and a mutex. Edit this file (see README.md).

Interface: ``BoundedBuffer(capacity)`` with blocking ``put(item)`` and ``get()`` and the attribute
``capacity``. Use ``threading.Semaphore`` and ``threading.Lock`` around a ring of slots.
"""

import threading  # noqa: F401 - you will need it


class BoundedBuffer:
    """A FIFO ring of ``capacity`` slots; put() and get() block."""

    def __init__(self, capacity):
        raise NotImplementedError(
            "steps A/B: validate capacity (ValueError if < 1), store self.capacity, create the "
            "slots, head and tail, the 'empty' and 'full' semaphores and a mutex"
        )

    def put(self, item):
        """Write ``item`` at the tail; wait while every slot is taken."""
        raise NotImplementedError("step C: acquire empty, write under the mutex, release full")

    def get(self):
        """Take the oldest item; wait while the buffer is empty."""
        raise NotImplementedError("step D: acquire full, read under the mutex, release empty")
