"""Bug: the offsets are sent with the bare group id instead of consumer.group_metadata().

The coordinator then cannot tell which member (and generation) processed the records. A member
that stalled past max_poll_interval_ms was replaced: its partitions went to another member, which
converted and committed the same records. With group_metadata() the stalled member's offsets
would be refused (UnknownMemberIdError) and it would abort; with the group id they are accepted,
and its transaction commits the same outputs a second time.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import IllegalGenerationError, UnknownMemberIdError

CAUGHT_BY = ('test_survives_a_rebalance',)


def transform(consumer, producer, convert, output_topic, should_stop):
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
            # BUG: the group id carries no member id or generation: no zombie is refused
            producer.send_offsets_to_transaction(offsets, consumer.config["group_id"])
            producer.commit_transaction()
        except (IllegalGenerationError, UnknownMemberIdError):
            producer.abort_transaction()
