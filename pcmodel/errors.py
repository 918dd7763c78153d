"""Exceptions shared by every layer.

``ShutDown`` is the standard library's ``queue.ShutDown`` where Python has it (3.13 and later), so
``except queue.ShutDown`` in student code works unchanged there; before 3.13 it is our own class
with the same meaning: the buffer was shut down and this operation can never succeed.
"""

import queue

__all__ = ["ItemNotPicklable", "ItemTooLarge", "ShutDown", "UsageError"]

if hasattr(queue, "ShutDown"):
    ShutDown = queue.ShutDown
else:

    class ShutDown(Exception):  # noqa: N818 - the standard library's name
        """Raised by put()/get() on a buffer that was shut down (as queue.ShutDown in 3.13)."""


class ItemNotPicklable(TypeError):
    """An item for a process buffer cannot be pickled; the buffer was not changed."""


class ItemTooLarge(ValueError):
    """An item pickles to more bytes than the process buffer's ``item_size``; nothing changed."""


class UsageError(ValueError):
    """A command-line user's mistake: ``pcmodel`` prints the message on one line and exits 2.

    The message says what was wrong and what to do instead; it is raised before any work starts.
    """
