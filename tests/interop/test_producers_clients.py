"""DescribeProducers from a real admin client (kafka-python 3's ``describe_producers``; neither
confluent-kafka nor kcat has one) about producers of both libraries, on a lone broker and on a
cluster's Kafka listeners, and raw requests with partitions no broker has."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer as KafkaPythonProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import NotLeaderForPartitionError
from kafka.protocol.admin.transactions import DescribeProducersRequest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker
from pcmodel.topics.log_records import wall_clock_ms
from tests.conftest import wait_until
from tests.wire.conftest import RawClient

confluent_kafka = pytest.importorskip("confluent_kafka")

FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)
NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION = 0, 3, 17
NOT_LEADER_OR_FOLLOWER = 6
#: Record timestamps count from here: recent, so no producer expires during a test (a day;
#: a cluster's brokers check at once when they start).
NOW = wall_clock_ms()


def produce_with_kafka_python(bootstrap, count):
    producer = KafkaPythonProducer(bootstrap_servers=bootstrap, enable_idempotence=True,
                                   acks="all")
    try:
        for i in range(count):
            producer.send("t", b"k", partition=0, timestamp_ms=NOW + 1_000 + i).get(timeout=30)
    finally:
        producer.close()


def produce_with_confluent_kafka(bootstrap, count):
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap,
                                         "enable.idempotence": True})
    for i in range(count):
        producer.produce("t", b"c", partition=0, timestamp=NOW + 5_000 + i)
    assert producer.flush(30) == 0


@pytest.mark.timeout(60)
def test_kafka_python_describes_the_producers_of_both_libraries_on_a_lone_broker():
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        produce_with_kafka_python(listener.bootstrap_servers, 3)
        produce_with_confluent_kafka(listener.bootstrap_servers, 2)
        admin = KafkaAdminClient(bootstrap_servers=listener.bootstrap_servers)
        try:
            tp = KafkaTopicPartition("t", 0)
            described = admin.describe_producers([tp])[tp].active_producers
        finally:
            admin.close()
    assert [(p.producer_epoch, p.last_sequence, p.last_timestamp) for p in described] == [
        (0, 2, NOW + 1_002), (0, 1, NOW + 5_001)]
    assert described[0].producer_id < described[1].producer_id
    assert {(p.coordinator_epoch, p.current_transaction_start_offset) for p in described} == {
        (-1, -1)}


@pytest.mark.timeout(60)
def test_every_replica_answers_on_a_cluster_and_other_brokers_refuse():
    with Cluster(4, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=3)
        replicas = cluster.metadata()[("t", 0)].replicas
        outsider = next(b for b in range(4) if b not in replicas)
        produce_with_kafka_python(listeners.bootstrap_servers, 4)
        wait_until(lambda: all(
            cluster.describe_producers(b, "t", 0) for b in replicas), timeout=30)
        admin = KafkaAdminClient(bootstrap_servers=listeners.bootstrap_servers)
        try:
            tp = KafkaTopicPartition("t", 0)
            answers = {b: admin.describe_producers([tp], broker_id=b)[tp].active_producers
                       for b in replicas}
            assert admin.describe_producers([tp])[tp].active_producers == answers[replicas[0]]
            with pytest.raises(NotLeaderForPartitionError):
                admin.describe_producers([tp], broker_id=outsider)
        finally:
            admin.close()
    assert {tuple((p.producer_epoch, p.last_sequence, p.last_timestamp) for p in found)
            for found in answers.values()} == {((0, 3, NOW + 1_003),)}


_Topic = DescribeProducersRequest.TopicRequest


@pytest.mark.timeout(30)
def test_raw_requests_name_partitions_no_broker_has():
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        pid, epoch = broker.init_producer_id()
        broker.append_idempotent("t", 0, [(None, b"v", (), 9)], producer_id=pid,
                                 producer_epoch=epoch, first_sequence=0)
        with RawClient(listener.address) as raw:
            response = raw.request(DescribeProducersRequest[0](topics=[
                _Topic(name="t", partition_indexes=[0, -1, 4, 0]),
                _Topic(name="bad name!", partition_indexes=[0]),
                _Topic(name="nope", partition_indexes=[0]),
                _Topic(name="t", partition_indexes=[0])]))
    answers = [(t.name, p.partition_index, p.error_code, p.error_message is None,
                [(a.producer_id, a.last_sequence, a.last_timestamp) for a in p.active_producers])
               for t in response.topics for p in t.partitions]
    # In the order asked: a partition named twice is answered twice, a topic named twice
    # gets two entries, as Kafka answers them.
    assert answers == [
        ("t", 0, NONE, True, [(pid, 0, 9)]),
        ("t", -1, UNKNOWN_TOPIC_OR_PARTITION, False, []),
        ("t", 4, UNKNOWN_TOPIC_OR_PARTITION, False, []),
        ("t", 0, NONE, True, [(pid, 0, 9)]),
        ("bad name!", 0, INVALID_TOPIC_EXCEPTION, False, []),
        ("nope", 0, UNKNOWN_TOPIC_OR_PARTITION, False, []),
        ("t", 0, NONE, True, [(pid, 0, 9)]),
    ]
    assert [t.name for t in response.topics] == ["t", "bad name!", "nope", "t"]


@pytest.mark.timeout(60)
def test_a_cluster_broker_answers_not_leader_or_follower_for_a_partition_it_lacks():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=1)
        outsider = next(b for b in range(3) if b != cluster.leader("t", 0))
        with RawClient(listeners.addresses[outsider]) as raw:
            response = raw.request(DescribeProducersRequest[0](topics=[
                _Topic(name="t", partition_indexes=[0, 1])]))
    assert [(p.partition_index, p.error_code) for p in response.topics[0].partitions] == [
        (0, NOT_LEADER_OR_FOLLOWER), (1, UNKNOWN_TOPIC_OR_PARTITION)]
