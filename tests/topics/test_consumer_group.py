"""Kafka 4's consumer groups (KIP-848) on the broker: epochs, reconciliation, fencing, expiry.

Each heartbeat is one call on a hand-moved clock, as a consumer with ``group.protocol=consumer``
sends them; the expected answers are those of Kafka 4's ``GroupMetadataManager``.
"""

from __future__ import annotations

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.consumer_group_assignors import MemberSpec, range_assign, uniform_assign
from pcmodel.topics.consumer_group_errors import (
    FencedMemberEpochError,
    GroupMaxSizeReachedError,
    InvalidRegularExpressionError,
    StaleMemberEpochError,
    UnreleasedInstanceIdError,
    UnsupportedAssignorError,
)
from pcmodel.topics.errors import (
    FencedInstanceIdError,
    GroupIdNotFoundError,
    GroupNotEmptyError,
    IllegalGenerationError,
    InconsistentGroupProtocolError,
    InvalidRequestError,
    UnknownMemberIdError,
    UnsupportedVersionError,
)
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(20)


class Clock:
    """The broker's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def broker(clock):
    with Broker(clock=clock, group_consumer_session_timeout_ms=10_000) as b:
        b.create_topic("orders", 6)
        yield b


def join(broker, member, topics=("orders",), group="g", **options):
    options.setdefault("rebalance_timeout_ms", 5_000)
    return broker.consumer_group_heartbeat(group, member, 0, subscribed_topic_names=list(topics),
                                           owned_partitions={}, **options)


def beat(broker, member, epoch, owned=None, group="g", **options):
    return broker.consumer_group_heartbeat(group, member, epoch, owned_partitions=owned,
                                           **options)


def parts(answer, topic="orders"):
    return sorted(answer.assignment.get(topic, ()))


def test_a_lone_member_gets_every_partition_at_epoch_one(broker):
    answer = join(broker, "a")
    assert (answer.member_id, answer.member_epoch, answer.heartbeat_interval_ms) == ("a", 1, 5000)
    assert parts(answer) == [0, 1, 2, 3, 4, 5]
    assert broker.describe_consumer_group("g").state == "Stable"


def test_a_v0_member_without_id_is_given_one(broker):
    answer = join(broker, "")
    assert len(answer.member_id) == 36 and answer.member_epoch == 1


def test_a_partition_moves_only_after_its_old_owner_revoked_it(broker):
    a = join(broker, "a")
    b = join(broker, "b")
    # b is at the new epoch but gets nothing: a still holds every partition (unreleased).
    assert (b.member_epoch, b.assignment) == (2, {})
    assert broker.describe_consumer_group("g").state == "Reconciling"
    # a is asked to revoke half, and stays at its epoch until it has.
    a = beat(broker, "a", 1, owned={"orders": [0, 1, 2, 3, 4, 5]})
    assert a.member_epoch == 1 and parts(a) == [0, 1, 2]
    b = beat(broker, "b", 2, owned={})
    assert b.assignment is None  # still nothing for b: a has not confirmed
    a = beat(broker, "a", 1, owned={"orders": [0, 1, 2, 3, 4, 5]})
    assert a.member_epoch == 1 and a.assignment is None  # still owns them: no progress
    a = beat(broker, "a", 1, owned={"orders": [0, 1, 2]})
    assert a.member_epoch == 2
    b = beat(broker, "b", 2, owned={})
    assert parts(b) == [3, 4, 5]
    assert broker.describe_consumer_group("g").state == "Stable"


def test_the_group_epoch_rises_with_joins_leaves_and_topic_changes(broker):
    join(broker, "a")
    assert broker.describe_consumer_group("g").group_epoch == 1
    broker.create_topic("audit", 2)
    a = broker.consumer_group_heartbeat("g", "a", 1, subscribed_topic_names=["orders", "audit"])
    assert a.member_epoch == 2 and parts(a, "audit") == [0, 1]
    broker.delete_topic("audit")
    a = beat(broker, "a", 2, owned={"orders": list(range(6)), "audit": [0, 1]})
    # The deleted topic's partitions are revoked first, at the member's epoch.
    assert a.member_epoch == 2 and "audit" not in a.assignment
    a = beat(broker, "a", 2, owned={"orders": list(range(6))})
    assert a.member_epoch == 3
    broker.add_partitions("orders", 8)
    a = beat(broker, "a", 3, owned={"orders": list(range(6))})
    assert a.member_epoch == 4 and parts(a) == list(range(8))


def test_a_regex_subscription_follows_the_topics_created(broker):
    a = broker.consumer_group_heartbeat("g", "a", 0, rebalance_timeout_ms=5000,
                                        subscribed_topic_regex="ord.*", owned_partitions={})
    assert parts(a) == list(range(6))
    broker.create_topic("orders-eu", 1)
    broker.create_topic("xorders", 1)  # the regex must match the whole name
    a = beat(broker, "a", 1, owned={"orders": list(range(6))})
    assert set(a.assignment) == {"orders", "orders-eu"}
    with pytest.raises(InvalidRegularExpressionError):
        broker.consumer_group_heartbeat("g", "b", 0, rebalance_timeout_ms=5000,
                                        subscribed_topic_regex="(", owned_partitions={})


def test_leaving_frees_the_partitions_for_the_others(broker):
    join(broker, "a")
    join(broker, "b")
    beat(broker, "a", 1, owned={"orders": list(range(6))})
    beat(broker, "a", 1, owned={"orders": [0, 1, 2]})
    beat(broker, "b", 2, owned={})
    left = beat(broker, "b", -1)
    assert (left.member_id, left.member_epoch) == ("b", -1)
    a = beat(broker, "a", 2, owned={"orders": [0, 1, 2]})
    assert a.member_epoch == 3 and parts(a) == list(range(6))
    with pytest.raises(UnknownMemberIdError):
        beat(broker, "b", 2)


def test_a_silent_member_is_removed_after_its_session_timeout(broker, clock):
    join(broker, "a")
    join(broker, "b")
    clock.now += 9.9
    beat(broker, "b", 2, owned={})  # b stays alive, a does not beat
    clock.now += 0.2
    b = beat(broker, "b", 2, owned={})
    assert b.member_epoch == 3 and parts(b) == list(range(6))
    with pytest.raises(UnknownMemberIdError):
        beat(broker, "a", 1, owned={})


def test_a_member_that_does_not_revoke_in_its_rebalance_timeout_is_removed(broker, clock):
    join(broker, "a", rebalance_timeout_ms=2_000)
    join(broker, "b")
    beat(broker, "a", 1, owned={"orders": list(range(6))})  # told to revoke 3: the clock starts
    for _ in range(2):  # a keeps beating (its session is alive) but never lets go
        clock.now += 0.9
        assert beat(broker, "a", 1, owned={"orders": list(range(6))}).member_epoch == 1
        beat(broker, "b", 2, owned={})
    clock.now += 0.3  # 2.1 s since it was told to revoke
    assert parts(beat(broker, "b", 2, owned={})) == list(range(6))
    with pytest.raises(UnknownMemberIdError):
        beat(broker, "a", 1, owned={"orders": list(range(6))})


def test_wrong_epochs_are_fenced_except_one_lost_answer(broker):
    join(broker, "a")
    join(broker, "b")
    beat(broker, "a", 1, owned={"orders": list(range(6))})
    beat(broker, "a", 1, owned={"orders": [0, 1, 2]})  # now epoch 2, previous 1
    with pytest.raises(FencedMemberEpochError):
        beat(broker, "a", 3, owned={"orders": [0, 1, 2]})
    # The answer that moved a to epoch 2 was lost: epoch 1 with a subset is accepted.
    assert beat(broker, "a", 1, owned={"orders": [0, 1]}).member_epoch == 2
    with pytest.raises(FencedMemberEpochError):
        beat(broker, "a", 1, owned={"orders": [0, 5]})  # owns what it should not
    with pytest.raises(FencedMemberEpochError):
        beat(broker, "b", 1, owned={})


def test_a_fenced_member_rejoins_with_epoch_zero_and_its_id(broker):
    # A member answered FENCED_MEMBER_EPOCH drops its partitions and rejoins with epoch 0 and
    # the same member id; it must not be fenced again until its session ends.
    join(broker, "a")
    join(broker, "b")
    a = beat(broker, "a", 1, owned={"orders": list(range(6))})
    assert (a.member_epoch, parts(a)) == (1, [0, 1, 2])  # to revoke 3, 4, 5
    with pytest.raises(FencedMemberEpochError):
        beat(broker, "a", 7, owned={"orders": list(range(6))})
    a = join(broker, "a")
    assert (a.member_epoch, parts(a)) == (2, [0, 1, 2])
    # Rejoining, it said it owns nothing: what it had to revoke is released.
    assert parts(beat(broker, "b", 2, owned={})) == [3, 4, 5]
    assert broker.describe_consumer_group("g").state == "Stable"


def test_a_static_member_leaves_with_minus_two_and_takes_its_place_again(broker):
    join(broker, "a1", instance_id="host-a")
    join(broker, "b", instance_id=None)
    beat(broker, "a1", 1, owned={"orders": list(range(6))}, instance_id="host-a")
    beat(broker, "a1", 1, owned={"orders": [0, 1, 2]}, instance_id="host-a")
    beat(broker, "b", 2, owned={})
    with pytest.raises(UnreleasedInstanceIdError):
        join(broker, "a2", instance_id="host-a")
    gone = beat(broker, "a1", -2, instance_id="host-a")
    assert gone.member_epoch == -2
    back = join(broker, "a2", instance_id="host-a")
    # Same partitions, no rebalance: the group epoch did not move.
    assert back.member_id == "a2" and parts(back) == [0, 1, 2]
    assert broker.describe_consumer_group("g").group_epoch == 2
    with pytest.raises(FencedInstanceIdError):
        beat(broker, "a1", 2, instance_id="host-a")


def test_malformed_heartbeats_are_invalid_requests(broker):
    cases = [
        dict(member_id="a", member_epoch=0, rebalance_timeout_ms=-1,
             subscribed_topic_names=["orders"], owned_partitions={}),
        dict(member_id="a", member_epoch=0, rebalance_timeout_ms=1,
             subscribed_topic_names=["orders"], owned_partitions={"orders": [0]}),
        dict(member_id="a", member_epoch=0, rebalance_timeout_ms=1, owned_partitions={}),
        dict(member_id="", member_epoch=3),
        dict(member_id="a", member_epoch=-3),
        dict(member_id="a", member_epoch=-2),  # a static leave without an instance id
        dict(member_id="a", member_epoch=1, instance_id=""),
    ]
    for case in cases:
        with pytest.raises(InvalidRequestError):
            broker.consumer_group_heartbeat("g", **case)
    with pytest.raises(UnsupportedAssignorError):
        join(broker, "a", server_assignor="sticky")
    with pytest.raises(GroupIdNotFoundError):
        beat(broker, "a", 1)
    assert broker.list_groups() == []  # nothing refused left a group behind


def test_the_range_assignor_when_members_name_it(broker):
    join(broker, "b", server_assignor="range")
    join(broker, "a", server_assignor="range")
    desc = broker.describe_consumer_group("g")
    assert desc.assignor_name == "range"
    targets = {m.member_id: sorted(m.target_assignment["orders"]) for m in desc.members}
    assert targets == {"a": [0, 1, 2], "b": [3, 4, 5]}


def test_assignors_match_kafka_on_simple_groups():
    two = {"m1": MemberSpec(frozenset({"t", "u"})), "m2": MemberSpec(frozenset({"t", "u"}))}
    topics = {"t": 3, "u": 3}
    assert range_assign(two, topics, {}) == {
        "m1": {"t": frozenset({0, 1}), "u": frozenset({0, 1})},
        "m2": {"t": frozenset({2}), "u": frozenset({2})},
    }
    fresh = uniform_assign(two, topics, {})
    assert sorted(sum(map(len, a.values())) for a in fresh.values()) == [3, 3]
    # Sticky: a third member takes two partitions, the others keep the rest of theirs.
    three = dict(two, m3=MemberSpec(frozenset({"t", "u"})))
    after = uniform_assign(three, topics, fresh)
    for member in ("m1", "m2"):
        for topic, partitions in after[member].items():
            assert partitions <= fresh[member].get(topic, frozenset())
    assert sorted(sum(map(len, a.values())) for a in after.values()) == [2, 2, 2]


def test_commits_carry_the_member_epoch(broker):
    join(broker, "a")
    tp = TopicPartition("orders", 0)
    broker.commit_offsets("g", 1, "a", {tp: 7}, request_version=9)
    assert broker.committed("g", [tp])[tp].offset == 7
    with pytest.raises(StaleMemberEpochError):
        broker.commit_offsets("g", 0, "a", {tp: 8}, request_version=9)
    with pytest.raises(UnknownMemberIdError):
        broker.commit_offsets("g", 1, "zz", {tp: 8}, request_version=9)
    with pytest.raises(UnsupportedVersionError):
        broker.commit_offsets("g", 1, "a", {tp: 8}, request_version=8)
    with pytest.raises(StaleMemberEpochError):
        broker.check_offset_fetch("g", "a", 5)
    broker.check_offset_fetch("g", None, -1)  # an admin's fetch
    beat(broker, "a", -1)
    broker.commit_offsets("g", -1, "", {tp: 9})  # empty: a commit outside the group
    assert broker.all_committed("g")[tp].offset == 9


def test_a_restarted_group_keeps_its_offsets_and_can_be_deleted_when_empty(broker):
    join(broker, "a")
    tp = TopicPartition("orders", 2)
    broker.commit_offsets("g", 1, "a", {tp: 3}, request_version=9)
    with pytest.raises(GroupNotEmptyError):
        broker.delete_group("g")
    beat(broker, "a", -1)
    assert broker.consumer_group_states() == {"g": "Empty"}
    again = join(broker, "a2")
    assert again.member_epoch == 3 and broker.committed("g", [tp])[tp].offset == 3
    beat(broker, "a2", -1)
    broker.delete_group("g")
    assert broker.list_groups() == [] and broker.committed("g", [tp]) == {tp: None}


def test_classic_members_that_are_no_consumers_do_not_mix_with_a_consumer_group(broker):
    join(broker, "a")
    with pytest.raises(InconsistentGroupProtocolError):
        broker.join_group("g", "", protocols=[("range", b"")], timeout=0)
    with pytest.raises(GroupIdNotFoundError):
        broker.describe_group("g")
    assert broker.group_states() == {}
    broker.join_group("c", "", protocols=[("range", b"")], timeout=0)
    with pytest.raises(GroupIdNotFoundError):
        join(broker, "x", group="c")
    with pytest.raises(GroupIdNotFoundError):
        broker.describe_consumer_group("c")
    # An empty consumer group gives way to a classic member, and its offsets stay.
    tp = TopicPartition("orders", 0)
    broker.commit_offsets("g", 1, "a", {tp: 4}, request_version=9)
    beat(broker, "a", -1)
    joined = broker.join_group("g", "", protocols=[("range", b"")], timeout=0)
    assert joined.member_id and broker.consumer_group_states() == {}
    assert broker.committed("g", [tp])[tp].offset == 4


def test_the_group_max_size_refuses_a_new_member(clock):
    with Broker(clock=clock, group_consumer_max_size=1) as broker:
        broker.create_topic("orders", 1)
        join(broker, "a")
        with pytest.raises(GroupMaxSizeReachedError):
            join(broker, "b")
        assert beat(broker, "a", 1).member_epoch == 1  # the member inside is not refused


def test_uniform_balances_members_with_different_subscriptions():
    members = {"m1": MemberSpec(frozenset({"t"})), "m2": MemberSpec(frozenset({"t", "u"}))}
    topics = {"t": 2, "u": 2}
    result = uniform_assign(members, topics, {})
    every = sorted((t, p) for a in result.values() for t, ps in a.items() for p in ps)
    assert every == [("t", 0), ("t", 1), ("u", 0), ("u", 1)]  # each partition once
    assert "u" not in result["m1"]  # only to a member that subscribes
    assert sorted(sum(map(len, a.values())) for a in result.values()) == [2, 2]


def test_offsets_expire_as_a_consumer_groups_do(clock):
    wall = [1_000_000]
    week = 7 * 24 * 3600 * 1000
    with Broker(clock=clock, timestamp_clock=lambda: wall[0]) as broker:
        broker.create_topic("orders", 1)
        broker.create_topic("audit", 1)
        join(broker, "a")
        orders, audit = TopicPartition("orders", 0), TopicPartition("audit", 0)
        broker.commit_offsets("g", 1, "a", {orders: 1, audit: 1}, request_version=9)
        # A week on: the offset of a topic a member subscribes to stays, the other goes.
        expired = broker.expire_offsets(wall[0] + week)
        assert expired["g"].partitions == (audit,)
        assert broker.committed("g", [orders, audit]) == {
            orders: broker.committed("g", [orders])[orders], audit: None}
        beat(broker, "a", -1)
        # Empty: counted from its commit, not from when the group emptied; then it is gone.
        assert broker.expire_offsets(wall[0] + week - 1) == {}
        expired = broker.expire_offsets(wall[0] + week)
        assert expired["g"].partitions == (orders,) and expired["g"].group_deleted
        assert broker.list_groups() == []


def test_txn_offset_commit_checks_the_member_and_its_epoch(broker):
    """KIP-447 with a consumer group: the transactional commit is checked by the consumer
    group, as Kafka's ``validateTransactionalOffsetCommit`` checks it (a stale epoch is
    ILLEGAL_GENERATION), and the offsets become the group's when the transaction commits."""
    join(broker, "a")
    tp = TopicPartition("orders", 0)
    producer_id, epoch = broker.init_producer_id(transactional_id="txn")
    broker.add_offsets_to_txn("txn", producer_id, epoch, "g")

    def txn_commit(member, member_epoch, offset=7):
        broker.txn_offset_commit("txn", "g", producer_id, epoch, {tp: offset},
                                 generation=member_epoch, member_id=member)

    with pytest.raises(UnknownMemberIdError):
        txn_commit("who", 1)
    with pytest.raises(IllegalGenerationError, match="member epoch"):
        txn_commit("a", 2)
    with pytest.raises(UnknownMemberIdError):  # -1 passes only while the group is empty
        txn_commit("", -1)
    txn_commit("a", 1)
    assert broker.committed("g", [tp]) == {tp: None}  # staged, not yet committed
    broker.end_txn("txn", producer_id, epoch, commit=True)
    assert broker.committed("g", [tp])[tp].offset == 7
