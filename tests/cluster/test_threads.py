"""The cluster in real time on threads: the same rules, driven by each broker's own thread."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster, NotEnoughReplicasError
from pcmodel.topics.errors import IllegalArgumentError, UnknownTopicOrPartitionError
from pcmodel.topics.structs import TopicPartition
from tests.conftest import wait_until

TP = TopicPartition("t", 0)


def test_threaded_cluster_survives_the_loss_of_its_leader():
    # Timeouts generous enough that a loaded machine does not fence a live broker.
    with Cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                 tick_ms=10) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
        first = cluster.produce("t", 0, [(None, b"a")], acks="all").get(timeout=10)
        assert first.base_offset == 0
        old = cluster.leader("t", 0)
        cluster.kill(old)
        wait_until(lambda: cluster.leader("t", 0) not in (None, old), timeout=30)
        assert cluster.produce("t", 0, [(None, b"b")], acks="all").get(timeout=20).broker != old
        cluster.restart(old)
        wait_until(lambda: cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
        wait_until(lambda: [r.value for r in cluster.log(old, "t", 0)] == [b"a", b"b"],
                   timeout=30)


def test_threaded_cluster_refuses_acks_all_without_enough_replicas():
    with Cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                 tick_ms=10) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=3)
        leader = cluster.leader("t", 0)
        cluster.kill((leader + 1) % 3)
        wait_until(lambda: len(cluster.isr("t", 0)) == 2, timeout=30)
        with pytest.raises(NotEnoughReplicasError):
            cluster.produce("t", 0, [(None, b"x")], acks="all").get(timeout=10)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"replication_factor": 4}, "replication_factor"),
        ({"replication_factor": 2, "min_insync_replicas": 0}, "min_insync_replicas"),
    ],
)
def test_bad_topic_settings_get_one_clear_error(settings, message):
    with Cluster(3, mode="steps") as cluster:
        with pytest.raises(IllegalArgumentError, match=message):
            cluster.create_topic("t", **settings)
        assert cluster.metadata() == {}


def test_bad_cluster_settings_and_acks():
    with pytest.raises(IllegalArgumentError, match="mode"):
        Cluster(3, mode="fibers")
    with pytest.raises(IllegalArgumentError, match="brokers"):
        Cluster(0)
    with Cluster(1, mode="steps") as cluster:
        cluster.create_topic("t")
        with pytest.raises(IllegalArgumentError, match="acks"):
            cluster.produce("t", 0, [(None, b"x")], acks=2)
        with pytest.raises(IllegalArgumentError, match="broker"):
            cluster.kill(5)
        with pytest.raises(IllegalArgumentError, match="seconds"):
            cluster.slow(0, "fast")
        with pytest.raises(UnknownTopicOrPartitionError):
            cluster.produce("nope", 0, [(None, b"x")]).get(timeout=1)
