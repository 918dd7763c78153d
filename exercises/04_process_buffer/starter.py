"""Exercise 04: a bounded buffer shared between processes. Edit this file (see README.md).

Interface: ``BoundedBuffer(capacity, ctx)`` with blocking ``put(item)`` / ``get()`` for integer
items and the attribute ``capacity``; build everything shared from the multiprocessing context
``ctx`` and pass the buffer to children as a Process argument.
"""


class BoundedBuffer:
    """A FIFO ring of ``capacity`` integer slots in shared memory; put() and get() block."""

    def __init__(self, capacity, ctx):
        raise NotImplementedError(
            "steps A-C: validate capacity, store self.capacity, create the slots (ctx.Array), "
            "head and tail (ctx.Value) and the semaphores and mutex from ctx"
        )

    def put(self, item):
        """Write the integer ``item``; wait while every slot is taken."""
        raise NotImplementedError("step D: as in exercise 02, with shared indices")

    def get(self):
        """Take the oldest item; wait while the buffer is empty."""
        raise NotImplementedError("step D: as in exercise 02, with shared indices")
