"""Exercise 06: an at-least-once consumer loop. Edit this file (see README.md).

Interface: ``consume(consumer, process, should_stop)`` for a pcmodel KafkaConsumer created with
``enable_auto_commit=False``.
"""

from pcmodel.topics.errors import CommitFailedError  # noqa: F401 - you will need it


def consume(consumer, process, should_stop):
    """Poll, process every record in order, then commit; return when ``should_stop()`` is true.

    An exception from ``process`` propagates at once, before any further commit (a crash).
    """
    raise NotImplementedError(
        "steps A-D: loop until should_stop(): poll, process each record, then commit; "
        "catch CommitFailedError around the commit only"
    )
