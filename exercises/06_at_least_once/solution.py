"""Reference solution: an at-least-once consumer loop.

Process every record of a batch, then commit: a crash before the commit makes the group deliver
the batch again (to this member after a restart, or to another one), so nothing is lost and only
the uncommitted batch repeats. A failed commit after a rebalance is not fatal: the partitions went
to another member, which will read them again from the last committed offsets.
"""

from pcmodel.topics.errors import CommitFailedError


def consume(consumer, process, should_stop):
    """Poll, process every record in order, then commit; return when ``should_stop()`` is true.

    An exception from ``process`` propagates at once, before any further commit (a crash).
    """
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for record in records:
                process(record)
        if batches:
            try:
                consumer.commit()
            except CommitFailedError:
                pass  # rebalanced meanwhile: the new owner re-reads from the last commit
