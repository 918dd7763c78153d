"""Bug: a refused offset commit after a rebalance kills the loop.

A member that stalled past max_poll_interval_ms was replaced; its transaction's offsets are
refused (UnknownMemberIdError or IllegalGenerationError). That is not an error of the program:
abort the transaction and go on polling, the partitions' new owner converts the records again.
Letting it escape stops this member for nothing.
"""

from pcmodel.topics import OffsetAndMetadata

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
        # BUG: the error of a replaced member escapes, and the transaction is left open
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
