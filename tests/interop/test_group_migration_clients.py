"""Online migration of a group (KIP-848) with real clients on pcmodel's Kafka listener: a
kafka-python consumer (classic protocol) and a librdkafka one (confluent-kafka,
``group.protocol=consumer``) in one group, as during a rolling restart from one protocol to the
other.

What Apache Kafka 4 does with ``group.consumer.migration.policy=bidirectional``, and what is
checked: the librdkafka member joining the classic group turns it into a consumer group; the
kafka-python member keeps speaking JoinGroup/SyncGroup/Heartbeat and is told to rejoin, and the
two share the topic without a partition ever held by both; when the librdkafka member leaves,
the group is a classic group again and the kafka-python member takes every partition back.
Committed offsets carry over each conversion: every record is processed, none is lost.
"""

from __future__ import annotations

import itertools

import pytest

ck = pytest.importorskip("confluent_kafka", reason="these lessons need confluent-kafka")
kafka = pytest.importorskip("kafka", reason="these lessons need kafka-python")

from pcmodel.topics import Broker  # noqa: E402
from pcmodel.topics.group_answers import GroupState  # noqa: E402
from tests.conftest import wait_until  # noqa: E402

pytestmark = pytest.mark.timeout(60)

PARTITIONS = 6
_names = itertools.count()


@pytest.fixture(scope="module")
def served():
    with Broker(group_consumer_session_timeout_ms=3_000, group_consumer_heartbeat_interval_ms=200,
                group_initial_rebalance_delay_ms=300) as broker, \
            broker.serve_kafka() as listener:
        yield broker, listener.bootstrap_servers


def produce(bootstrap: str, topic: str, values: range) -> None:
    producer = ck.Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value=str(value).encode(), partition=value % PARTITIONS)
    assert producer.flush(10) == 0


class Group:
    """A kafka-python member and (for a while) a librdkafka one, polled in turn; each record
    processed is committed at once, and every round checks that the coordinator gives no
    partition to two members. (Not the clients' own views: an eager kafka-python member still
    lists the partitions it revoked until its SyncGroup answers, as the Java client does.)"""

    def __init__(self, broker: Broker, bootstrap: str, group: str, topic: str) -> None:
        self.broker, self.bootstrap, self.group, self.topic = broker, bootstrap, group, topic
        self.seen: set[tuple[int, int]] = set()
        self.overlaps: list[int] = []
        self.classic = kafka.KafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=group, client_id="classic",
            auto_offset_reset="earliest", enable_auto_commit=False,
            session_timeout_ms=6_000, heartbeat_interval_ms=200, max_poll_interval_ms=20_000)
        self.modern: ck.Consumer | None = None

    def start_modern(self) -> None:
        self.modern = ck.Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": self.group,
            "group.protocol": "consumer", "client.id": "modern",
            "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.modern.subscribe([self.topic])

    def stop_modern(self) -> None:
        modern, self.modern = self.modern, None
        modern.close()  # leaves the group (member epoch -1)

    def owned(self) -> tuple[set[int], set[int]]:
        classic = {tp.partition for tp in self.classic.assignment()}
        modern = {tp.partition for tp in self.modern.assignment()} if self.modern else set()
        return classic, modern

    def poll_round(self) -> None:
        for tp, records in self.classic.poll(timeout_ms=50).items():
            for record in records:
                self.seen.add((tp.partition, record.offset))
            self.classic.commit({tp: kafka.OffsetAndMetadata(records[-1].offset + 1, "", -1)})
        if self.modern is not None:
            message = self.modern.poll(0.05)
            if message is not None and message.error() is None:
                self.seen.add((message.partition(), message.offset()))
                self.modern.commit(message=message, asynchronous=False)
        if self.group in self.broker.consumer_group_states():
            counted: list[int] = []
            for member in self.broker.describe_consumer_group(self.group).members:
                counted += member.assignment.get(self.topic, ())
            self.overlaps += sorted({p for p in counted if counted.count(p) > 1})

    def until(self, predicate, timeout: float = 40.0) -> None:
        wait_until(lambda: self.poll_round() or predicate(), timeout=timeout, interval=0)

    def close(self) -> None:
        if self.modern is not None:
            self.modern.close()
        self.classic.close()


def test_a_group_moves_to_the_consumer_protocol_and_back(served):
    broker, bootstrap = served
    topic = f"migrating-{next(_names)}"
    broker.create_topic(topic, PARTITIONS)
    produce(bootstrap, topic, range(60))
    members = Group(broker, bootstrap, "migrating", topic)
    try:
        members.until(lambda: len(members.seen) >= 30)
        assert broker.group_states()["migrating"][1] is GroupState.STABLE
        members.start_modern()  # the upgrade: a consumer group with a classic member
        members.until(lambda: all(members.owned()) and
                      set.union(*members.owned()) == set(range(PARTITIONS)))
        assert broker.consumer_group_states() == {"migrating": "Stable"}
        types = {m.client_id: m.member_type
                 for m in broker.describe_consumer_group("migrating").members}
        assert types == {"classic": "classic", "modern": "consumer"}
        produce(bootstrap, topic, range(60, 120))
        members.until(lambda: len(members.seen) >= 120)
        members.stop_modern()  # the downgrade: a classic group again
        members.until(lambda: members.owned()[0] == set(range(PARTITIONS)))
        assert "migrating" not in broker.consumer_group_states()
        produce(bootstrap, topic, range(120, 150))
        members.until(lambda: len(members.seen) >= 150)
    finally:
        members.close()
    assert members.overlaps == []
    assert members.seen == {(p, o) for p in range(PARTITIONS) for o in range(25)}
    committed = broker.all_committed("migrating")
    assert {tp.partition: om.offset for tp, om in committed.items()} == \
        {p: 25 for p in range(PARTITIONS)}
