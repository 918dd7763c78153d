"""Static members (KIP-345) with real clients through pcmodel's listener.

A group has a dynamic member and a static one (``group.instance.id``). The static one closes,
which sends no LeaveGroup, and a new consumer with the same instance id starts: what Apache
Kafka does, and what is checked, is that it gets the same partitions back in the same
generation, with no rebalance, while the group kept its place. kafka-python speaks JoinGroup
v9 (KIP-814's skip_assignment); librdkafka (confluent-kafka) an older version.
"""

from __future__ import annotations

import threading

import pytest

from pcmodel.topics import Broker
from pcmodel.topics.consumer_protocol import encode_subscription

pytestmark = pytest.mark.timeout(90)

_WAIT_S = 40.0


class _Polling:
    """One consumer polled in a thread of its own, as an application polls it (two consumers
    polled in turns by one thread hold up each other's rebalances: each waits in JoinGroup
    for the other, which is not polling); its assignment is recorded after every poll."""

    def __init__(self, consumer, poll, partitions_of) -> None:
        self.consumer = consumer
        self._poll, self._partitions_of = poll, partitions_of
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._assigned: set = set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll(self.consumer)
            with self._changed:
                self._assigned = self._partitions_of(self.consumer)
                self._changed.notify_all()

    def until(self, predicate, what: str) -> set:
        """Wait until ``predicate(assignment)`` holds; return the assignment."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self._assigned), _WAIT_S):
                pytest.fail(f"not reached within {_WAIT_S} s: {what}")
            return set(self._assigned)

    def stop(self) -> None:
        """Stop polling (the consumer stays open, for the caller to close)."""
        self._stop.set()
        self._thread.join(_WAIT_S)


def _restart_static_member(broker: Broker, make, partitions_of, poll) -> None:
    """The scenario, for one client library: ``make(instance_id)`` builds a subscribed
    consumer, ``partitions_of(c)`` is its assignment, ``poll(c)`` one short poll."""
    broker.create_topic("t", 2)
    stayer = _Polling(make(None), poll, partitions_of)
    first = _Polling(make("i-1"), poll, partitions_of)
    try:
        mine = first.until(lambda a: len(a) == 1, "the static member assigned")
        stayer.until(lambda a: len(a) == 1 and a != mine, "both members assigned")
        generation = broker.describe_group("g").generation
        first.stop()
        first.consumer.close()
        described = broker.describe_group("g")
        assert len(described.members) == 2  # no LeaveGroup: the place is kept
        assert "i-1" in [m.group_instance_id for m in described.members]
        second = _Polling(make("i-1"), poll, partitions_of)
        try:
            second.until(lambda a: a == mine, "the restarted member assigned its old partition")
            assert broker.describe_group("g").generation == generation  # no rebalance
            assert stayer.until(lambda a: True, "") not in (set(), mine)
        finally:
            second.stop()
            second.consumer.close()
    finally:
        first.stop()
        stayer.stop()
        stayer.consumer.close()


def test_kafka_python_restarts_a_static_member_without_a_rebalance():
    kafka = pytest.importorskip("kafka", reason="needs kafka-python")
    with Broker() as broker, broker.serve_kafka() as listener:
        def make(instance_id):
            consumer = kafka.KafkaConsumer(
                "t", bootstrap_servers=listener.bootstrap_servers, group_id="g",
                group_instance_id=instance_id, session_timeout_ms=30_000,
                heartbeat_interval_ms=100)
            # The topic's metadata before the first poll joins the group: a leader that
            # joins without it (a slow machine) assigns nothing, and kafka-python may not
            # look again before metadata_max_age_ms (5 min).
            assert consumer.partitions_for_topic("t") == {0, 1}
            return consumer

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
