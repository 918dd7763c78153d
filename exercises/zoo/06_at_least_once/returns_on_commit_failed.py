"""Bug: a failed commit after a rebalance makes the loop return.

CommitFailedError only means that the group rebalanced without this member: the next poll()
rejoins, and the member gets partitions again. Returning quietly stops the member while
should_stop() is still false, so it does no more work for the group.
"""

from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ('test_survives_a_rebalance',)


def consume(consumer, process, should_stop):
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for record in records:
                process(record)
        if batches:
            try:
                consumer.commit()
            except CommitFailedError:
                return  # BUG: a rebalance is not a reason to stop
