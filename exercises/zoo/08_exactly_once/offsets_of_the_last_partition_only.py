"""Bug: the offsets sent to the transaction are those of the last partition of the batch only.

The offsets are built after the loop over the batch's partitions from the loop's variables,
which still hold the last partition and its records. The transaction commits the outputs of
every partition of the batch, but moves the group past the records of one: on the others, the
group's committed offset stays behind outputs that are already committed, and whoever reads
those partitions next converts the same records again.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

CAUGHT_BY = ("test_offsets_commit_with_outputs", "test_crash_then_successor",
             "test_survives_a_rebalance", "test_zombie_is_fenced")

REBALANCED = (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
              CommitFailedError)


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        for tp, records in batch.items():  # noqa: B007 - the bug reads tp after the loop
            for record in records:
                producer.send(output_topic, value=convert(record), partition=record.partition)
        # BUG: tp and records are the last partition's; the others' offsets are never sent
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1)}
        try:
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
        except REBALANCED:
            producer.abort_transaction()
            for tp in consumer.assignment():
                committed = consumer.committed(tp)
                if committed is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
