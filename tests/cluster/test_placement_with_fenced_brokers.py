"""Where the controller places new replicas while some brokers are down, as Kafka's does.

Kafka's ``StripedReplicaPlacer`` takes unfenced brokers first and fenced ones only when the
others are too few for the replication factor, and never makes a fenced broker a partition's
first replica (its preferred leader). So a topic created while a broker is down is fully in
sync from birth whenever enough brokers are up, and each partition is led by its preferred
replica. With every broker fenced there is no leader to give a new partition: Kafka's
CreatePartitions answers INVALID_REPLICATION_FACTOR, "All brokers are currently fenced.",
also when it only validates.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster.controller import place_replicas
from pcmodel.topics.admin import KafkaAdminClient, NewPartitions
from pcmodel.topics.errors import (
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
)
from pcmodel.topics.structs import TopicPartition


def partitions_of(cluster, topic):
    return [state for tp, state in sorted(cluster.metadata().items()) if tp.topic == topic]


def test_with_enough_live_brokers_no_replica_goes_to_a_dead_one(make_cluster):
    cluster = make_cluster(4)
    cluster.kill(3)
    cluster.run_for(3)  # its session expires: fenced
    cluster.create_topic("t", 4, replication_factor=3)
    states = partitions_of(cluster, "t")
    assert all(3 not in s.replicas for s in states)
    assert [s.replicas[0] for s in states] == [0, 1, 2, 0]  # the preferred leaders rotate
    assert all(s.leader == s.replicas[0] and s.isr == set(s.replicas) for s in states)


def test_a_dead_broker_is_used_last_and_never_as_preferred_leader(make_cluster):
    cluster = make_cluster(3)
    cluster.kill(2)
    cluster.run_for(3)
    cluster.create_topic("t", 3, replication_factor=3)  # three replicas need broker 2 too
    states = partitions_of(cluster, "t")
    assert [s.replicas[-1] for s in states] == [2, 2, 2]
    assert all(s.leader == s.replicas[0] != 2 for s in states)


def test_new_partitions_avoid_a_dead_broker(make_cluster):
    cluster = make_cluster(4)
    cluster.create_topic("t", 1, replication_factor=2)
    cluster.kill(2)
    cluster.run_for(3)
    cluster.add_partitions("t", 4)
    added = [cluster.metadata()[TopicPartition("t", p)] for p in (1, 2, 3)]
    assert all(2 not in s.replicas and s.leader == s.replicas[0] for s in added)


def test_new_partitions_are_refused_while_every_broker_is_fenced(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=2)
    admin = cluster.connect()
    for broker in range(3):
        cluster.kill(broker)
    cluster.run_for(3)  # every session expires
    assert cluster.live_brokers() == frozenset()
    with pytest.raises(InvalidReplicationFactorError) as refused:
        admin.add_partitions("t", 3)
    assert refused.value.errno == 38
    assert str(refused.value).endswith(": All brokers are currently fenced.")
    assert [tp for tp in cluster.metadata() if tp.topic == "t"] == [TopicPartition("t", 0)]


def test_validate_only_new_partitions_are_refused_as_the_real_ones(make_cluster):
    # Kafka's controller validates CreatePartitions by running it and dropping the records:
    # with every broker fenced the dry run is INVALID_REPLICATION_FACTOR too, and a manual
    # assignment on fenced brokers only is refused as the real request would be.
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=2)
    admin = KafkaAdminClient(broker=cluster.connect())
    admin.create_partitions({"t": NewPartitions(2)}, validate_only=True)  # a live cluster
    for broker in range(3):
        cluster.kill(broker)
    cluster.run_for(3)
    assert cluster.live_brokers() == frozenset()
    with pytest.raises(InvalidReplicationFactorError) as refused:
        admin.create_partitions({"t": NewPartitions(3)}, validate_only=True)
    assert refused.value.errno == 38
    assert str(refused.value).endswith(": All brokers are currently fenced.")
    with pytest.raises(InvalidReplicationAssignmentError, match="are fenced or in"):
        admin.create_partitions({"t": NewPartitions(2, new_assignments=[[0, 1]])},
                                validate_only=True)
    assert [tp for tp in cluster.metadata() if tp.topic == "t"] == [TopicPartition("t", 0)]


def test_with_every_broker_up_the_rotation_is_unchanged():
    assert place_replicas([0, 1, 2], 3, 2, 1) == [(1, 2), (2, 0), (0, 1)]
    assert place_replicas([0, 1, 2], 2, 3, 0, fenced={1}) == [(0, 2, 1), (2, 0, 1)]
    assert place_replicas([0, 1], 2, 2, 0, fenced={0, 1}) == [(0, 1), (1, 0)]
