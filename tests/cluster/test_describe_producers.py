"""DescribeProducers on a cluster: every replica, leader or follower, answers from its own log,
so what the leader remembers of an idempotent producer reaches the followers with the records
and survives the leader's death, and a broker restarted from its journal remembers it too."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.errors import NotLeaderForPartitionError
from pcmodel.topics import KafkaAdminClient
from pcmodel.topics.errors import (
    IllegalArgumentError,
    KafkaConnectionError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.log_records import wall_clock_ms
from pcmodel.topics.structs import ActiveProducer, TopicPartition
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)
#: Record timestamps count from here: recent, so no producer expires during a test (a day).
NOW = wall_clock_ms()


def batch(*timestamps):
    """Records stamped ``NOW + t`` for each ``t``."""
    return [(None, b"v", (), NOW + ts) for ts in timestamps]


def producers(cluster, broker):
    return cluster.describe_producers(broker, "t", 0)


def test_followers_know_a_producer_once_they_copied_its_batch(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    pid, epoch = cluster.init_producer_id()
    other, other_epoch = cluster.init_producer_id()
    leader = cluster.leader("t", 0)
    followers = [b for b in range(3) if b != leader]
    cluster.produce("t", 0, batch(4), acks=1, producer=(other, other_epoch, 0)).get(timeout=1)
    cluster.produce("t", 0, batch(10, 30, 20), acks=1, producer=(pid, epoch, 0)).get(timeout=1)
    expected = (ActiveProducer(pid, epoch, 2, NOW + 30),
                ActiveProducer(other, other_epoch, 0, NOW + 4))
    assert producers(cluster, leader) == expected
    assert [producers(cluster, b) for b in followers] == [(), ()]  # nothing fetched yet
    cluster.step()
    assert [producers(cluster, b) for b in followers] == [expected, expected]


def test_a_new_leader_remembers_what_the_old_one_did(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(5), acks="all", producer=(pid, epoch, 0))
    cluster.produce("t", 0, batch(7, 6), acks="all", producer=(pid, epoch, 1))
    cluster.run_for(0.5)
    old = cluster.leader("t", 0)
    cluster.kill(old)
    with pytest.raises(KafkaConnectionError, match="down"):
        producers(cluster, old)
    cluster.run_for(1.6)
    new = cluster.leader("t", 0)
    assert new != old
    assert producers(cluster, new) == (ActiveProducer(pid, epoch, 2, NOW + 7),)


def test_brokers_without_a_replica_and_partitions_the_cluster_lacks_are_refused(make_cluster):
    cluster = make_cluster(4)
    cluster.create_topic("t", replication_factor=3)
    outsider = next(b for b in range(4) if b not in cluster.metadata()[TP].replicas)
    with pytest.raises(NotLeaderForPartitionError, match="no replica"):
        producers(cluster, outsider)
    with pytest.raises(UnknownTopicOrPartitionError):
        cluster.describe_producers(0, "t", 3)
    with pytest.raises(UnknownTopicOrPartitionError):
        cluster.describe_producers(0, "nope", 0)
    with pytest.raises(IllegalArgumentError):
        cluster.describe_producers(9, "t", 0)


def test_the_admin_client_asks_the_leader_or_the_broker_named(make_cluster):
    cluster = make_cluster(4)
    cluster.create_topic("t", replication_factor=2)
    replicas = cluster.metadata()[TP].replicas
    outsider = next(b for b in range(4) if b not in replicas)
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(1), acks="all", producer=(pid, epoch, 0))
    cluster.run_for(0.5)
    admin = KafkaAdminClient(broker=cluster)
    try:
        expected = (ActiveProducer(pid, epoch, 0, NOW + 1),)
        assert admin.describe_producers([TP])[TP].active_producers == expected
        for broker in replicas:
            assert admin.describe_producers([TP], broker_id=broker)[TP].active_producers \
                == expected
        with pytest.raises(NotLeaderForPartitionError, match=f"broker {outsider}"):
            admin.describe_producers([TP], broker_id=outsider)
        with pytest.raises(UnknownTopicOrPartitionError):
            admin.describe_producers([TopicPartition("t", 1)])
        for bad in (7, True, "0"):
            with pytest.raises(IllegalArgumentError, match="not a broker of this cluster"):
                admin.describe_producers([TP], broker_id=bad)
    finally:
        admin.close()


@pytest.mark.timeout(120)
def test_a_broker_process_restarted_from_its_journal_remembers_its_producers():
    with Cluster(3, mode="processes", replica_lag_time_max_ms=1000,
                 broker_session_timeout_ms=1000, tick_ms=10) as cluster:
        cluster.create_topic("t", 1, replication_factor=3)
        pid, epoch = cluster.init_producer_id()
        cluster.produce("t", 0, batch(11, 12), acks="all",
                        producer=(pid, epoch, 0)).get(timeout=30)
        expected = (ActiveProducer(pid, epoch, 1, NOW + 12),)
        leader = cluster.leader("t", 0)
        follower = next(b for b in range(3) if b != leader)
        wait_until(lambda: producers(cluster, follower) == expected, timeout=30)
        for broker in (follower, leader):  # journaled as a copy, and as the leader's append
            cluster.kill(broker)
            cluster.restart(broker)
            assert producers(cluster, broker) == expected
        with pytest.raises(UnknownTopicOrPartitionError):  # the broker has the topic, not it
            cluster.describe_producers(follower, "t", 1)
