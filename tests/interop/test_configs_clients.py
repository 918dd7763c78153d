"""Real clients describe and alter configs through pcmodel's listeners: confluent-kafka on a lone
broker, kafka-python on every broker of a cluster (each answers for itself); both see the times
a LogAppendTime topic stamps, and retention.ms ages the records by the times clients gave them."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker

pytestmark = pytest.mark.timeout(60)


def test_confluent_kafka_describes_and_alters_a_topic():
    admin_module = pytest.importorskip("confluent_kafka.admin",
                                       reason="needs confluent-kafka (the interop extra)")
    from confluent_kafka import KafkaException

    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", configs={"segment.bytes": "1048576"})
        admin = admin_module.AdminClient({"bootstrap.servers": listener.bootstrap_servers})
        topic = admin_module.ConfigResource("topic", "t")
        described = admin.describe_configs([topic])[topic].result(timeout=20)
        assert described["segment.bytes"].value == "1048576"
        assert described["segment.bytes"].source == \
            admin_module.ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        assert described["retention.ms"].value == "-1"
        own = admin_module.ConfigResource("broker", "0")
        assert admin.describe_configs([own])[own].result(timeout=20)["broker.id"].value == "0"

        change = admin_module.ConfigResource("topic", "t", incremental_configs=[
            admin_module.ConfigEntry("retention.ms", "60000",
                                     incremental_operation=admin_module.AlterConfigOpType.SET),
            admin_module.ConfigEntry("segment.bytes", None,
                                     incremental_operation=admin_module.AlterConfigOpType.DELETE),
        ])
        admin.incremental_alter_configs([change])[change].result(timeout=20)
        assert broker.describe_topic("t").retention_ms == 60000
        assert admin.describe_configs([topic])[topic].result(timeout=20)[
            "segment.bytes"].value == "1073741824"

        bad = admin_module.ConfigResource("topic", "t", incremental_configs=[
            admin_module.ConfigEntry("retention.ms", "soon",
                                     incremental_operation=admin_module.AlterConfigOpType.SET)])
        with pytest.raises(KafkaException, match="Invalid value soon for configuration"):
            admin.incremental_alter_configs([bad])[bad].result(timeout=20)
        missing = admin_module.ConfigResource("topic", "nope")
        with pytest.raises(KafkaException, match="unknown topic 'nope'"):
            admin.describe_configs([missing])[missing].result(timeout=20)
        assert broker.describe_topic("t").retention_ms == 60000


def test_kafka_python_reaches_every_broker_of_a_cluster():
    kafka_admin = pytest.importorskip("kafka.admin", reason="needs kafka-python")
    with Cluster(3, broker_session_timeout_ms=2000, tick_ms=20) as cluster, \
            cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=3)
        admin = kafka_admin.KafkaAdminClient(bootstrap_servers=listeners.bootstrap_servers)
        try:
            brokers = admin.describe_configs(
                [kafka_admin.ConfigResource("BROKER", str(b)) for b in range(3)],
                config_filter="all")["broker"]
            assert {name: configs["broker.id"]["value"] for name, configs in brokers.items()} \
                == {"0": "0", "1": "1", "2": "2"}
            assert admin.alter_configs([kafka_admin.ConfigResource(
                "TOPIC", "t", {"min.insync.replicas": "2"})]) == {"topic": {"t": "OK"}}
            assert cluster.controller.topics["t"].min_insync_replicas == 2
            assert admin.describe_configs([kafka_admin.ConfigResource("TOPIC", "t")]) == {
                "topic": {"t": {"min.insync.replicas": {
                    "value": "2", "read_only": False, "config_source": "DYNAMIC_TOPIC_CONFIG",
                    "is_sensitive": False, "synonyms": [], "config_type": "INT",
                    "documentation": None}}}}
        finally:
            admin.close()


def test_clients_see_the_brokers_stamp_on_a_log_append_time_topic():
    confluent = pytest.importorskip("confluent_kafka",
                                    reason="needs confluent-kafka (the interop extra)")
    kafka = pytest.importorskip("kafka", reason="needs kafka-python")
    with Broker(timestamp_clock=lambda: 1_234_567) as broker, \
            broker.serve_kafka() as listener:
        broker.create_topic("t", configs={"message.timestamp.type": "LogAppendTime"})
        producer = kafka.KafkaProducer(bootstrap_servers=listener.bootstrap_servers)
        try:
            metadata = producer.send("t", b"x", timestamp_ms=5).get(timeout=20)
        finally:
            producer.close()
        assert metadata.timestamp == 1_234_567  # the broker's stamp, not the producer's 5
        consumer = confluent.Consumer({"bootstrap.servers": listener.bootstrap_servers,
                                       "group.id": "g", "auto.offset.reset": "earliest"})
        try:
            consumer.assign([confluent.TopicPartition("t", 0, 0)])
            message = consumer.poll(20)
        finally:
            consumer.close()
        assert message is not None and message.error() is None
        assert message.timestamp() == (confluent.TIMESTAMP_LOG_APPEND_TIME, 1_234_567)


def test_clients_hear_message_too_large_from_a_topics_limit():
    confluent = pytest.importorskip("confluent_kafka",
                                    reason="needs confluent-kafka (the interop extra)")
    kafka = pytest.importorskip("kafka", reason="needs kafka-python")
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", configs={"max.message.bytes": "500"})
        producer = kafka.KafkaProducer(bootstrap_servers=listener.bootstrap_servers)
        try:
            with pytest.raises(kafka.errors.MessageSizeTooLargeError):
                producer.send("t", bytes(1000)).get(timeout=20)
        finally:
            producer.close()
        reports = []
        producer = confluent.Producer({"bootstrap.servers": listener.bootstrap_servers})
        for value in (bytes(1000), b"small"):  # one batch each: librdkafka does not split
            producer.produce("t", value, on_delivery=lambda err, msg: reports.append(err))
            assert producer.flush(20) == 0
        assert reports[0].code() == confluent.KafkaError.MSG_SIZE_TOO_LARGE
        assert reports[1] is None
        assert broker.end_offsets([("t", 0)]) == {("t", 0): 1}


def test_records_age_by_the_timestamps_clients_give_them():
    confluent = pytest.importorskip("confluent_kafka",
                                    reason="needs confluent-kafka (the interop extra)")
    admin_module = pytest.importorskip("confluent_kafka.admin",
                                       reason="needs confluent-kafka (the interop extra)")
    day = 86_400_000
    with Broker(timestamp_clock=lambda: 100 * day) as broker, \
            broker.serve_kafka() as listener:
        broker.create_topic("t", configs={"retention.ms": str(day)})
        producer = confluent.Producer({"bootstrap.servers": listener.bootstrap_servers,
                                       "linger.ms": 0})
        for value, timestamp in ((b"old", 90 * day), (b"recent", 100 * day - 1_000)):
            producer.produce("t", value, timestamp=timestamp)
            assert producer.flush(20) == 0  # one batch each
        consumer = confluent.Consumer({"bootstrap.servers": listener.bootstrap_servers,
                                       "group.id": "g", "auto.offset.reset": "earliest"})
        try:
            tp = confluent.TopicPartition("t", 0)
            assert consumer.get_watermark_offsets(tp, timeout=20, cached=False) == (1, 2)
            consumer.assign([tp])
            message = consumer.poll(20)
            assert (message.offset(), message.value(), message.timestamp()) == (
                1, b"recent", (confluent.TIMESTAMP_CREATE_TIME, 100 * day - 1_000))
            # Kafka's way to empty a topic: a retention of 0 deletes every past record.
            admin = admin_module.AdminClient({"bootstrap.servers": listener.bootstrap_servers})
            change = admin_module.ConfigResource("topic", "t", incremental_configs=[
                admin_module.ConfigEntry(
                    "retention.ms", "0",
                    incremental_operation=admin_module.AlterConfigOpType.SET)])
            admin.incremental_alter_configs([change])[change].result(timeout=20)
            assert consumer.get_watermark_offsets(tp, timeout=20, cached=False) == (2, 2)
        finally:
            consumer.close()


def test_a_topic_created_with_retention_bytes_keeps_that_much():
    kafka = pytest.importorskip("kafka", reason="needs kafka-python")
    kafka_admin = pytest.importorskip("kafka.admin", reason="needs kafka-python")
    with Broker() as broker, broker.serve_kafka() as listener:
        admin = kafka_admin.KafkaAdminClient(bootstrap_servers=listener.bootstrap_servers)
        producer = kafka.KafkaProducer(bootstrap_servers=listener.bootstrap_servers)
        consumer = kafka.KafkaConsumer(bootstrap_servers=listener.bootstrap_servers)
        try:
            admin.create_topics([kafka_admin.NewTopic(
                "t", 1, 1, topic_configs={"retention.bytes": "2500"})])
            for _ in range(5):
                producer.send("t", bytes(1000)).get(timeout=20)
            tp = kafka.TopicPartition("t", 0)
            # 3,000 bytes stay: without one more record, less than 2,500 would
            assert consumer.beginning_offsets([tp]) == {tp: 2}
            assert consumer.end_offsets([tp]) == {tp: 5}
            described = admin.describe_configs([kafka_admin.ConfigResource("TOPIC", "t")])
            assert described["topic"]["t"]["retention.bytes"]["value"] == "2500"
        finally:
            consumer.close()
            producer.close()
            admin.close()


def test_kafka_4_topic_configs_reach_the_broker_from_a_real_client():
    admin_module = pytest.importorskip("confluent_kafka.admin",
                                       reason="needs confluent-kafka (the interop extra)")
    from confluent_kafka import KafkaException

    with Broker() as broker, broker.serve_kafka() as listener:
        admin = admin_module.AdminClient({"bootstrap.servers": listener.bootstrap_servers})
        configs = {"compression.type": "gzip", "compression.gzip.level": "9",
                   "min.compaction.lag.ms": "1000", "local.retention.ms": "-2"}
        new = admin_module.NewTopic("t", 1, 1, config=configs)
        admin.create_topics([new])["t"].result(timeout=20)
        assert {e.name: e.value for e in broker.describe_topic_configs("t")
                if e.name in configs} == configs
        tiered = admin_module.NewTopic("tiered", 1, 1, config={"remote.storage.enable": "true"})
        with pytest.raises(KafkaException, match="Tiered Storage functionality is disabled"):
            admin.create_topics([tiered])["tiered"].result(timeout=20)
        assert "tiered" not in broker.list_topics()
