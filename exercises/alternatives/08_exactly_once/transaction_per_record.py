"""Correct, unlike solution.py: one transaction per record, holding its output and the offset
after it; a refused offset commit aborts that record's transaction and drops the rest of the
batch (the next poll rejoins, and the group's committed offsets say where to go on)."""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

REFUSED = (CommitFailedError, IllegalGenerationError, RebalanceInProgressError,
           UnknownMemberIdError)


def _one(consumer, producer, convert, output_topic, tp, record):
    """Convert and commit one record; False when the group refused its offset."""
    producer.begin_transaction()
    producer.send(output_topic, value=convert(record), partition=record.partition)
    try:
        producer.send_offsets_to_transaction({tp: OffsetAndMetadata(record.offset + 1)},
                                             consumer.group_metadata())
        producer.commit_transaction()
    except REFUSED:
        producer.abort_transaction()
        return False
    return True


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        # all() stops at the first refused record: the rest of the batch is left for the
        # partition's owner after the rebalance.
        all(_one(consumer, producer, convert, output_topic, tp, record)
            for tp, records in batch.items() for record in records)
