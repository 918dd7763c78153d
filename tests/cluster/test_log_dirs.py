"""DescribeLogDirs on a cluster: each broker lists the replicas it hosts, with the bytes each
retains (a follower's as the leader's once it has copied them); a broker process's log
directory is the directory of its journals, on a volume with its size."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import KafkaAdminClient
from pcmodel.topics.broker_log_dirs import IN_MEMORY
from pcmodel.topics.errors import (
    IllegalArgumentError,
    KafkaConnectionError,
    LogDirNotFoundError,
    ReplicaNotAvailableError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import ReplicaInfo, TopicPartition
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


def replicas(cluster, broker, partitions=None):
    (described,) = cluster.describe_log_dirs(broker, partitions)
    return described.replicas


def test_each_broker_lists_the_replicas_it_hosts_and_followers_catch_up(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 2, replication_factor=2)
    hosts = {tp: set(st.replicas) for tp, st in cluster.metadata().items() if tp.topic == "t"}
    leader = cluster.leader("t", 0)
    follower = next(b for b in hosts[T0] if b != leader)
    cluster.produce("t", 0, [(None, b"abcdef")], acks=1).get(timeout=1)
    assert replicas(cluster, leader, [T0]) == {T0: ReplicaInfo(6)}
    assert replicas(cluster, follower, [T0]) == {T0: ReplicaInfo(0)}  # not fetched yet
    cluster.step()
    assert replicas(cluster, follower, [T0]) == {T0: ReplicaInfo(6)}
    for broker in range(3):
        (described,) = cluster.describe_log_dirs(broker)
        assert described.path == IN_MEMORY and described.total_bytes == -1
        assert set(described.replicas) == {tp for tp, on in hosts.items() if broker in on}


def test_deleted_records_leave_every_replica(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=3)
    cluster.produce("t", 0, [(None, b"1234")] * 3, acks="all")
    cluster.settle()
    assert {replicas(cluster, b)[T0].size for b in range(3)} == {12}
    connection = cluster.connect()
    connection.delete_records({T0: 2}, timeout=5)
    cluster.settle()
    assert {replicas(cluster, b)[T0].size for b in range(3)} == {4}


def test_a_dead_broker_and_an_unknown_one_are_refused(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=3)
    cluster.kill(1)
    with pytest.raises(KafkaConnectionError, match="down"):
        cluster.describe_log_dirs(1)
    with KafkaAdminClient(broker=cluster) as admin:
        with pytest.raises(KafkaConnectionError):  # still listed: its session has not expired
            admin.describe_log_dirs()
        cluster.run_for(2)
        assert [entry["broker"] for entry in admin.describe_log_dirs()] == [0, 2]
        with pytest.raises(KafkaConnectionError):
            admin.describe_log_dirs(brokers=[1])
        for bad in (7, True):
            with pytest.raises(IllegalArgumentError, match=re.escape(
                    f"broker {bad!r} is not a broker here; the brokers are [0, 1, 2]")):
                admin.describe_log_dirs(brokers=[bad])
    with pytest.raises(IllegalArgumentError, match="not a broker of this cluster"):
        connection = cluster.connect()
        connection.describe_log_dirs([T0])  # a cluster has several brokers: name one


@pytest.mark.timeout(120)
def test_a_broker_process_keeps_its_logs_in_its_journal_directory():
    with Cluster(2, mode="processes", replica_lag_time_max_ms=1000,
                 broker_session_timeout_ms=1000, tick_ms=10) as cluster:
        cluster.create_topic("t", 1, replication_factor=2)
        cluster.produce("t", 0, [(None, b"abc")], acks="all").get(timeout=30)
        wait_until(lambda: all(replicas(cluster, b) == {T0: ReplicaInfo(3)} for b in (0, 1)),
                   timeout=30)
        for broker in (0, 1):
            (described,) = cluster.describe_log_dirs(broker)
            journals = Path(described.path)
            assert journals.is_dir() and (journals / "t-0.journal").is_file()
            assert described.total_bytes >= described.usable_bytes > 0
        assert cluster.describe_log_dirs(0)[0].path != cluster.describe_log_dirs(1)[0].path
        with pytest.raises(TypeError, match=re.escape(
                "partitions must be a list of TopicPartition, not the dict {")):
            cluster.describe_log_dirs(0, {T0: 1})  # not walked as its keys
        own, other = cluster.describe_log_dirs(0)[0].path, cluster.describe_log_dirs(1)[0].path
        moved = cluster.alter_replica_log_dirs(0, {T0: own, T1: own})
        assert moved[T0] is None and isinstance(moved[T1], UnknownTopicOrPartitionError)
        assert isinstance(cluster.alter_replica_log_dirs(0, {T0: other})[T0],
                          LogDirNotFoundError)  # another broker's directory is not its own


def test_a_cluster_broker_answers_moves_for_its_own_replicas(make_cluster):
    cluster = make_cluster(4)
    cluster.create_topic("t", 1, replication_factor=2)
    hosts = cluster.metadata()[T0].replicas
    outsider = next(b for b in range(4) if b not in hosts)
    assert cluster.alter_replica_log_dirs(hosts[0], {T0: IN_MEMORY}) == {T0: None}
    missing = cluster.alter_replica_log_dirs(outsider, {T0: IN_MEMORY, T1: IN_MEMORY})
    assert isinstance(missing[T0], ReplicaNotAvailableError)  # the partition exists
    assert isinstance(missing[T1], UnknownTopicOrPartitionError)
    elsewhere = cluster.alter_replica_log_dirs(hosts[1], {T0: "/data/kafka"})
    assert isinstance(elsewhere[T0], LogDirNotFoundError)
    with KafkaAdminClient(broker=cluster) as admin:
        answers = admin.alter_replica_log_dirs({("t", 0, b): IN_MEMORY for b in range(4)})
        assert [b for (_, _, b), error in sorted(answers.items()) if error is None] == \
            sorted(hosts)
        with pytest.raises(IllegalArgumentError, match="not a broker here"):
            admin.alter_replica_log_dirs({("t", 0, 9): IN_MEMORY})

