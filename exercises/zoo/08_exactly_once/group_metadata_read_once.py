"""Bug: ``consumer.group_metadata()`` is read once and reused for every transaction.

The metadata names the member and its generation, and both change when the group rebalances.
After the first rebalance every offset this member sends carries the old generation: the group
refuses them all, the loop aborts and rewinds, reads the same records again, and is refused
again, for ever; its partitions' outputs are never committed. Read ``group_metadata()`` for each
transaction.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

CAUGHT_BY = ("test_survives_a_rebalance",)

REBALANCED = (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
              CommitFailedError)


def transform(consumer, producer, convert, output_topic, should_stop):
    member = None
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
            if member is None:
                member = consumer.group_metadata()  # BUG: it changes at every rebalance
            producer.send_offsets_to_transaction(offsets, member)
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
