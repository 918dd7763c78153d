"""AlterPartitionReassignments answers a partition that is not there, and a cancellation with
nothing in progress, with Kafka's codes and in the words of Kafka's controller
(``ReplicationControlManager.alterPartitionReassignment``), on a lone broker and a cluster."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import AlterPartitionReassignmentsRequest

from tests.wire.conftest import RawClient

pytestmark = pytest.mark.timeout(60)

UNKNOWN_TOPIC_OR_PARTITION, NO_REASSIGNMENT_IN_PROGRESS = 3, 85
Topic = AlterPartitionReassignmentsRequest.ReassignableTopic
Partition = Topic.ReassignablePartition


def alter(raw, topics):
    request = AlterPartitionReassignmentsRequest[0](timeout_ms=5000, topics=[
        Topic(name=name, partitions=[Partition(partition_index=p, replicas=replicas)
                                     for p, replicas in partitions])
        for name, partitions in topics])
    return [(topic.name, p.partition_index, p.error_code, p.error_message)
            for topic in raw.request(request).responses for p in topic.partitions]


EXPECTED = [
    ("nope", 0, UNKNOWN_TOPIC_OR_PARTITION, "Unable to find a topic named nope."),
    ("t", 5, UNKNOWN_TOPIC_OR_PARTITION, "Unable to find partition t:5."),
    ("t", -1, UNKNOWN_TOPIC_OR_PARTITION, "Unable to find partition t:-1."),
    ("t", 0, NO_REASSIGNMENT_IN_PROGRESS, "No partition reassignment is in progress."),
]
ASKED = [("nope", [(0, [0])]), ("t", [(5, None), (-1, [0]), (0, None)])]


def test_a_lone_broker_answers_in_kafkas_words(broker, raw):
    broker.create_topic("t", 1)
    assert alter(raw, ASKED) == EXPECTED


def test_a_cluster_answers_in_kafkas_words(served):
    _, listeners = served  # topic "t" has partitions 0 and 1
    with RawClient(listeners.addresses[1]) as raw:
        assert alter(raw, ASKED) == EXPECTED


def test_a_clusters_election_for_a_partition_not_there_is_answered_in_kafkas_words(served):
    from kafka.protocol.admin import ElectLeadersRequest

    _, listeners = served  # topic "t" has partitions 0 and 1
    Topic = ElectLeadersRequest.TopicPartitions  # noqa: N806
    with RawClient(listeners.addresses[0]) as raw:
        answer = raw.request(ElectLeadersRequest[1](election_type=0, timeout_ms=5000,
                                                    topic_partitions=[
            Topic(topic="t", partitions=[5]), Topic(topic="nope", partitions=[0])]))
    assert [(r.topic, p.partition_id, p.error_code, p.error_message)
            for r in answer.replica_election_results for p in r.partition_result] == [
        ("t", 5, UNKNOWN_TOPIC_OR_PARTITION, "No such partition as t-5"),
        ("nope", 0, UNKNOWN_TOPIC_OR_PARTITION, "No such topic as nope")]
