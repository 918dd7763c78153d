"""Bug: an exception from convert() is caught and ignored, and the batch is committed anyway.

The failed record has no output, but the offsets after it are committed: it is never converted
again, so it is lost, and nobody learns that converting failed.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import IllegalGenerationError, UnknownMemberIdError

CAUGHT_BY = ('test_crash_then_successor',)


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        for records in batch.values():
            for record in records:
                try:
                    value = convert(record)
                except Exception:
                    continue  # BUG: the record is dropped, then committed as done
                producer.send(output_topic, value=value, partition=record.partition)
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1) for tp, records in batch.items()}
        try:
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
        except (IllegalGenerationError, UnknownMemberIdError):
            producer.abort_transaction()
