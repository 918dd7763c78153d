"""Reference solution: an exactly-once consume-transform-produce loop.

Each batch is one transaction: its outputs and the input offsets after it are committed
together, so a read_committed reader sees a batch's outputs exactly when the group has moved past
its inputs. A crash leaves the transaction open; the successor's init_transactions() aborts it
and starts from the last committed offsets. When the group replaced this member, the offsets
are refused (the consumer's group metadata is stale): abort and rewind. A fenced producer means
a newer instance took over: ProducerFencedError propagates and this instance stops.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

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
