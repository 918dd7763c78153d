"""Static members (KIP-345) with real clients through pcmodel's listener.

A group has a dynamic member and a static one (``group.instance.id``). The static one closes,
which sends no LeaveGroup, and a new consumer with the same instance id starts: what Apache
Kafka does, and what is checked, is that it gets the same partitions back in the same
generation, with no rebalance, while the group kept its place. kafka-python speaks JoinGroup
v9 (KIP-814's skip_assignment); librdkafka (confluent-kafka) an older version.
"""

from __future__ import annotations

import time

import pytest

from pcmodel.topics import Broker
from pcmodel.topics.consumer_protocol import encode_subscription

pytestmark = pytest.mark.timeout(90)

_WAIT_S = 40.0


def _until(predicate, what: str) -> None:
    """Poll ``predicate`` (which itself polls the consumers) until it holds."""
    deadline = time.monotonic() + _WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {_WAIT_S} s: {what}")


def _restart_static_member(broker: Broker, make, partitions_of, poll) -> None:
    """The scenario, for one client library: ``make(instance_id)`` builds a subscribed
    consumer, ``partitions_of(c)`` is its assignment, ``poll(c)`` one short poll."""
    broker.create_topic("t", 2)
    stayer, first = make(None), make("i-1")
    try:
        _until(lambda: (poll(stayer), poll(first)) and len(partitions_of(first)) == 1
               and len(partitions_of(stayer)) == 1, "both members assigned")
        generation = broker.describe_group("g").generation
        mine = partitions_of(first)
        first.close()
        described = broker.describe_group("g")
        assert len(described.members) == 2  # no LeaveGroup: the place is kept
        assert "i-1" in [m.group_instance_id for m in described.members]
        second = make("i-1")
        try:
            _until(lambda: (poll(stayer), poll(second)) and partitions_of(second) == mine,
                   "the restarted member assigned its old partition")
            assert broker.describe_group("g").generation == generation  # no rebalance
            assert partitions_of(stayer) != set() and partitions_of(stayer) != mine
        finally:
            second.close()
    finally:
        stayer.close()


def test_kafka_python_restarts_a_static_member_without_a_rebalance():
    kafka = pytest.importorskip("kafka", reason="needs kafka-python")
    with Broker() as broker, broker.serve_kafka() as listener:
        def make(instance_id):
            return kafka.KafkaConsumer(
                "t", bootstrap_servers=listener.bootstrap_servers, group_id="g",
                group_instance_id=instance_id, session_timeout_ms=30_000,
                heartbeat_interval_ms=100)

        _restart_static_member(
            broker, make, lambda c: {(tp.topic, tp.partition) for tp in c.assignment()},
            lambda c: c.poll(timeout_ms=50) is not None)


def test_confluent_kafka_restarts_a_static_member_without_a_rebalance():
    confluent = pytest.importorskip("confluent_kafka",
                                    reason="needs confluent-kafka (the interop extra)")
    with Broker() as broker, broker.serve_kafka() as listener:
        def make(instance_id):
            settings = {"bootstrap.servers": listener.bootstrap_servers, "group.id": "g",
                        "session.timeout.ms": 30_000, "heartbeat.interval.ms": 100,
                        "partition.assignment.strategy": "range"}
            if instance_id is not None:
                settings["group.instance.id"] = instance_id
            consumer = confluent.Consumer(settings)
            consumer.subscribe(["t"])
            return consumer

        _restart_static_member(
            broker, make, lambda c: {(tp.topic, tp.partition) for tp in c.assignment()},
            lambda c: c.poll(0.05) is None or True)


def test_kafka_python_removes_a_static_member_by_its_instance_id():
    kafka_admin = pytest.importorskip("kafka.admin", reason="needs kafka-python")
    kafka_errors = pytest.importorskip("kafka.errors", reason="needs kafka-python")
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        protocols = [("range", encode_subscription(["t"]))]
        joined = broker.join_group("g", "", protocols=protocols, group_instance_id="i-1",
                                   timeout=5)
        broker.sync_group("g", joined.member_id, 1, assignments={})
        admin = kafka_admin.KafkaAdminClient(bootstrap_servers=listener.bootstrap_servers)
        try:
            removed = admin.remove_group_members("g", [
                kafka_admin.MemberToRemove(group_instance_id="i-1"),
                kafka_admin.MemberToRemove(group_instance_id="i-2")])
        finally:
            admin.close()
        assert removed == {"i-1": kafka_errors.NoError,
                           "i-2": kafka_errors.UnknownMemberIdError}
        assert broker.describe_group("g").members == ()
