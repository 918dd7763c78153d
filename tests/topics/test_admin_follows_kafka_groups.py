"""KafkaAdminClient answers about Kafka 4's consumer groups (KIP-848) and topic ids what a Kafka
broker answers kafka-python's admin client: ListGroups lists consumer groups with type
``consumer`` (on a lone broker, a broker behind its server and a cluster), DeleteTopics takes
topic ids (``uuid.UUID``) as kafka-python sends them, and OffsetDelete answers a consumer group
per partition."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker
from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.errors import (
    GroupSubscribedToTopicError,
    InvalidRequestError,
    NoError,
    UnknownTopicIdError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.server import BrokerServer
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from tests.topics.conftest import join_alone

pytestmark = pytest.mark.timeout(30)

ORDERS0, AUDIT0 = TopicPartition("orders", 0), TopicPartition("audit", 0)


def join_consumer_group(target, group_id: str, topics: list[str]):
    """A ConsumerGroupHeartbeat joining ``group_id`` (member epoch 0); its answer."""
    return target.consumer_group_heartbeat(group_id, "", 0, rebalance_timeout_ms=10_000,
                                           subscribed_topic_names=topics, owned_partitions={})


def _listed(groups: list[dict]) -> list[tuple]:
    return [(g["group_id"], g["protocol_type"], g["group_state"], g["group_type"])
            for g in groups]


# --- ListGroups: Kafka lists consumer groups, type "consumer" -------------------------------


def test_list_groups_lists_consumer_groups_as_the_kafka_listener_does():
    from kafka.protocol.admin import ListGroupsRequest

    from tests.wire.conftest import RawClient

    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        broker.create_topic("orders", 2)
        join_alone(broker, "classic", ["orders"])
        join_consumer_group(broker, "modern", ["orders"])
        broker.commit_offsets("ledger", -1, "", {ORDERS0: OffsetAndMetadata(1)})
        expected = [("classic", "consumer", "Stable", "classic"),
                    ("ledger", "", "Empty", "classic"),
                    ("modern", "consumer", "Stable", "consumer")]
        assert _listed(admin.list_groups()) == expected
        assert admin.list_consumer_groups() == [("classic", "consumer"), ("ledger", ""),
                                                ("modern", "consumer")]
        assert _listed(admin.list_groups(types_filter=["Consumer"])) == expected[2:]
        assert _listed(admin.list_groups(types_filter=["classic"])) == expected[:2]
        assert [g["group_id"] for g in admin.list_groups(states_filter=["stable"])] == [
            "classic", "modern"]
        with broker.serve_kafka() as listener, RawClient(listener.address) as raw:
            answer = raw.request(ListGroupsRequest[5](states_filter=[], types_filter=[]))
        assert [(g.group_id, g.protocol_type, g.group_state, g.group_type)
                for g in answer.groups] == expected


def test_a_broker_behind_its_server_lists_its_consumer_groups_too():
    with Broker() as broker:
        broker.create_topic("orders", 1)
        join_consumer_group(broker, "modern", ["orders"])
        server = BrokerServer(broker).start()
        try:
            with KafkaAdminClient(broker=server.handle) as admin:
                listed = admin.list_groups()
        finally:
            server.stop()
    assert _listed(listed) == [("modern", "consumer", "Stable", "consumer")]


def test_a_cluster_lists_the_consumer_groups_its_coordinators_have():
    with Cluster(3, mode="steps") as cluster:
        cluster.create_topic("orders", 2, replication_factor=3)
        join_consumer_group(cluster.connect(), "modern", ["orders"])
        with KafkaAdminClient(broker=cluster) as admin:
            coordinator = cluster.connect().coordinator_id("modern")
            others = [b for b in cluster.connect().broker_ids() if b != coordinator]
            assert _listed(admin.list_groups()) == [
                ("modern", "consumer", "Stable", "consumer")]
            assert [g["group_id"] for g in admin.list_groups([coordinator])] == ["modern"]
            assert admin.list_groups(others) == []


# --- DeleteTopics by topic id: ControllerApis.deleteTopics ----------------------------------


def _answers(result: dict) -> list[tuple]:
    return [(t["name"], t["topic_id"], t["error_code"], t["error_message"])
            for t in result["topics"]]


@contextmanager
def _target(where: str):
    """``(owner, target)``: what the test sets topics up on, and the admin client's target:
    a lone broker, a broker process's handle (the ids cross its transport) or a cluster."""
    if where == "cluster":
        with Cluster(3, mode="steps") as cluster:
            yield cluster, cluster
        return
    with Broker() as broker:
        if where == "broker":
            yield broker, broker
            return
        server = BrokerServer(broker).start()
        try:
            yield broker, server.handle
        finally:
            server.stop()


@pytest.mark.parametrize("where", ["broker", "broker-server", "cluster"])
def test_a_topic_given_by_its_id_is_deleted_and_an_unknown_id_is_unknown_topic_id(where):
    with _target(where) as (target, handle), KafkaAdminClient(broker=handle) as admin:
        target.create_topic("orders", 1)
        target.create_topic("audit", 1)
        orders, nowhere = target.topic_ids()["orders"], uuid.uuid4()
        result = admin.delete_topics([nowhere, orders, "audit"], raise_errors=False)
        assert _answers(result) == [
            (None, str(nowhere), UnknownTopicIdError.errno,
             "This server does not host this topic ID."),
            ("orders", str(orders), 0, None),
            ("audit", result["topics"][2]["topic_id"], 0, None)]
        assert admin.list_topics() == []
        with pytest.raises(UnknownTopicIdError, match="does not host this topic ID"):
            admin.delete_topics([orders])


