"""ElectLeaders on a lone broker's Kafka listener: every partition has one replica, which leads
it, so each partition named is answered as Kafka's controller answers it
(``ReplicationControlManager.electLeader``), with its messages: ELECTION_NOT_NEEDED, or
UNKNOWN_TOPIC_OR_PARTITION naming the missing topic or partition."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import ElectLeadersRequest

pytestmark = pytest.mark.timeout(30)

UNKNOWN_TOPIC_OR_PARTITION, ELECTION_NOT_NEEDED = 3, 84
PREFERRED = 0


def test_each_partition_is_answered_with_kafkas_message(broker, raw):
    broker.create_topic("t", 1)
    Topic = ElectLeadersRequest.TopicPartitions  # noqa: N806
    answer = raw.request(ElectLeadersRequest[2](
        election_type=PREFERRED, timeout_ms=5000, topic_partitions=[
            Topic(topic="t", partitions=[0, 3, -1]), Topic(topic="nope", partitions=[0])]))
    assert [(r.topic, p.partition_id, p.error_code, p.error_message)
            for r in answer.replica_election_results for p in r.partition_result] == [
        ("t", 0, ELECTION_NOT_NEEDED, "Leader election not needed for topic partition."),
        ("t", 3, UNKNOWN_TOPIC_OR_PARTITION, "No such partition as t-3"),
        ("t", -1, UNKNOWN_TOPIC_OR_PARTITION, "No such partition as t--1"),
        ("nope", 0, UNKNOWN_TOPIC_OR_PARTITION, "No such topic as nope")]
