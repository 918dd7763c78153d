"""Bug: the input offsets are committed with consumer.commit() after commit_transaction().

The outputs and the offsets are two commits, not one: between them the outputs are committed and
the offsets are not. A crash there (the process dies right after commit_transaction() returned)
makes the successor start from the old offsets and convert the batch again, so its outputs are
committed twice. Kafka puts the offsets inside the transaction to close that window. And a
member the group replaced commits its outputs all the same (its consumer.commit() fails, too
late): nothing in its transaction names the group, so nothing refuses it.
"""

from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

CAUGHT_BY = ('test_offsets_commit_with_outputs', 'test_survives_a_rebalance')


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        for records in batch.values():
            for record in records:
                producer.send(output_topic, value=convert(record), partition=record.partition)
        producer.commit_transaction()
        try:
            consumer.commit()  # BUG: a second commit, outside the transaction
        except (CommitFailedError, IllegalGenerationError, UnknownMemberIdError,
                RebalanceInProgressError):
            pass
