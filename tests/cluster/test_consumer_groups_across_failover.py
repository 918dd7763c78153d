"""Kafka 4's consumer groups (KIP-848) on a replicated cluster: pcmodel's cluster client sends
ConsumerGroupHeartbeat to the coordinator, what each heartbeat changed is stored in
``__consumer_offsets`` as Kafka's coordinator writes it, and a new coordinator restores the
group after the old one's broker dies: members keep their epochs and assignments, and one
whose session ran out meanwhile is fenced. Stepped clusters on virtual time: no waiting."""

from __future__ import annotations

import json

import pytest

from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.topics.consumer_group_errors import FencedMemberEpochError
from pcmodel.topics.consumer_protocol import encode_assignment, encode_subscription
from pcmodel.topics.errors import (
    CoordinatorNotAvailableError,
    NotCoordinatorError,
    UnknownMemberIdError,
)
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(30)

SESSION_MS = 3_000


def consumer_cluster(make_cluster, partitions=4):
    """A stepped cluster of 3 brokers with topic ``t`` and short consumer group sessions."""
    cluster = make_cluster(3, group_consumer_session_timeout_ms=SESSION_MS,
                           group_consumer_heartbeat_interval_ms=100)
    cluster.create_topic("t", partitions, replication_factor=3)
    return cluster, cluster.connect()


def join(conn, member_id, group="g"):
    return conn.consumer_group_heartbeat(group, member_id, 0, rebalance_timeout_ms=10_000,
                                         subscribed_topic_names=["t"], owned_partitions={})


def owned_of(assignment):
    return {topic: set(parts) for topic, parts in assignment.items()}


def settle(conn, members, group="g", rounds=10):
    """Heartbeat every member (``{member id: [epoch, assignment]}``) with what it owns until
    the group is Stable; returns the description."""
    for _ in range(rounds):
        for member_id, state in members.items():
            answer = conn.consumer_group_heartbeat(group, member_id, state[0],
                                                   owned_partitions=owned_of(state[1]))
            state[0] = answer.member_epoch
            if answer.assignment is not None:
                state[1] = answer.assignment
        described = conn.describe_consumer_group(group)
        if described.state == "Stable":
            return described
    raise AssertionError(f"group never settled: {conn.describe_consumer_group(group)}")


def kill_coordinator(cluster, conn, group="g"):
    old = conn._offsets.coordinator(group)
    cluster.kill(old)
    assert cluster.wait_for(lambda: conn._offsets.coordinator(group) not in (None, old), 30)
    return old


def stored_kinds(cluster, group="g"):
    """The kinds of the consumer group records of ``group`` still standing in the log of the
    offsets partition (each key's latest record; tombstones remove a key)."""
    p = cluster.connect()._offsets.partition_for(group)
    leader = cluster.leader(OFFSETS_TOPIC, p)
    latest = {}
    for record in cluster.log(leader, OFFSETS_TOPIC, p):
        if record.key.startswith(b"\x00"):
            latest[record.key] = record.value
    return sorted(key.decode().split("\x00")[1] for key, value in latest.items()
                  if value is not None and key.decode().split("\x00")[2] == group)


def test_members_keep_their_epochs_and_assignments_at_the_new_coordinator(make_cluster):
    cluster, conn = consumer_cluster(make_cluster)
    first, second = join(conn, "m1"), join(conn, "m2")
    members = {"m1": [first.member_epoch, first.assignment],
               "m2": [second.member_epoch, second.assignment]}
    before = settle(conn, members)
    kill_coordinator(cluster, conn)
    after = conn.describe_consumer_group("g")
    assert (after.state, after.group_epoch, after.assignment_epoch) == \
        (before.state, before.group_epoch, before.assignment_epoch)
    assert {m.member_id: (m.member_epoch, m.assignment) for m in after.members} == \
        {m.member_id: (m.member_epoch, m.assignment) for m in before.members}
    for member_id, (epoch, assignment) in members.items():  # no member starts over
        answer = conn.consumer_group_heartbeat("g", member_id, epoch,
                                               owned_partitions=owned_of(assignment))
        assert answer.member_epoch == epoch