def test_an_old_id_of_a_topic_created_again_deletes_nothing():
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        broker.create_topic("orders", 1)
        old = broker.topic_ids()["orders"]
        broker.delete_topic("orders")
        broker.create_topic("orders", 1)
        result = admin.delete_topics([old], raise_errors=False)
        assert _answers(result) == [(None, str(old), UnknownTopicIdError.errno,
                                     "This server does not host this topic ID.")]
        assert admin.list_topics() == ["orders"]


def test_ids_given_twice_the_zero_id_and_a_name_with_its_id_are_refused_as_kafka_does():
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        for name in ("a", "b", "c", "d"):
            broker.create_topic(name, 1)
        ids = broker.topic_ids()
        zero = uuid.UUID(int=0)
        result = admin.delete_topics([ids["a"], "a", zero, ids["b"], ids["b"], "c", "c",
                                      ids["d"]], raise_errors=False)
        invalid = InvalidRequestError.errno
        assert _answers(result) == [
            # The name whose id is given too is refused; that id gets no answer of its own.
            ("a", str(ids["a"]), invalid,
             "The provided topic name maps to an ID that was already supplied."),
            (None, None, invalid, "Neither topic name nor id were specified."),
            ("d", str(ids["d"]), 0, None),
            ("c", None, invalid, "Duplicate topic name."),
            (None, str(ids["b"]), invalid, "Duplicate topic id.")]
        assert admin.list_topics() == ["a", "b", "c"]


def test_kafka_pythons_admin_client_gets_the_same_answers_by_id_from_the_listener():
    from kafka.admin import KafkaAdminClient as KafkaPythonAdmin

    def answers(ask_kafka_python: bool) -> list[tuple]:
        with Broker() as broker, broker.serve_kafka() as listener:
            for name in ("a", "b", "c"):
                broker.create_topic(name, 1)
            ids = broker.topic_ids()
            names = {topic_id: name for name, topic_id in ids.items()}
            admin = KafkaPythonAdmin(bootstrap_servers=listener.bootstrap_servers) \
                if ask_kafka_python else KafkaAdminClient(broker=broker)
            try:
                result = admin.delete_topics(
                    [ids["a"], "a", ids["b"], ids["b"], ids["c"], uuid.UUID(int=5)],
                    raise_errors=False)
            finally:
                admin.close()
            # Kafka shuffles its answers; ids are random per broker: named by their topic.
            return sorted((t["name"] or "", names.get(uuid.UUID(t["topic_id"]), t["topic_id"])
                           if t["topic_id"] else None, t["error_code"], t["error_message"] or "")
                          for t in result["topics"])

    assert answers(ask_kafka_python=False) == answers(ask_kafka_python=True) == [
        ("", "00000000-0000-0000-0000-000000000005", UnknownTopicIdError.errno,
         "This server does not host this topic ID."),
        ("", "b", InvalidRequestError.errno, "Duplicate topic id."),
        ("a", "a", InvalidRequestError.errno,
         "The provided topic name maps to an ID that was already supplied."),
        ("c", "c", 0, "")]


# --- OffsetDelete of a consumer group: OffsetMetadataManager.deleteOffsets -----------------


def _consumer_group_offsets(target, admin: KafkaAdminClient) -> None:
    """A consumer group "modern" subscribed to "orders" answers OffsetDelete per partition,
    before it ever committed and after; its committed offset of "audit" is deleted."""
    target.create_topic("orders", 1)
    target.create_topic("audit", 1)
    conn = target.connect()
    joined = join_consumer_group(conn, "modern", ["orders"])
    subscribed = {ORDERS0: GroupSubscribedToTopicError, AUDIT0: NoError,
                  TopicPartition("nope", 0): UnknownTopicOrPartitionError}
    assert admin.delete_group_offsets("modern", list(subscribed)) == subscribed
    conn.commit_offsets("modern", joined.member_epoch, joined.member_id,
                        {ORDERS0: OffsetAndMetadata(1), AUDIT0: OffsetAndMetadata(2)},
                        request_version=9)
    assert admin.delete_group_offsets("modern", [ORDERS0, AUDIT0]) == {
        ORDERS0: GroupSubscribedToTopicError, AUDIT0: NoError}
    assert admin.list_group_offsets({"modern": [ORDERS0, AUDIT0]}) == {
        "modern": {ORDERS0: OffsetAndMetadata(1), AUDIT0: None}}
    assert _listed(admin.list_groups()) == [("modern", "consumer", "Stable", "consumer")]


def test_a_consumer_groups_offsets_are_deleted_per_partition_on_a_lone_broker():
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        _consumer_group_offsets(broker, admin)


def test_a_consumer_groups_offsets_are_deleted_per_partition_on_a_cluster():
    with Cluster(3, mode="steps") as cluster, KafkaAdminClient(broker=cluster) as admin:
        _consumer_group_offsets(cluster, admin)
