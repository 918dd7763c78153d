"""Bug: every Kafka error is treated as a reason to abort and retry, ProducerFencedError too.

A fenced producer was replaced by a newer instance with the same transactional id: it can do
nothing more, not even abort. This loop catches the error and polls again, for ever: the zombie
never stops, and it keeps its partitions from the successor's consumer.
"""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import KafkaError

CAUGHT_BY = ('test_zombie_is_fenced',)


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        try:
            producer.begin_transaction()
            for records in batch.values():
                for record in records:
                    producer.send(output_topic, value=convert(record),
                                  partition=record.partition)
            offsets = {tp: OffsetAndMetadata(records[-1].offset + 1)
                       for tp, records in batch.items()}
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
        except KafkaError:  # BUG: ProducerFencedError is a KafkaError too
            try:
                producer.abort_transaction()
            except KafkaError:
                pass
            for tp in consumer.assignment():
                committed = consumer.committed(tp)
                if committed is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