def test_the_group_is_stored_as_kafkas_records_with_tombstones(make_cluster):
    cluster, conn = consumer_cluster(make_cluster)
    answer = join(conn, "m1")
    join(conn, "m2")
    per_member = ["ConsumerGroupCurrentMemberAssignment", "ConsumerGroupMemberMetadata",
                  "ConsumerGroupTargetAssignmentMember"]
    group_wide = ["ConsumerGroupMetadata", "ConsumerGroupPartitionMetadata",
                  "ConsumerGroupTargetAssignmentMetadata"]
    assert stored_kinds(cluster) == sorted(group_wide + per_member * 2)
    conn.consumer_group_heartbeat("g", "m2", -1)  # leaves: its three records are tombstoned
    assert stored_kinds(cluster) == sorted(group_wide + per_member)
    p = conn._offsets.partition_for("g")
    log = cluster.log(cluster.leader(OFFSETS_TOPIC, p), OFFSETS_TOPIC, p)
    epoch = [json.loads(r.value)["Epoch"] for r in log
             if r.key == b"\x00ConsumerGroupMetadata\x00g"][-1]
    assert epoch == conn.describe_consumer_group("g").group_epoch
    conn.consumer_group_heartbeat("g", "m1", answer.member_epoch, owned_partitions={})
    conn.consumer_group_heartbeat("g", "m1", -1)
    conn.delete_group("g")
    assert stored_kinds(cluster) == []
    assert "g" not in conn.list_groups()


def test_a_member_whose_session_ran_out_meanwhile_is_fenced(make_cluster):
    cluster, conn = consumer_cluster(make_cluster)
    first, second = join(conn, "m1"), join(conn, "m2")
    members = {"m1": [first.member_epoch, first.assignment],
               "m2": [second.member_epoch, second.assignment]}
    settle(conn, members)
    kill_coordinator(cluster, conn)
    # m2 is gone with the old coordinator's broker and never heartbeats again; its session
    # at the new coordinator started when it loaded the group.
    epoch, assignment = members["m1"]
    for _ in range(int(SESSION_MS / 1000 / 0.5) + 2):
        cluster.advance(0.5)
        answer = conn.consumer_group_heartbeat("g", "m1", epoch,
                                               owned_partitions=owned_of(assignment))
        epoch = answer.member_epoch
        assignment = assignment if answer.assignment is None else answer.assignment
    assert assignment == {"t": frozenset(range(4))}
    assert [m.member_id for m in conn.describe_consumer_group("g").members] == ["m1"]
    with pytest.raises(UnknownMemberIdError):
        conn.consumer_group_heartbeat("g", "m2", members["m2"][0])


class Member:
    """One member driven by the test: heartbeats with what it owns, reads its partitions and
    commits after each batch, with its member epoch."""

    def __init__(self, conn, member_id, positions):
        self.conn, self.member_id, self.positions = conn, member_id, positions
        self.epoch, self.owned = 0, {}
        self.processed: list[tuple[int, int]] = []

    def heartbeat(self, owners):
        try:
            if self.epoch == 0:
                answer = join(self.conn, self.member_id)
            else:
                answer = self.conn.consumer_group_heartbeat(
                    "g", self.member_id, self.epoch, owned_partitions=owned_of(self.owned))
        except (NotCoordinatorError, CoordinatorNotAvailableError):
            return  # retriable: the next round finds the coordinator
        except (FencedMemberEpochError, UnknownMemberIdError):
            self.release(owners, set(self._partitions()))
            self.epoch, self.owned = 0, {}
            return
        self.epoch = answer.member_epoch
        if answer.assignment is None:
            return
        now = {TopicPartition(t, p) for t, ps in answer.assignment.items() for p in ps}
        self.release(owners, set(self._partitions()) - now)
        for tp in now - set(self._partitions()):
            assert owners.get(tp) in (None, self.member_id), \
                f"{tp} given to {self.member_id} while {owners[tp]} owns it"
            owners[tp] = self.member_id
            committed = self.conn.committed("g", [tp])[tp]
            self.positions[tp] = 0 if committed is None else committed.offset
        self.owned = answer.assignment

    def release(self, owners, tps):
        for tp in tps:
            if owners.get(tp) == self.member_id:
                del owners[tp]

    def _partitions(self):
        return [TopicPartition(t, p) for t, ps in self.owned.items() for p in ps]

    def poll_and_commit(self):
        mine = {tp: self.positions[tp] for tp in self._partitions()}
        if not mine or self.epoch <= 0:
            return
        read = {tp: r for tp, r in self.conn.fetch(mine, max_records=5).items() if r.records}
        if not read:
            return
        ends = {tp: r.records[-1].offset + 1 for tp, r in read.items()}
        try:
            self.conn.commit_offsets("g", self.epoch, self.member_id, ends)
        except Exception:  # noqa: BLE001 - fenced or no coordinator: not processed yet
            return
        for tp, r in read.items():
            self.processed += [(tp.partition, rec.offset) for rec in r.records]
            self.positions[tp] = ends[tp]


