"""A record header whose value is null survives produce, storage and fetch, as in Kafka.

Kafka's record format writes a header value's length as a varint, ``-1`` for null (the Java
``RecordHeader`` value may be null). A client that writes one must read back null, not an empty
value: through the Kafka listener (a raw batch in, kafka-python's consumer and a raw fetch out),
through pcmodel's own producer (which takes ``None``, as the Java client does) and consumer,
on a topic stored compressed, and on a follower's copy in a cluster.
"""

from __future__ import annotations

import pytest
from kafka.record.default_records import DefaultRecordBatchBuilder

from pcmodel.cluster import Cluster
from pcmodel.topics import KafkaConsumer, KafkaProducer, TopicPartition
from pcmodel.topics.log_records import LogRecord, record_batch_size, validate_records
from pcmodel.wire.records import decode_batch, encode_records
from tests.conftest import wait_until
from tests.topics.conftest import drain
from tests.wire.conftest import (
    FAST,
    fetch_request,
    fetched_records,
    produce_request,
    record_batch,
)

pytestmark = pytest.mark.timeout(60)

HEADERS = [("trace", None), ("empty", b""), ("id", b"7")]


def test_a_batch_keeps_null_header_values_both_ways():
    produced = decode_batch(record_batch([b"v"], headers=HEADERS))
    assert produced.records[0][2] == tuple(HEADERS)
    fetched = fetched_records_of(encode_records(
        [LogRecord(0, 1000, 0, None, b"v", tuple(HEADERS))], 1 << 20))
    assert [tuple(r.headers) for r in fetched] == [tuple(HEADERS)]


def fetched_records_of(data: bytes) -> list:
    from kafka.record.memory_records import MemoryRecords

    records, batches = [], MemoryRecords(data)
    while batches.has_next():
        records.extend(batches.next_batch())
    return records


def test_the_size_of_a_null_header_value_is_one_byte():
    """A null value is its varint length -1, one byte; an empty one is length 0, also one."""
    for headers in (HEADERS, [("h", None)], [("a", None), ("b", None)]):
        records = validate_records([(None, b"v", headers, 1000)])
        builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 1 << 20)
        builder.append(0, 1000, None, b"v", list(headers))
        assert record_batch_size(records) == len(builder.build())
    null = validate_records([(None, b"v", [("h", None)], 1000)])
    empty = validate_records([(None, b"v", [("h", b"")], 1000)])
    assert record_batch_size(null) == record_batch_size(empty)


def test_a_kafka_client_reads_back_the_null_value_it_wrote(broker, listener, raw):
    broker.create_topic("t", 1)
    answer = raw.request(produce_request("t", 0, record_batch([b"v"], headers=HEADERS)))
    assert answer.responses[0].partition_responses[0].error_code == 0
    part = raw.request(fetch_request({("t", 0): 0})).responses[0].partitions[0]
    assert [list(r.headers) for r in fetched_records(part)] == [HEADERS]
    # pcmodel's consumer reads the same record: the value is None, not b"".
    consumer = KafkaConsumer(broker=broker, auto_offset_reset="earliest", fetch_max_wait_ms=20)
    consumer.assign([TopicPartition("t", 0)])
    record = drain(consumer, 1, 20)[0]
    consumer.close()
    assert record.headers == HEADERS
    assert record.serialized_header_size == len(b"trace" b"empty" b"id" b"7")


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_pcmodels_producer_takes_a_null_header_value(broker, listener, compression):
    import kafka

    broker.create_topic("t", 1)
    producer = KafkaProducer(broker=broker, compression_type=compression)
    metadata = producer.send("t", b"v", headers=list(HEADERS)).get(timeout=20)
    producer.close()
    assert metadata.serialized_header_size == len(b"trace" b"empty" b"id" b"7")
    consumer = KafkaConsumer(broker=broker, auto_offset_reset="earliest", fetch_max_wait_ms=20)
    consumer.assign([TopicPartition("t", 0)])
    assert drain(consumer, 1, 20)[0].headers == HEADERS
    consumer.close()
    # kafka-python, reading it from the listener, sees the null value too.
    other = kafka.KafkaConsumer(bootstrap_servers=listener.bootstrap_servers,
                                auto_offset_reset="earliest", fetch_max_wait_ms=20)
    other.assign([kafka.TopicPartition("t", 0)])
    try:
        assert drain(other, 1, 20)[0].headers == HEADERS
    finally:
        other.close()


def test_a_followers_copy_keeps_the_null_header_value():
    with Cluster(3, **FAST) as cluster:
        cluster.create_topic("t", 1, replication_factor=3)
        wait_until(lambda: len(cluster.isr("t", 0)) == 3, timeout=30)
        producer = KafkaProducer(broker=cluster, acks="all")
        producer.send("t", b"v", headers=[("trace", None)]).get(timeout=20)
        producer.close()
        cluster.stop(cluster.leader("t", 0))  # read the copy of a former follower
        consumer = KafkaConsumer(broker=cluster, auto_offset_reset="earliest",
                                 fetch_max_wait_ms=20)
        consumer.assign([TopicPartition("t", 0)])
        try:
            assert drain(consumer, 1, 20)[0].headers == [("trace", None)]
        finally:
            consumer.close()
