"""kafka-python and confluent-kafka commit what Kafka lets them commit with an offset, through
pcmodel's listeners: metadata longer than ``offset.metadata.max.bytes`` (4096) is refused for
its partition alone (OFFSET_METADATA_TOO_LARGE) while the other partition of the same commit is
committed, and ``committed()`` reports the leader epoch committed (KIP-320)."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

pytestmark = pytest.mark.timeout(60)

TOO_LONG = "m" * 4097
T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)
SETTINGS = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10,
                group_initial_rebalance_delay_ms=300)


def test_kafka_python_hears_offset_metadata_too_large_and_gets_its_epoch_back():
    kafka = pytest.importorskip("kafka", reason="needs kafka-python")
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 2)
        consumer = kafka.KafkaConsumer(bootstrap_servers=listener.bootstrap_servers,
                                       group_id="kp", enable_auto_commit=False)
        try:
            tp0, tp1 = kafka.TopicPartition("t", 0), kafka.TopicPartition("t", 1)
            with pytest.raises(kafka.errors.OffsetMetadataTooLargeError):
                consumer.commit({tp0: kafka.OffsetAndMetadata(5, TOO_LONG, 2),
                                 tp1: kafka.OffsetAndMetadata(6, "ok", 3)})
            assert consumer.committed(tp0) is None
            assert tuple(consumer.committed(tp1, metadata=True)) == (6, "ok", 3)
            consumer.commit({tp0: kafka.OffsetAndMetadata(7, "m" * 4096, 4)})  # at the limit
            assert tuple(consumer.committed(tp0, metadata=True)) == (7, "m" * 4096, 4)
        finally:
            consumer.close()
        assert broker.committed("kp", [T0, T1]) == {T0: OffsetAndMetadata(7, "m" * 4096, 4),
                                                    T1: OffsetAndMetadata(6, "ok", 3)}


def _confluent_commits(bootstrap: str, group: str) -> None:
    confluent = pytest.importorskip("confluent_kafka", reason="needs confluent-kafka")
    consumer = confluent.Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                   "enable.auto.commit": False})
    try:
        with pytest.raises(confluent.KafkaException) as refused:
            consumer.commit(offsets=[
                confluent.TopicPartition("t", 0, 5, metadata=TOO_LONG, leader_epoch=2),
                confluent.TopicPartition("t", 1, 6, metadata="ok", leader_epoch=3)],
                asynchronous=False)
        assert refused.value.args[0].code() == confluent.KafkaError.OFFSET_METADATA_TOO_LARGE
        got = consumer.committed([confluent.TopicPartition("t", 0),
                                  confluent.TopicPartition("t", 1)], timeout=10)
        assert [(p.partition, p.offset, p.metadata, p.leader_epoch) for p in got] == [
            (0, confluent.OFFSET_INVALID, None, None), (1, 6, "ok", 3)]
    finally:
        consumer.close()


def _as_sent_by_librdkafka(value):
    """confluent-kafka sends a metadata string with its C terminator (``"ok\\x00"``), which
    the broker keeps, as Kafka does; its ``committed()`` drops it again."""
    return value._replace(metadata=value.metadata.rstrip("\x00"))


def test_confluent_kafka_hears_offset_metadata_too_large_and_gets_its_epoch_back():
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 2)
        _confluent_commits(listener.bootstrap_servers, "ck")
        found = broker.committed("ck", [T0, T1])
        assert found[T0] is None
        assert _as_sent_by_librdkafka(found[T1]) == OffsetAndMetadata(6, "ok", 3)


def test_confluent_kafka_on_a_cluster_and_its_next_coordinator():
    with Cluster(3, **SETTINGS) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
        _confluent_commits(listeners.bootstrap_servers, "ck")
        conn = cluster.connect()
        cluster.kill(conn._offsets.coordinator("ck"))  # the next one loads the records
        found = conn.committed("ck", [T0, T1])
        assert found[T0] is None
        assert _as_sent_by_librdkafka(found[T1]) == OffsetAndMetadata(6, "ok", 3)
