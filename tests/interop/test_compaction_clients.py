"""Real clients on a compacted topic through pcmodel's listener: kafka-python creates it and
writes a table of keys, both clients read each key's latest value across the offsets the cleaner
removed, and both hear Kafka's INVALID_RECORD for a record without a key."""

from __future__ import annotations

import pytest

from pcmodel.topics import Broker
from pcmodel.topics.log_records import wall_clock_ms

pytestmark = pytest.mark.timeout(60)

#: (key, value) written ten seconds ago, one batch each; then ("a", "3") now.
_HISTORY = [(b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"b", b"2")]
#: What the table keeps once the last append rolled the segment (offset, key, value).
_CLEANED = [(2, b"a", b"2"), (3, b"b", b"2"), (4, b"a", b"3")]


def _write_table(bootstrap: str) -> None:
    kafka = pytest.importorskip("kafka", reason="needs kafka-python")
    kafka_admin = pytest.importorskip("kafka.admin", reason="needs kafka-python")
    admin = kafka_admin.KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([kafka_admin.NewTopic(
            "table", 1, 1, topic_configs={"cleanup.policy": "compact", "segment.ms": "1000"})])
    finally:
        admin.close()
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap)
    try:
        before = wall_clock_ms() - 10_000
        for key, value in _HISTORY:  # .get() each: one batch each
            producer.send("table", value, key=key, timestamp_ms=before).get(timeout=20)
        producer.send("table", b"3", key=b"a").get(timeout=20)  # rolls the segment
        with pytest.raises(kafka.errors.InvalidRecordError):
            producer.send("table", b"no key").get(timeout=20)
    finally:
        producer.close()


def test_kafka_python_writes_and_reads_a_compacted_table():
    kafka = pytest.importorskip("kafka", reason="needs kafka-python")
    with Broker() as broker, broker.serve_kafka() as listener:
        _write_table(listener.bootstrap_servers)
        consumer = kafka.KafkaConsumer(bootstrap_servers=listener.bootstrap_servers,
                                       auto_offset_reset="earliest", consumer_timeout_ms=2000)
        try:
            partition = kafka.TopicPartition("table", 0)
            consumer.assign([partition])
            got = []
            while len(got) < len(_CLEANED):
                batch = consumer.poll(timeout_ms=10_000).get(partition, [])
                assert batch, f"no more records after {got}"
                got += [(r.offset, r.key, r.value) for r in batch]
            assert got == _CLEANED
            assert consumer.position(partition) == 5
        finally:
            consumer.close()
        assert broker.log_stats("table")[0].records == 3


def test_confluent_kafka_reads_the_table_and_hears_invalid_record():
    confluent = pytest.importorskip("confluent_kafka",
                                    reason="needs confluent-kafka (the interop extra)")
    with Broker() as broker, broker.serve_kafka() as listener:
        _write_table(listener.bootstrap_servers)
        consumer = confluent.Consumer({"bootstrap.servers": listener.bootstrap_servers,
                                       "group.id": "g", "auto.offset.reset": "earliest"})
        try:
            consumer.assign([confluent.TopicPartition("table", 0, 0)])
            got = []
            while len(got) < len(_CLEANED):
                message = consumer.poll(20)
                assert message is not None and message.error() is None, message
                got.append((message.offset(), message.key(), message.value()))
            assert got == _CLEANED
        finally:
            consumer.close()
        reports = []
        producer = confluent.Producer({"bootstrap.servers": listener.bootstrap_servers})
        producer.produce("table", b"no key", on_delivery=lambda err, msg: reports.append(err))
        assert producer.flush(20) == 0
        assert reports[0] is not None and reports[0].code() == confluent.KafkaError.INVALID_RECORD
        assert broker.end_offsets([("table", 0)]) == {("table", 0): 5}
