"""Bug: the offset sent to the transaction is the last record's offset, not the next one.

A committed offset is the next offset to read. Committing the last offset read makes the group
resume at the last record of each batch: the successor after a crash converts it again, and its
output is committed twice.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import IllegalGenerationError, UnknownMemberIdError

CAUGHT_BY = ('test_offsets_commit_with_outputs', 'test_crash_then_successor',
             'test_zombie_is_fenced')


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        for records in batch.values():
            for record in records:
                producer.send(output_topic, value=convert(record), partition=record.partition)
        # BUG: records[-1].offset is the last offset read; the next one to read is + 1
        offsets = {tp: OffsetAndMetadata(records[-1].offset) for tp, records in batch.items()}
        try:
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
        except (IllegalGenerationError, UnknownMemberIdError):
            producer.abort_transaction()
