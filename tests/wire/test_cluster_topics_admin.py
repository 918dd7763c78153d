"""CreateTopics and DeleteTopics at a replicated cluster's Kafka listeners, answered as Kafka's
controller answers them: a new topic's mistakes in the order of ``ReplicationControlManager.
createTopics``, in its words, and a topic given by id deleted by that id in one step."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import CreateTopicsRequest, DeleteTopicsRequest

from pcmodel.wire.node_connection import NodeConnection
from tests.wire.conftest import RawClient

pytestmark = pytest.mark.timeout(60)

TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR = 36, 37, 38
INVALID_REPLICA_ASSIGNMENT, UNKNOWN_TOPIC_ID = 39, 100
Topic = CreateTopicsRequest.CreatableTopic
Assignment = Topic.CreatableReplicaAssignment
State = DeleteTopicsRequest.DeleteTopicState


def create(address, *topics, validate_only=True):
    with RawClient(address) as raw:
        answer = raw.request(CreateTopicsRequest[7](topics=list(topics), timeout_ms=5000,
                                                    validate_only=validate_only))
    return [(t.name, t.error_code, t.error_message) for t in answer.topics]


def new_topic(name, partitions=-1, rf=-1, assignments=()):
    return Topic(name=name, num_partitions=partitions, replication_factor=rf,
                 assignments=[Assignment(partition_index=p, broker_ids=list(brokers))
                              for p, brokers in assignments], configs=[])


def test_a_new_topic_is_checked_in_the_order_of_kafkas_controller(served):
    cluster, listeners = served
    internal = next(name for name in cluster.topic_ids() if name.startswith("__"))
    assert create(listeners.addresses[0],
                  new_topic(internal, 1, 9),  # an internal topic's name is taken too
                  new_topic("fresh", 0, 9),  # the count before the factor's placement
                  new_topic("zero", 0, 0),  # but after the factor's own value
                  new_topic("placed", assignments=[(0, [0, 0]), (2, [1])])) == [
        (internal, TOPIC_ALREADY_EXISTS, f"Topic '{internal}' already exists."),
        ("fresh", INVALID_PARTITIONS,
         "Number of partitions was set to an invalid non-positive value."),
        ("zero", INVALID_REPLICATION_FACTOR,
         "Replication factor must be larger than 0, or -1 to use the default value."),
        ("placed", INVALID_REPLICA_ASSIGNMENT,
         "The manual partition assignment includes the broker 0 more than once."),
    ]


def test_an_old_id_never_deletes_the_topic_created_again_under_its_name(served, monkeypatch):
    cluster, listeners = served
    cluster.create_topic("again", 1, replication_factor=2)
    old = cluster.topic_ids()["again"]
    read_ids = NodeConnection.topic_ids

    def ids_then_another_admin_recreates_the_topic(self):
        # The request's check reads the ids; then another administrator deletes the topic and
        # creates it again, before this request deletes anything.
        ids = read_ids(self)
        if cluster.topic_ids().get("again") == old:
            cluster.delete_topic("again")
            cluster.create_topic("again", 3, replication_factor=2)
        return ids

    monkeypatch.setattr(NodeConnection, "topic_ids", ids_then_another_admin_recreates_the_topic)
    with RawClient(listeners.addresses[1]) as raw:
        answer = raw.request(DeleteTopicsRequest[6](timeout_ms=10_000, topics=[
            State(name=None, topic_id=old)])).responses
    monkeypatch.undo()
    assert [(r.name, r.topic_id, r.error_code) for r in answer] == [
        (None, old, UNKNOWN_TOPIC_ID)]
    assert cluster.connect().list_topics()["again"] == 3  # the new topic is still there
    cluster.delete_topic("again")


def test_a_topic_of_more_records_than_the_controller_writes_at_once_is_a_policy_violation(
        served):
    # Kafka's controller writes at most 10,000 records for one operation: the topic's, one
    # per partition and one per config; beyond, POLICY_VIOLATION in its words. Before, the
    # cluster tried to make two billion partitions.
    cluster, listeners = served
    too_large = "Unable to perform excessively large batch operation."
    assert create(listeners.addresses[0], new_topic("huge", 2_000_000_000, 1),
                  new_topic("edge", 10_000, 1), new_topic("fits", 9_999, 1)) == [
        ("huge", 44, too_large), ("edge", 44, too_large), ("fits", 0, None)]
    assert "huge" not in cluster.topic_ids()
