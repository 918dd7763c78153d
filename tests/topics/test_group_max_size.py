"""A classic group holds at most ``group_classic_max_size`` members (Kafka's ``group.max.size``).

Kafka's ``GroupMetadataManager.acceptJoiningMember`` decides: a full ``Stable`` group refuses a
new member with GROUP_MAX_SIZE_REACHED; in a round, only as many members as the bound may
rejoin, and one that comes later is removed from the group; a group loaded over the bound
rebalances at once. The consumer raises ``GroupMaxSizeReachedError`` from ``poll()``, as the
Java client and kafka-python raise it from the JoinGroup answer.
"""

from __future__ import annotations

import pytest

from pcmodel.topics.broker import Broker, GroupState, HeartbeatStatus
from pcmodel.topics.consumer_group_errors import GroupMaxSizeReachedError
from pcmodel.topics.consumer_protocol import encode_assignment, encode_subscription
from pcmodel.topics.structs import TopicPartition
from tests.topics.conftest import FakeClock, group_settled, wait_until

pytestmark = pytest.mark.timeout(20)

ORDERS = [TopicPartition("orders", p) for p in range(4)]


def classic_join(broker, member_id=""):
    return broker.join_group("g", member_id, protocols=[("range", encode_subscription(["orders"]))],
                             session_timeout_ms=10_000, rebalance_timeout_ms=5_000, timeout=0)


def stable_group(broker, members):
    """A ``Stable`` group of ``members`` members; returns their ids, the leader first."""
    ids: list[str] = []
    for _ in range(members):
        ids.append(classic_join(broker).member_id)
        for mid in ids[:-1]:
            classic_join(broker, mid)  # the others rejoin the new round
    described = broker.describe_group("g")
    ids.remove(described.leader)
    ids.insert(0, described.leader)
    plan = {mid: encode_assignment(ORDERS[i::members]) for i, mid in enumerate(ids)}
    broker.sync_group("g", ids[0], described.generation, assignments=plan, timeout=0)
    for mid in ids[1:]:
        broker.sync_group("g", mid, described.generation, timeout=0)
    assert broker.describe_group("g").state is GroupState.STABLE
    return ids


@pytest.fixture
def clock():
    return FakeClock()


def make_broker(clock, **settings):
    broker = Broker(clock=clock, **settings)
    broker.create_topic("orders", 4)
    return broker


def test_a_full_stable_group_refuses_a_new_member_and_keeps_its_own(clock):
    with make_broker(clock, group_classic_max_size=2) as broker:
        a, b = stable_group(broker, 2)
        generation = broker.describe_group("g").generation
        with pytest.raises(GroupMaxSizeReachedError, match="group_classic_max_size"):
            classic_join(broker)
        described = broker.describe_group("g")
        assert described.state is GroupState.STABLE and described.generation == generation
        assert sorted(m.member_id for m in described.members) == sorted([a, b])
        # Its members still rejoin (a full group takes its own members).
        assert classic_join(broker, a).pending


def test_without_a_bound_a_group_takes_every_member(clock):
    with make_broker(clock) as broker:
        stable_group(broker, 2)
        assert classic_join(broker).pending  # a third member: a new round starts


def test_a_round_keeps_the_first_members_to_rejoin_and_removes_a_later_one(clock):
    with make_broker(clock) as broker:
        a, b, c = stable_group(broker, 3)
        generation = broker.describe_group("g").generation
        broker.group_classic_max_size = 2  # lowered below the group's size
        assert classic_join(broker, a).pending  # the round starts
        assert classic_join(broker, b).pending  # the round waits for c
        with pytest.raises(GroupMaxSizeReachedError):
            classic_join(broker, c)
        # c was removed, so a and b were every member left: the round completed without it.
        described = broker.describe_group("g")
        assert described.state is GroupState.COMPLETING_REBALANCE
        assert described.generation == generation + 1
        assert sorted(m.member_id for m in described.members) == sorted([a, b])
        assert broker.heartbeat("g", c, generation).status is HeartbeatStatus.UNKNOWN_MEMBER


def test_a_group_loaded_over_the_bound_rebalances_and_shrinks_to_it(clock):
    with make_broker(clock) as first:
        ids = stable_group(first, 3)
        record = first.group_metadata("g")
    with make_broker(clock, group_classic_max_size=2) as broker:
        assert broker.load_group(record)
        described = broker.describe_group("g")
        assert described.state is GroupState.PREPARING_REBALANCE
        generation = described.generation
        assert classic_join(broker, ids[0]).pending
        assert classic_join(broker, ids[1]).pending
        with pytest.raises(GroupMaxSizeReachedError):
            classic_join(broker, ids[2])
        described = broker.describe_group("g")
        assert described.generation == generation + 1
        assert sorted(m.member_id for m in described.members) == sorted(ids[:2])


def test_a_group_loaded_within_the_bound_stays_stable(clock):
    with make_broker(clock) as first:
        stable_group(first, 2)
        record = first.group_metadata("g")
    with make_broker(clock, group_classic_max_size=2) as broker:
        assert broker.load_group(record)
        assert broker.describe_group("g").state is GroupState.STABLE


def test_the_consumer_raises_group_max_size_reached_from_poll(broker, make_consumer):
    broker.create_topic("t", 2)
    broker.group_classic_max_size = 1
    first = make_consumer("t", group_id="g")
    wait_until(lambda: first.poll(timeout_ms=20) == {} and len(first.assignment()) == 2)
    second = make_consumer("t", group_id="g")
    with pytest.raises(GroupMaxSizeReachedError, match="maximum number of members"):
        second.poll(timeout_ms=0)
    assert second.assignment() == set()
    # The group is untouched: the first member keeps everything.
    assert group_settled(broker, "g", 1)()
    assert first.poll(timeout_ms=0) == {} and len(first.assignment()) == 2
