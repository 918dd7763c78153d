"""Bug: each output is sent without ``partition=record.partition``.

The producer's partitioner picks the partition (every output has no key), so the outputs of
one input partition are spread over the output topic: a reader of an output partition finds
outputs of inputs from elsewhere, and the order of each input partition is lost.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

CAUGHT_BY = ('test_everything_converted_once',)

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
                producer.send(output_topic, value=convert(record))  # BUG: no partition
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1) for tp, records in batch.items()}
        try:
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
        except REBALANCED:
            # The group moved on without this member: its offsets must not be committed.
            producer.abort_transaction()
            rewind(consumer)


def rewind(consumer):
    """Seek every assigned partition back to the group's committed offset, so the records of
    the aborted transaction are read (and converted) again."""
    for tp in consumer.assignment():
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
