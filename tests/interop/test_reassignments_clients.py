"""Replicas placed by hand from real admin clients: partition reassignments (kafka-python 3's
``alter_partition_reassignments`` and ``list_partition_reassignments``; confluent-kafka and
kcat have no reassignment call) and raw AlterPartitionReassignments /
ListPartitionReassignments requests at every version; topics and partitions created with a
replica assignment (confluent-kafka's ``NewTopic(replica_assignment=...)``, kafka-python's
``NewPartitions(new_assignments=...)``), on a cluster's Kafka listeners."""

from __future__ import annotations

import pytest
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import KafkaAdminClient
from kafka.protocol.admin import (
    AlterPartitionReassignmentsRequest,
    ListPartitionReassignmentsRequest,
)

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker
from pcmodel.topics.structs import TopicPartition
from tests.conftest import wait_until
from tests.wire.conftest import RawClient

FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)
NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICATION_FACTOR = 0, 3, 38
INVALID_REPLICA_ASSIGNMENT, NO_REASSIGNMENT_IN_PROGRESS = 39, 85
TP = TopicPartition("t", 0)

_Topic = AlterPartitionReassignmentsRequest.ReassignableTopic
_Partition = _Topic.ReassignablePartition


@pytest.mark.timeout(60)
def test_kafka_python_moves_replicas_on_a_cluster():
    with Cluster(4, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=2)
        old = list(cluster.metadata()[TP].replicas)
        new = [b for b in range(4) if b not in old]
        wait_until(lambda: cluster.isr("t", 0) == set(old), timeout=30)
        cluster.kill(new[1])  # the move waits for it
        # Until its session expires the dead broker is listed, and a client may try it first.
        wait_until(lambda: new[1] not in cluster.live_brokers(), timeout=30)
        admin = KafkaAdminClient(bootstrap_servers=listeners.bootstrap_servers)
        try:
            kafka_tp = KafkaTopicPartition("t", 0)
            answer = admin.alter_partition_reassignments({kafka_tp: new})
            assert answer == {kafka_tp: None}
            assert admin.list_partition_reassignments() == {kafka_tp: {
                "replicas": new + sorted(old), "adding_replicas": new,
                "removing_replicas": sorted(old)}}
            refused = admin.alter_partition_reassignments(
                {KafkaTopicPartition("t", 5): [0], KafkaTopicPartition("nope", 0): None})
            assert {tp.partition: error.errno for tp, error in refused.items()} == {
                5: UNKNOWN_TOPIC_OR_PARTITION, 0: UNKNOWN_TOPIC_OR_PARTITION}
            cluster.restart(new[1])
            wait_until(lambda: cluster.metadata()[TP].replicas == tuple(new), timeout=30)
            assert admin.list_partition_reassignments() == {}
            cancelled = admin.alter_partition_reassignments({kafka_tp: None})
            assert cancelled[kafka_tp].errno == NO_REASSIGNMENT_IN_PROGRESS
        finally:
            admin.close()
        assert cluster.leader("t", 0) == new[0]


def alter(raw, version, partitions, allow=True):
    fields = {"allow_replication_factor_change": allow} if version >= 1 else {}
    response = raw.request(AlterPartitionReassignmentsRequest[version](
        timeout_ms=1000, topics=[_Topic(name="t", partitions=partitions)], **fields))
    assert (response.error_code, response.error_message) == (NONE, None)
    return [(p.partition_index, p.error_code) for t in response.responses for p in t.partitions]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("version", [0, 1])
def test_alter_partition_reassignments_at_every_version_on_a_lone_broker(version):
    with Broker() as broker, broker.serve_kafka(node_id=4) as listener:
        broker.create_topic("t", 1)
        with RawClient(listener.address) as raw:
            assert alter(raw, version, [
                _Partition(partition_index=0, replicas=[4]),
                _Partition(partition_index=-1, replicas=[4]),
                _Partition(partition_index=3, replicas=None),
            ]) == [(0, NONE), (-1, UNKNOWN_TOPIC_OR_PARTITION), (3, UNKNOWN_TOPIC_OR_PARTITION)]
            assert alter(raw, version, [_Partition(partition_index=0, replicas=[0])]) == [
                (0, INVALID_REPLICA_ASSIGNMENT)]
            assert alter(raw, version, [_Partition(partition_index=0, replicas=None)]) == [
                (0, NO_REASSIGNMENT_IN_PROGRESS)]
            listed = raw.request(ListPartitionReassignmentsRequest[0](timeout_ms=1000,
                                                                      topics=None))
            assert (listed.error_code, listed.topics) == (NONE, [])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", [0, 1])
def test_raw_reassignments_on_a_cluster(version):
    with Cluster(4, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 2, replication_factor=2)
        old = list(cluster.metadata()[TP].replicas)
        new = [b for b in range(4) if b not in old]
        cluster.kill(new[0])  # the move waits for it
        with RawClient(listeners.addresses[old[0]]) as raw:
            if version >= 1:  # KIP-860: the factor may be kept
                assert alter(raw, 1, [_Partition(partition_index=0, replicas=[0, 1, 2])],
                             allow=False) == [(0, INVALID_REPLICATION_FACTOR)]
            assert alter(raw, version, [_Partition(partition_index=0, replicas=new),
                                        _Partition(partition_index=1, replicas=[1, 1])]) == [
                (0, NONE), (1, INVALID_REPLICA_ASSIGNMENT)]
            Topics = ListPartitionReassignmentsRequest.ListPartitionReassignmentsTopics
            for topics in (None, [Topics(name="t", partition_indexes=[0, 1, -1]),
                                  Topics(name="nope", partition_indexes=[0])]):
                listed = raw.request(ListPartitionReassignmentsRequest[0](
                    timeout_ms=1000, topics=topics))
                moving = [(t.name, p.partition_index, p.replicas, p.adding_replicas,
                           p.removing_replicas) for t in listed.topics for p in t.partitions]
                assert moving == [("t", 0, new + sorted(old), new, sorted(old))]


@pytest.mark.timeout(60)
def test_confluent_and_kafka_python_place_replicas_by_hand_on_a_cluster():
    confluent_admin = pytest.importorskip("confluent_kafka.admin")
    from kafka.admin import NewPartitions

    with Cluster(4, **FAST) as cluster, cluster.serve_kafka() as listeners:
        admin = confluent_admin.AdminClient({"bootstrap.servers": listeners.bootstrap_servers})
        futures = admin.create_topics([
            confluent_admin.NewTopic("placed", 2, replica_assignment=[[3, 1], [2, 0]]),
            confluent_admin.NewTopic("nowhere", 1, replica_assignment=[[1, 9]])])
        futures["placed"].result(timeout=30)
        with pytest.raises(Exception, match="no such broker is registered"):
            futures["nowhere"].result(timeout=30)
        assert [cluster.metadata()[TopicPartition("placed", p)].replicas for p in (0, 1)] == [
            (3, 1), (2, 0)]
        kafka_admin = KafkaAdminClient(bootstrap_servers=listeners.bootstrap_servers)
        try:
            kafka_admin.create_partitions({"placed": NewPartitions(3, [[1, 2]])})
            refused = kafka_admin.create_partitions(
                {"placed": NewPartitions(5, [[0, 3]])}, raise_errors=False)
        finally:
            kafka_admin.close()
        assert cluster.metadata()[TopicPartition("placed", 2)].replicas == (1, 2)
        assert [(r.error_code, r.error_message) for r in refused.results] == [
            (INVALID_REPLICA_ASSIGNMENT, "Attempted to add 2 additional partition(s), but only 1 "
                                         "assignment(s) were specified.")]
