"""confluent-kafka consumers with ``group.protocol=consumer`` (KIP-848) on a cluster's Kafka
listeners, as on an Apache Kafka 4 cluster: they find the group's coordinator, share a topic,
and carry on when the coordinator's broker is killed (the new coordinator restored the group
from ``__consumer_offsets``), with no partition ever owned by two of them, every record
processed and the commits kept."""

from __future__ import annotations

import pytest

ck = pytest.importorskip("confluent_kafka", reason="these tests need confluent-kafka")

from pcmodel.cluster import Cluster  # noqa: E402
from tests.conftest import wait_until  # noqa: E402
from tests.wire.conftest import FAST  # noqa: E402

pytestmark = pytest.mark.timeout(60)

PARTITIONS = 4


@pytest.fixture
def served():
    """A cluster of 3 brokers served by Kafka listeners, topic ``t`` replicated on all three,
    and consumer group sessions short enough for a test."""
    with Cluster(3, **FAST, group_consumer_session_timeout_ms=3_000,
                 group_consumer_heartbeat_interval_ms=200) as cluster, \
            cluster.serve_kafka() as listeners:
        cluster.create_topic("t", PARTITIONS, replication_factor=3)
        wait_until(lambda: all(len(cluster.metadata()[("t", p)].isr) == 3
                               for p in range(PARTITIONS)), timeout=30)
        yield cluster, listeners


def produce(bootstrap, values):
    producer = ck.Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for value in values:
        producer.produce("t", value=str(value).encode(), partition=value % PARTITIONS)
    assert producer.flush(15) == 0


class Members:
    """Consumers polled in turn; each record processed is committed at once, and every round
    checks that no partition is assigned to two of them."""

    def __init__(self, bootstrap, group, names):
        self.members = {name: ck.Consumer({
            "bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
            "client.id": name, "auto.offset.reset": "earliest", "enable.auto.commit": False,
        }) for name in names}
        self.seen: set[tuple[int, int]] = set()
        self.overlaps: list[str] = []
        for member in self.members.values():
            member.subscribe(["t"])

    def poll_round(self) -> None:
        for member in self.members.values():
            message = member.poll(0.05)
            if message is not None and message.error() is None:
                try:
                    member.commit(message=message, asynchronous=False)
                except ck.KafkaException:
                    continue  # not committed: it will be delivered again
                self.seen.add((message.partition(), message.offset()))
        owned: dict[int, str] = {}
        for name, member in self.members.items():
            for tp in member.assignment():
                if tp.partition in owned:
                    self.overlaps.append(f"{tp.partition}: {owned[tp.partition]} and {name}")
                owned[tp.partition] = name

    def until(self, predicate, timeout=30.0) -> None:
        wait_until(lambda: self.poll_round() or predicate(), timeout=timeout, interval=0)

    def close(self) -> None:
        for member in self.members.values():
            member.close()


def test_members_carry_on_across_a_coordinator_kill(served):
    cluster, listeners = served
    bootstrap = listeners.bootstrap_servers
    conn = cluster.connect()
    produce(bootstrap, range(40))
    members = Members(bootstrap, "failover", ["c1", "c2"])
    try:
        members.until(lambda: len(members.seen) >= 20 and all(
            m.assignment() for m in members.members.values()))
        before = conn.describe_consumer_group("failover")
        assert len(before.members) == 2
        coordinator = conn._offsets.coordinator("failover")
        cluster.kill(coordinator)
        wait_until(lambda: conn._offsets.coordinator("failover") not in (None, coordinator),
                   timeout=20)
        produce(bootstrap, range(40, 80))
        members.until(lambda: len(members.seen) >= 80)
        after = conn.describe_consumer_group("failover")
    finally:
        members.close()
    assert members.overlaps == []
    assert members.seen == {(p, o) for p in range(PARTITIONS) for o in range(20)}
    # The members went on at the new coordinator: none joined again as a new member.
    assert {m.member_id for m in after.members} <= {m.member_id for m in before.members}
    committed = conn.committed("failover", [("t", p) for p in range(PARTITIONS)])
    assert {tp.partition: c.offset for tp, c in committed.items()} == \
        dict.fromkeys(range(PARTITIONS), 20)


def test_describe_and_list_through_an_admin_client(served):
    cluster, listeners = served
    bootstrap = listeners.bootstrap_servers
    members = Members(bootstrap, "listed", ["c1"])
    try:
        members.until(lambda: len(members.members["c1"].assignment()) == PARTITIONS)
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": bootstrap})
        listed = admin.list_consumer_groups().result(10)
        found = {g.group_id: g for g in listed.valid}
        assert "listed" in found
        assert found["listed"].type == ck.ConsumerGroupType.CONSUMER
        described = admin.describe_consumer_groups(["listed"])["listed"].result(10)
        assert described.type == ck.ConsumerGroupType.CONSUMER
        assert [m.client_id for m in described.members] == ["c1"]
        assert {tp.partition for tp in described.members[0].assignment.topic_partitions} == \
            set(range(PARTITIONS))
    finally:
        members.close()