def test_a_group_of_cluster_clients_carries_on_across_a_coordinator_kill(make_cluster):
    cluster, conn = consumer_cluster(make_cluster)
    for p in range(4):
        conn.append("t", p, [(None, f"{p}-{i}".encode()) for i in range(20)], acks="all")
    members = [Member(cluster.connect(), f"m{i}", {}) for i in range(3)]
    owners: dict[TopicPartition, str] = {}
    killed = False
    for _ in range(200):
        for member in members:
            member.heartbeat(owners)
            member.poll_and_commit()
        done = sum(len(m.processed) for m in members)
        if not killed and done >= 30:
            kill_coordinator(cluster, conn)
            killed = True
        if killed and done >= 80:
            break
        cluster.advance(0.05)
    processed = sorted(x for m in members for x in m.processed)
    assert killed and processed == sorted((p, o) for p in range(4) for o in range(20))
    committed = conn.committed("g", [TopicPartition("t", p) for p in range(4)])
    assert {tp.partition: c.offset for tp, c in committed.items()} == {p: 20 for p in range(4)}
    assert {m.member_id for m in conn.describe_consumer_group("g").members} == \
        {"m0", "m1", "m2"}


def test_an_upgraded_group_keeps_its_classic_member_at_the_new_coordinator(make_cluster):
    """A classic group that a ConsumerGroupHeartbeat turned into a consumer group (online
    migration, as on a lone broker) is restored as that consumer group, its classic member
    and its generation with it; the last consumer-protocol member leaving turns it back into
    a classic group, whose consumer group records are tombstoned."""
    cluster, conn = consumer_cluster(make_cluster)
    subscription = [("range", encode_subscription(["t"]))]

    def classic_join(member_id):
        return conn.join_group("g", member_id, protocols=subscription,
                               session_timeout_ms=10_000, rebalance_timeout_ms=10_000,
                               timeout=5)

    joined = classic_join(classic_join("").member_id)
    everything = encode_assignment([TopicPartition("t", p) for p in range(4)])
    conn.sync_group("g", joined.member_id, joined.generation,
                    assignments={joined.member_id: everything}, timeout=5)
    upgrade = join(conn, "m")
    assert upgrade.member_epoch == joined.generation + 1
    before = conn.describe_consumer_group("g")
    kill_coordinator(cluster, conn)
    after = conn.describe_consumer_group("g")
    assert sorted((m.member_id, m.member_type, m.member_epoch, m.assignment)
                  for m in after.members) == \
        sorted((m.member_id, m.member_type, m.member_epoch, m.assignment)
               for m in before.members)
    assert {m.member_type for m in after.members} == {"classic", "consumer"}
    assert conn.consumer_group_heartbeat("g", "m", upgrade.member_epoch,
                                         owned_partitions={}).member_epoch >= 0
    conn.consumer_group_heartbeat("g", "m", -1)  # the last consumer member: a downgrade
    assert stored_kinds(cluster) == []
    assert "g" in conn.list_groups() and "g" not in conn.consumer_group_states()
