"""Bug: when the group refuses the offsets, the loop rewinds but does not abort.

The transaction stays open with the batch's outputs in it; the next ``begin_transaction()``
finds it open and raises, so the first rebalance kills the loop (and if it did not, the outputs
of the refused batch would be committed with the next one).
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

CAUGHT_BY = ('test_survives_a_rebalance',)

REBALANCED = (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
              CommitFailedError)


def transform(consumer, producer, convert, output_topic, should_stop):
    """Poll; send convert(record) for every record and commit the batch's offsets in the same
    transaction; return when ``should_stop()`` is true.

    An exception from ``convert`` propagates at once (a crash; the open transaction is aborted
    by the successor's ``init_transactions()``), and so does ``ProducerFencedError``.
    """
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        for records in batch.values():
            for record in records:
                producer.send(output_topic, value=convert(record), partition=record.partition)
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1) for tp, records in batch.items()}
        try:
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
        except REBALANCED:
            # The group moved on without this member: its offsets must not be committed.
            rewind(consumer)  # BUG: the open transaction is never aborted


def rewind(consumer):
    """Seek every assigned partition back to the group's committed offset, so the records of
    the aborted transaction are read (and converted) again."""
    for tp in consumer.assignment():
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
