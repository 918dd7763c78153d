"""Exceptions shared by every layer.

``ShutDown`` is the standard library's ``queue.ShutDown`` where Python has it (3.13 and later), so
``except queue.ShutDown`` in student code works unchanged there; before 3.13 it is our own class
with the same meaning: the buffer was shut down and this operation can never succeed.
"""

import queue

__all__ = [
    "BufferBroken",
    "ItemNotPicklable",
    "ItemNotUnpicklable",
    "SharedMemoryTooLarge",
    "ShutDown",
    "UsageError",
]

if hasattr(queue, "ShutDown"):
    ShutDown = queue.ShutDown
else:

    class ShutDown(Exception):  # noqa: N818 - the standard library's name
        """Raised by put()/get() on a buffer that was shut down (as queue.ShutDown in 3.13)."""


class ItemNotPicklable(TypeError):
    """An item for a process buffer cannot be pickled; the buffer was not changed."""


class ItemNotUnpicklable(ValueError):
    """Items taken from a process buffer could not be unpickled in this process.

    The items that could be are in ``items`` (in order); ``failed`` says how many could not. Items
    travel in the unit they were pickled in: one ``put()``, or one run of a ``put_many()``, so a
    bad item takes the rest of its run with it (they are counted in ``failed``, never dropped
    silently).
    """

    def __init__(self, message: str, items: list | None = None, failed: int = 1) -> None:
        super().__init__(message)
        self.items = [] if items is None else items
        self.failed = failed


class BufferBroken(RuntimeError):
    """A process died holding part of a process buffer (its lock, or permits it had not passed
    on); the buffer's state cannot be trusted and every survivor that waits on it gets this."""


class SharedMemoryTooLarge(ValueError):
    """A process buffer's shared memory cannot be made as large as its capacity (or its
    ``ring_size``) needs: the system refused it. ``reason`` says how (``File too large``, out
    of memory); nothing is left allocated."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class UsageError(ValueError):
    """A command-line user's mistake: ``pcmodel`` prints the message on one line and exits 2.

    The message says what was wrong and what to do instead; it is raised before any work starts.
    """
