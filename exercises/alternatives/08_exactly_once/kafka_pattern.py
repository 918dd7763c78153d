"""Correct, unlike solution.py: the loop of Kafka's documentation. ProducerFencedError ends it;
any other KafkaError from the transaction aborts it and rewinds to the committed offsets."""

from pcmodel.topics import KafkaError, OffsetAndMetadata, ProducerFencedError


def _rewind(consumer):
    for tp in consumer.assignment():
        offset = consumer.committed(tp, metadata=True)
        if offset is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, offset.offset)


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        outputs = [(record.partition, convert(record))
                   for records in batch.values() for record in records]
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1)
                   for tp, records in batch.items()}
        try:
            producer.begin_transaction()
            for partition, value in outputs:
                producer.send(output_topic, value=value, partition=partition)
            producer.flush()
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
        except ProducerFencedError:
            raise
        except KafkaError:
            producer.abort_transaction()
            _rewind(consumer)
