"""Correct, unlike solution.py: the offsets sent to the transaction are the consumer's positions
(after a poll, the position of a partition is the offset after the last record it returned, the
next one to read), read for each partition of the batch once its records are converted. The
rebalance errors are caught as their common base class, ``KafkaError``, after letting
``ProducerFencedError`` through."""

from pcmodel.topics import OffsetAndMetadata
from pcmodel.topics.errors import KafkaError, ProducerFencedError


def transform(consumer, producer, convert, output_topic, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        producer.begin_transaction()
        offsets = {}
        for tp, records in batch.items():
            for record in records:
                producer.send(output_topic, value=convert(record), partition=tp.partition)
            offsets[tp] = OffsetAndMetadata(consumer.position(tp))
        try:
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
        except ProducerFencedError:
            raise
        except KafkaError:
            producer.abort_transaction()
            for tp in consumer.assignment():
                committed = consumer.committed(tp)
                if committed is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
