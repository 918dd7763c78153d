"""Bug: a failed commit after a rebalance kills the loop.

When another member joins, the group rebalances; a commit for the old generation fails with
CommitFailedError. Letting it escape stops this member although nothing is wrong: the records
will simply be read again by their new owner.
"""


CAUGHT_BY = ('test_survives_a_rebalance',)


def consume(consumer, process, should_stop):
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for record in records:
                process(record)
        if batches:
            consumer.commit()  # BUG: CommitFailedError after a rebalance escapes
