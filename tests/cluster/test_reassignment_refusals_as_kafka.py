"""A reassignment of a partition that is not there, a cancellation with nothing in progress and
one that would need an unclean election are refused in the words of Kafka's controller
(``ReplicationControlManager.alterPartitionReassignment`` and ``cancelPartitionReassignment``),
through pcmodel's admin client on a lone broker and on a cluster alike; so is an election for a
partition that is not there (``electLeader``)."""

from __future__ import annotations

import pytest

from pcmodel.cluster.controller import Controller, PartitionState, TopicConfig
from pcmodel.topics import Broker
from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.errors import (
    InvalidReplicationAssignmentError,
    NoReassignmentInProgressError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import ElectionType, TopicPartition

pytestmark = pytest.mark.timeout(30)

NOT_THERE = {
    TopicPartition("nope", 0): (UnknownTopicOrPartitionError,
                                "Unable to find a topic named nope."),
    TopicPartition("t", 5): (UnknownTopicOrPartitionError, "Unable to find partition t:5."),
    TopicPartition("t", 0): (NoReassignmentInProgressError,
                             "No partition reassignment is in progress."),
}


def refusals(answers):
    return {tp: (type(error), error.args[0]) for tp, error in answers.items()}


def test_a_lone_broker_answers_in_kafkas_words():
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        broker.create_topic("t", 1)
        answers = admin.alter_partition_reassignments(
            {TopicPartition("nope", 0): [0], TopicPartition("t", 5): None,
             TopicPartition("t", 0): None})
    assert refusals(answers) == NOT_THERE


def test_a_cluster_answers_in_kafkas_words(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=2)
    with KafkaAdminClient(broker=cluster) as admin:
        answers = admin.alter_partition_reassignments(
            {TopicPartition("nope", 0): [0], TopicPartition("t", 5): [0, 1],
             TopicPartition("t", 0): None})
    assert refusals(answers) == NOT_THERE


def test_a_cancellation_that_needs_an_unclean_election_is_refused_in_kafkas_words():
    tp = TopicPartition("t", 0)
    c = Controller(range(4), broker_session_timeout=1.0)
    for b in range(4):
        c.heartbeat(b, 0.0)
    c.create_topic("t", 1, TopicConfig(2, 1, False))
    c.partitions[tp] = PartitionState((0, 1), 0, 0, frozenset({0, 1}))
    c.reassign(tp, [2, 3])
    c.alter_isr(tp, 0, 0, frozenset({0, 1, 2}))
    c.fence(0)
    c.fence(1)
    assert c.partitions[tp].isr == {2}  # only a replica being added is in sync
    with pytest.raises(InvalidReplicationAssignmentError) as refused:
        c.reassign(tp, None)
    assert refused.value.args[0] == ("Unable to revert partition assignment for t:0 because "
                                     "it would require an unclean leader election.")


@pytest.mark.parametrize("where", ["lone broker", "cluster"])
def test_an_election_for_a_partition_not_there_is_refused_in_kafkas_words(make_cluster, where):
    with Broker() as broker:
        target = broker if where == "lone broker" else make_cluster(3)
        target.create_topic("t", 1)
        with KafkaAdminClient(broker=target) as admin:
            answer = admin.elect_leaders(ElectionType.PREFERRED, {"t": [5], "nope": [0]},
                                         raise_errors=False)
    assert [(topic["topic"], p["partition_id"], p["error_code"], p["error_message"])
            for topic in answer["replica_election_results"]
            for p in topic["partition_result"]] == [
        ("t", 5, 3, "No such partition as t-5"), ("nope", 0, 3, "No such topic as nope")]
