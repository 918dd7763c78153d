"""Correct, unlike solution.py: the offsets are built record by record while the outputs are
sent, each with metadata, and the rewind is written inline.

``next_offsets[tp]`` is overwritten by every record of ``tp``, so after the batch it holds the
offset after the last one read: the offset the group resumes from.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

GROUP_MOVED_ON = (CommitFailedError, IllegalGenerationError, RebalanceInProgressError,
                  UnknownMemberIdError)


def transform(consumer, producer, convert, output_topic, should_stop):
    """One transaction per non-empty batch: its outputs and the offsets after it commit
    together or not at all. convert() errors and ProducerFencedError propagate."""
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        next_offsets = {}
        for tp, records in batch.items():
            for record in records:
                output = convert(record)
                producer.send(output_topic, value=output, partition=record.partition)
                next_offsets[tp] = OffsetAndMetadata(record.offset + 1, "")
        try:
            producer.send_offsets_to_transaction(next_offsets, consumer.group_metadata())
            producer.commit_transaction()
        except GROUP_MOVED_ON:
            producer.abort_transaction()
            for tp in consumer.assignment():
                position = consumer.committed(tp)
                if position is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, position)
