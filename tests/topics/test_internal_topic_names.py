"""Kafka's internal topics are an exact set of names, not a ``__`` prefix.

Kafka's ``Topic.isInternal(name)`` is ``INTERNAL_TOPICS.contains(name)``, with
``__consumer_offsets``, ``__transaction_state`` and ``__share_group_state``: a user's
``__audit`` is an ordinary topic, listed, not internal, deletable, described and matched by a
pattern subscription, on a lone broker, on a cluster and through the Kafka listener (with
kafka-python's own clients). The cluster still refuses to delete ``__consumer_offsets``, where
its group coordinators keep their state, and nobody may create ``__cluster_metadata``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker
from pcmodel.topics.admin import KafkaAdminClient, NewTopic
from pcmodel.topics.config_resources import AlterConfigOp
from pcmodel.topics.errors import InvalidRequestError, InvalidTopicError

pytestmark = pytest.mark.timeout(60)

USER_TOPIC = "__audit"
OFFSETS = "__consumer_offsets"
#: Kafka's error codes, as the listener answers them.
INVALID_TOPIC_EXCEPTION, INVALID_REQUEST = 17, 42
#: A real-time cluster quick to settle (as the listener tests run theirs).
FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)


@dataclass
class Target:
    """Where the topic is made: ``kind`` is ``broker`` or ``cluster``; ``admin`` is pcmodel's
    admin client in process, or kafka-python's through the listener when ``address`` is
    set (``new_topic`` is the matching ``NewTopic``)."""

    kind: str
    owner: Any
    admin: Any
    new_topic: Any
    address: str | None = None

    @property
    def replication(self) -> int:
        return 1 if self.kind == "broker" else 2


@pytest.fixture(params=["broker", "cluster", "broker-listener", "cluster-listener"])
def target(request) -> Iterator[Target]:
    kind, _, served = request.param.partition("-")
    owner = Broker() if kind == "broker" else Cluster(2, **FAST)
    with owner:
        if not served:
            with KafkaAdminClient(broker=owner) as admin:
                yield Target(kind, owner, admin, NewTopic)
            return
        from kafka.admin import KafkaAdminClient as WireAdmin
        from kafka.admin import NewTopic as WireTopic

        with owner.serve_kafka() as listening:
            address = listening.bootstrap_servers
            admin = WireAdmin(bootstrap_servers=address, request_timeout_ms=10_000)
            try:
                yield Target(kind, owner, admin, WireTopic, address)
            finally:
                admin.close()


def test_kafkas_internal_topics_are_an_exact_set():
    from pcmodel.cluster.offsets import OFFSETS_TOPIC
    from pcmodel.cluster.transaction_log import TRANSACTION_TOPIC
    from pcmodel.topics.topic_settings import INTERNAL_TOPICS, METADATA_TOPIC, is_internal_topic

    # Kafka 4's Topic.INTERNAL_TOPICS, and the two the cluster's coordinators write.
    kafkas = {"__consumer_offsets", "__transaction_state", "__share_group_state"}
    assert kafkas == INTERNAL_TOPICS
    assert {OFFSETS_TOPIC, TRANSACTION_TOPIC} <= INTERNAL_TOPICS
    assert all(is_internal_topic(name) for name in INTERNAL_TOPICS)
    for ordinary in (USER_TOPIC, "__", "__consumer_offsets2", "_consumer_offsets", "orders",
                     METADATA_TOPIC):
        assert not is_internal_topic(ordinary), ordinary


def test_a_user_topic_named_with_two_underscores_is_an_ordinary_topic(target):
    admin = target.admin
    admin.create_topics([target.new_topic(USER_TOPIC, 2, target.replication)])
    assert USER_TOPIC in admin.list_topics()

    (named,) = admin.describe_topics([USER_TOPIC])
    assert (named["name"], named["error_code"], named["is_internal"]) == (USER_TOPIC, 0, False)
    assert [p["partition_index"] for p in named["partitions"]] == [0, 1]
    every = {t["name"]: t["is_internal"] for t in admin.describe_topics()}
    assert every[USER_TOPIC] is False
    paged = {t["name"]: t["is_internal"]
             for t in admin.describe_topic_partitions([])["topics"]}
    assert paged[USER_TOPIC] is False


def test_a_user_topic_named_with_two_underscores_is_deleted_as_any_other(target):
    admin = target.admin
    admin.create_topics([target.new_topic(USER_TOPIC, 1, target.replication)])
    admin.delete_topics([USER_TOPIC])
    assert USER_TOPIC not in target.owner.topic_ids()
    assert USER_TOPIC not in admin.list_topics()


# A lone broker keeps its groups' state in memory: it has no such topic.
@pytest.mark.parametrize("target", ["cluster", "cluster-listener"], indirect=True)
def test_a_clusters_offsets_topic_stays_internal_and_undeletable(target):
    admin = target.admin
    (described,) = admin.describe_topics([OFFSETS])
    assert (described["error_code"], described["is_internal"]) == (0, True)
    if target.address is None:
        # Left out of the list, as the Java Admin.listTopics() leaves internal topics out.
        assert OFFSETS not in admin.list_topics()
        with pytest.raises(InvalidTopicError):
            admin.delete_topics([OFFSETS])
    else:
        # Kafka's Metadata of every topic lists it, marked internal (kafka-python shows it).
        assert {t["name"]: t["is_internal"] for t in admin.describe_topics()}[OFFSETS] is True
        answer = admin.delete_topics([OFFSETS], raise_errors=False)
        assert [(t["name"], t["error_code"]) for t in answer["topics"]] == [
            (OFFSETS, INVALID_TOPIC_EXCEPTION)]
    assert OFFSETS in target.owner.topic_ids()


def test_the_metadata_log_still_cannot_be_created(target):
    topic = target.new_topic("__cluster_metadata", 1, target.replication)
    if target.address is None:
        with pytest.raises(InvalidRequestError):
            target.admin.create_topics([topic])
    else:
        answer = target.admin.create_topics([topic], raise_errors=False)
        assert [(t["name"], t["error_code"]) for t in answer["topics"]] == [
            ("__cluster_metadata", INVALID_REQUEST)]
    assert "__cluster_metadata" not in target.owner.topic_ids()


@pytest.mark.parametrize("kind", ["broker", "cluster"])
def test_a_regex_subscription_matches_a_user_topic_but_no_internal_one(kind):
    owner = Broker() if kind == "broker" else Cluster(2, mode="steps")
    with owner:
        owner.create_topic(USER_TOPIC, 2, **({} if kind == "broker" else
                                             {"replication_factor": 2}))
        conn = owner if kind == "broker" else owner.connect()
        # Kafka 4's ConsumerGroupHeartbeat with SubscribedTopicRegex, resolved by the group
        # coordinator: the cluster's __consumer_offsets matches "__.*" but is left out.
        answer = conn.consumer_group_heartbeat("g", "m", 0, rebalance_timeout_ms=5000,
                                               subscribed_topic_regex="__.*",
                                               owned_partitions={})
        assert {t: sorted(p) for t, p in answer.assignment.items()} == {USER_TOPIC: [0, 1]}


@pytest.mark.parametrize("kind", ["broker", "cluster"])
def test_a_kafka_python_consumer_sees_a_user_topic_but_no_internal_one(kind):
    """kafka-python's consumer leaves out the topics Metadata marks internal
    (``exclude_internal_topics``, as the Java consumer's ``exclude.internal.topics``): from
    ``topics()`` and from a pattern subscription alike."""
    from kafka import KafkaConsumer

    owner = Broker() if kind == "broker" else Cluster(2, **FAST)
    with owner, owner.serve_kafka() as listening:
        owner.create_topic(USER_TOPIC, 1, **({} if kind == "broker" else
                                             {"replication_factor": 2}))
        consumer = KafkaConsumer(bootstrap_servers=listening.bootstrap_servers,
                                 request_timeout_ms=10_000)
        try:
            topics = consumer.topics()
        finally:
            consumer.close()
    assert USER_TOPIC in topics and OFFSETS not in topics


def test_a_clusters_user_topic_takes_configs_and_record_deletion_as_any_other():
    with Cluster(2, mode="steps") as cluster:
        cluster.connect()  # creates __consumer_offsets
        cluster.create_topic(USER_TOPIC, 1, replication_factor=2)
        cluster.alter_topic_configs(USER_TOPIC, [("retention.ms", AlterConfigOp.SET, "60000")])
        assert {e.name: e.value for e in cluster.describe_topic_configs(USER_TOPIC)}[
            "retention.ms"] == "60000"
        assert cluster.delete_records(USER_TOPIC, 0, -1) == 0
        # An internal topic's configs are the cluster's, and its records are never deleted
        # (as Kafka's ReplicaManager refuses DeleteRecords on one).
        with pytest.raises(InvalidTopicError):
            cluster.alter_topic_configs(OFFSETS, [("retention.ms", AlterConfigOp.SET, "60000")])
        with pytest.raises(InvalidTopicError):
            cluster.delete_records(OFFSETS, 0, -1)
