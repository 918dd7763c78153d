"""Bug: the input offsets are committed with consumer.commit() inside the transaction, before
commit_transaction(), instead of being sent to it.

Calling commit() between begin_transaction() and commit_transaction() looks as if it were part
of the transaction, but the consumer's commit goes straight to the group: it is committed at
once, whatever happens to the transaction. Until commit_transaction() returns, the group has
moved past records whose outputs are not committed; a crash there (the successor's
init_transactions() aborts the open transaction) loses them.
"""

from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

CAUGHT_BY = ("test_zombie_is_fenced",)

REBALANCED = (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
              CommitFailedError)


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        for records in batch.values():
            for record in records:
                producer.send(output_topic, value=convert(record), partition=record.partition)
        try:
            consumer.commit()  # BUG: committed now, not with the transaction
            producer.commit_transaction()
        except REBALANCED:
            producer.abort_transaction()
            for tp in consumer.assignment():
                committed = consumer.committed(tp)
                if committed is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
