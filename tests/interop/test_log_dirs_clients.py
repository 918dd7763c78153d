"""DescribeLogDirs and AlterReplicaLogDirs from a real admin client (kafka-python 3's
``describe_log_dirs`` and ``alter_replica_log_dirs``; neither confluent-kafka nor kcat has
them): the same answers as pcmodel's admin client, on a lone broker and on a cluster's Kafka
listeners, and raw requests at every version."""

from __future__ import annotations

import kafka.errors as kafka_errors
import pytest
from kafka import TopicPartitionReplica
from kafka.admin import KafkaAdminClient
from kafka.protocol.admin.cluster import AlterReplicaLogDirsRequest, DescribeLogDirsRequest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker
from pcmodel.topics import KafkaAdminClient as PcmodelAdminClient
from tests.conftest import wait_until
from tests.wire.conftest import RawClient

FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)
_Topic = DescribeLogDirsRequest.DescribableLogDirTopic


def both_admin_clients(broker, bootstrap, *args):
    theirs = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        with PcmodelAdminClient(broker=broker) as ours:
            return ours.describe_log_dirs(*args), theirs.describe_log_dirs(*args)
    finally:
        theirs.close()


@pytest.mark.timeout(60)
def test_kafka_python_and_pcmodel_agree_on_a_lone_broker():
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 2)
        broker.append("t", 1, [(None, b"hello")])
        for args in [(), ({"t": [1]},), (["t"],)]:
            ours, theirs = both_admin_clients(broker, listener.bootstrap_servers, *args)
            assert ours == theirs
        assert theirs[0]["log_dirs"][0]["topics"][0]["partitions"][1]["partition_size"] == 5


@pytest.mark.timeout(60)
def test_kafka_python_and_pcmodel_agree_on_a_cluster():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 3, replication_factor=2)
        connection = cluster.connect()
        for p in range(3):
            connection.append("t", p, [(None, b"x" * (p + 1))], acks="all")
        wait_until(lambda: all(
            info.size == tp.partition + 1 for b in range(3)
            for tp, info in cluster.describe_log_dirs(b)[0].replicas.items()
            if tp.topic == "t"), timeout=30)
        ours, theirs = both_admin_clients(cluster, listeners.bootstrap_servers, ["t"])
    assert ours == theirs
    assert sorted(entry["broker"] for entry in theirs) == [0, 1, 2]
    hosted = sorted((entry["broker"], p["partition_index"], p["partition_size"])
                    for entry in theirs for d in entry["log_dirs"] for t in d["topics"]
                    for p in t["partitions"])
    assert len(hosted) == 6  # three partitions, two replicas each


@pytest.mark.timeout(30)
@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
def test_raw_requests_at_every_version(version):
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        broker.append("t", 0, [(None, b"abc")])
        with RawClient(listener.address) as raw:
            everything = raw.request(DescribeLogDirsRequest[version](topics=None))
            named = raw.request(DescribeLogDirsRequest[version](topics=[
                _Topic(topic="t", partitions=[0, -1, 3]), _Topic(topic="bad name!",
                                                                 partitions=[0]),
                _Topic(topic="nope", partitions=[0]), _Topic(topic="", partitions=[0])]))
    for response in (everything, named):  # the others are left out, as Kafka leaves them
        (result,) = response.results
        assert (result.error_code, result.log_dir) == (0, "(memory)")
        assert [(t.name, [(p.partition_index, p.partition_size, p.offset_lag,
                           p.is_future_key) for p in t.partitions]) for t in result.topics] == [
            ("t", [(0, 3, 0, False)])]
        if version >= 3:
            assert response.error_code == 0
        if version >= 4:
            assert (result.total_bytes, result.usable_bytes) == (-1, -1)
        if version >= 5:
            assert result.is_cordoned is False


@pytest.mark.timeout(60)
def test_kafka_python_moves_replicas_where_they_already_are_and_nowhere_else():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=2)
        hosts = cluster.metadata()[("t", 0)].replicas
        outsider = next(b for b in range(3) if b not in hosts)
        admin = KafkaAdminClient(bootstrap_servers=listeners.bootstrap_servers)
        try:
            answers = admin.alter_replica_log_dirs(
                {TopicPartitionReplica("t", 0, b): "(memory)" for b in range(3)}
                | {TopicPartitionReplica("t", 1, hosts[0]): "/var/lib/kafka"})
        finally:
            admin.close()
    assert {b: answers[TopicPartitionReplica("t", 0, b)] for b in range(3)} == {
        hosts[0]: kafka_errors.NoError, hosts[1]: kafka_errors.NoError,
        outsider: kafka_errors.ReplicaNotAvailableError}
    assert answers[TopicPartitionReplica("t", 1, hosts[0])] is kafka_errors.LogDirNotFoundError


_Dir = AlterReplicaLogDirsRequest.AlterReplicaLogDir


@pytest.mark.timeout(30)
@pytest.mark.parametrize("version", [1, 2])
def test_raw_moves_of_partitions_no_broker_can_have(version):
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        with RawClient(listener.address) as raw:
            response = raw.request(AlterReplicaLogDirsRequest[version](dirs=[
                _Dir(path="(memory)", topics=[_Dir.AlterReplicaLogDirTopic(
                    name="t", partitions=[0, -1]), _Dir.AlterReplicaLogDirTopic(
                    name="bad name!", partitions=[0])]),
                _Dir(path="/data", topics=[_Dir.AlterReplicaLogDirTopic(
                    name="", partitions=[0])])]))
    assert [(r.topic_name, [(p.partition_index, p.error_code) for p in r.partitions])
            for r in response.results] == [
        ("t", [(0, 0), (-1, 3)]), ("bad name!", [(0, 3)]), ("", [(0, 57)])]
