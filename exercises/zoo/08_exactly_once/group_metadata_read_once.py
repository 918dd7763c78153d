"""Bug: consumer.group_metadata() is read once, with the first batch, and reused.

The metadata names the member and its generation, and the generation changes with every
rebalance. After one, this member polls again and rejoins with a new generation, but its
transactions still send the offsets with the old one: the group refuses them every time
(CommitFailedError), the loop aborts, rewinds, converts the same batch and is refused again,
for ever. Its partitions never move, and the loop never ends. Call consumer.group_metadata()
for every send_offsets_to_transaction().
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
    metadata = None
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        if metadata is None:
            metadata = consumer.group_metadata()  # BUG: stale after the next rebalance
        producer.begin_transaction()
        for records in batch.values():
            for record in records:
                producer.send(output_topic, value=convert(record), partition=record.partition)
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1) for tp, records in batch.items()}
        try:
            producer.send_offsets_to_transaction(offsets, metadata)
            producer.commit_transaction()
        except REBALANCED:
            producer.abort_transaction()
            for tp in consumer.assignment():
                committed = consumer.committed(tp)
                if committed is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
