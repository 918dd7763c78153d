"""Bug: the offsets sent to each transaction come from a dict kept across batches.

Every batch adds the next offset of its partitions to one dict, and the whole dict goes into
every transaction. After a rebalance that gives a partition the member read from to another
member, the dict still holds that partition's old offset: the member's next transaction commits
it with the member's new, valid generation, so the group's offset there moves back behind the
new owner's progress, and the new owner's outputs since then count for records the group will
deliver again. Build each transaction's offsets from the batch ``poll()`` just returned.
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
    offsets = {}  # the next offset to read of every partition this member has read
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        for records in batch.values():
            for record in records:
                producer.send(output_topic, value=convert(record), partition=record.partition)
        # BUG: entries of partitions the member no longer owns stay in the dict
        offsets.update({tp: OffsetAndMetadata(records[-1].offset + 1)
                        for tp, records in batch.items()})
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
