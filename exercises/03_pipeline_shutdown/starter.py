"""Exercise 03: a pipeline with clean shutdown. Edit this file (see README.md).

Interface: ``run_pipeline(sources, handle, consumers, capacity)``; see the README for what it must
guarantee. Use ``threading`` and ``queue.Queue(maxsize=capacity)``.
"""

import queue  # noqa: F401 - you will need it
import threading  # noqa: F401 - you will need it


def run_pipeline(sources, handle, consumers, capacity):
    """Pass every item of every iterable in ``sources`` to ``handle`` in ``consumers`` threads.

    Returns when every item was handled and every thread finished; then raises the first
    exception a source or handle() raised. ValueError when consumers or capacity is below 1.
    """
    raise NotImplementedError(
        "steps A-E: validate, create the queue, start producer and consumer threads, send one "
        "end-of-stream marker per consumer after the producers finished, join, re-raise errors"
    )
