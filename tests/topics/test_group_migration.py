"""Online migration between the classic and the consumer group protocols (KIP-848), on a broker.

Classic members are driven call by call (JoinGroup, SyncGroup, Heartbeat with ``timeout=0``),
consumer-protocol members by ConsumerGroupHeartbeat, on a hand-moved clock; the expected answers
are those of Kafka 4's ``GroupMetadataManager`` with ``group.consumer.migration.policy``
``bidirectional`` (its default) and the other policies.
"""

from __future__ import annotations

import threading

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.consumer_group_errors import GroupMaxSizeReachedError
from pcmodel.topics.consumer_protocol import (
    decode_assignment,
    decode_full_assignment,
    encode_assignment,
    encode_subscription,
)
from pcmodel.topics.coordinator import GroupState, HeartbeatStatus
from pcmodel.topics.errors import (
    GroupIdNotFoundError,
    IllegalArgumentError,
    IllegalGenerationError,
    InconsistentGroupProtocolError,
    MemberIdRequiredError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from pcmodel.topics.structs import TopicPartition
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(20)

ORDERS = [TopicPartition("orders", p) for p in range(4)]


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
        b.create_topic("orders", 4)
        yield b


def classic_join(broker, member_id="", owned=(), group="g", **options):
    options.setdefault("protocols", [("range", encode_subscription(["orders"], owned))])
    return broker.join_group(group, member_id, session_timeout_ms=10_000,
                             rebalance_timeout_ms=5_000, timeout=0, **options)


def classic_group(broker, members=2, group="g"):
    """A Stable classic group of ``members`` members, each owning its range of ``orders``;
    returns their ids (the leader first)."""
    ids: list[str] = []
    for _ in range(members):
        ids.append(classic_join(broker, group=group).member_id)
        for mid in ids[:-1]:
            classic_join(broker, mid, group=group)  # the others rejoin the new round
    described = broker.describe_group(group)
    share = len(ORDERS) // members
    plan = {mid: encode_assignment(ORDERS[i * share:(i + 1) * share])
            for i, mid in enumerate(ids)}
    ids.remove(described.leader)
    ids.insert(0, described.leader)
    broker.sync_group(group, ids[0], described.generation, assignments=plan, timeout=0)
    for mid in ids[1:]:
        broker.sync_group(group, mid, described.generation, timeout=0)
    assert broker.describe_group(group).state is GroupState.STABLE
    return ids


def consumer_join(broker, member="c", group="g"):
    return broker.consumer_group_heartbeat(group, member, 0, subscribed_topic_names=["orders"],
                                           owned_partitions={}, rebalance_timeout_ms=5_000)


def synced(broker, member_id, generation, group="g"):
    answer = broker.sync_group(group, member_id, generation, timeout=0)
    return sorted(tp.partition for tp in decode_assignment(answer.assignment))


def test_a_consumer_heartbeat_upgrades_a_classic_group_and_its_members_follow(broker):
    a, b = classic_group(broker)
    generation = broker.describe_group("g").generation
    broker.commit_offsets("g", generation, a, {ORDERS[0]: 7})
    joined = consumer_join(broker)
    # The classic generation became the group epoch; the new member raised it by one and
    # waits for the partitions the classic members still hold.
    assert joined.member_epoch == generation + 1 and joined.assignment == {}
    assert broker.consumer_group_states() == {"g": "Reconciling"}
    assert broker.group_states() == {}
    described = broker.describe_consumer_group("g")
    assert {m.member_id: m.member_type for m in described.members} == \
        {a: "classic", b: "classic", "c": "consumer"}
    assert {m.member_id: m.member_epoch for m in described.members if m.member_id != "c"} == \
        {a: generation, b: generation}
    # Classic members are told to rejoin; an eager one owns nothing when it does.
    assert broker.heartbeat("g", a, generation).status is HeartbeatStatus.REBALANCE_IN_PROGRESS
    with pytest.raises(RebalanceInProgressError):
        broker.sync_group("g", a, generation, timeout=0)
    answers = {mid: classic_join(broker, mid) for mid in (a, b)}
    assert all((j.generation, j.leader, j.members) == (generation + 1, "", ())
               for j in answers.values())
    assert answers[a].protocol_type == "consumer" and answers[a].protocol == "range"
    owned = {mid: synced(broker, mid, generation + 1) for mid in (a, b)}
    assert owned[a] and owned[b] and not set(owned[a]) & set(owned[b])
    assert broker.heartbeat("g", a, generation + 1).status is HeartbeatStatus.OK
    # The consumer member gets what they released, and no partition has two owners.
    final = broker.consumer_group_heartbeat("g", "c", joined.member_epoch, owned_partitions={})
    mine = sorted(final.assignment["orders"])
    assert sorted(owned[a] + owned[b] + mine) == [0, 1, 2, 3]
    assert broker.consumer_group_states() == {"g": "Stable"}
    # Offsets survived; a classic member commits with its generation, and an old one fails.
    assert broker.committed("g", [ORDERS[0]])[ORDERS[0]].offset == 7
    broker.commit_offsets("g", generation + 1, a, {ORDERS[1]: 3}, request_version=2)
    with pytest.raises(IllegalGenerationError):
        broker.commit_offsets("g", generation, a, {ORDERS[1]: 4}, request_version=2)
    assert broker.committed("g", [ORDERS[1]])[ORDERS[1]].offset == 3


def test_a_classic_join_still_waiting_is_told_to_rejoin_by_the_upgrade(broker):
    a, b = classic_group(broker)
    generation = broker.describe_group("g").generation
    outcome: list[BaseException] = []

    def rejoin() -> None:  # waits for b, which never rejoins this round
        try:
            broker.join_group("g", a, protocols=[("range", encode_subscription(["orders"]))],
                              session_timeout_ms=10_000, rebalance_timeout_ms=5_000,
                              timeout=10)
        except BaseException as exc:  # noqa: BLE001 - the outcome is what is tested
            outcome.append(exc)

    waiter = threading.Thread(target=rejoin)
    waiter.start()
    wait_until(lambda: broker.describe_group("g").state is GroupState.PREPARING_REBALANCE)
    consumer_join(broker)
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert [type(exc) for exc in outcome] == [RebalanceInProgressError]
    # Its next JoinGroup is answered at once, by the consumer group.
    assert classic_join(broker, a).generation == generation + 1


def test_the_last_consumer_member_leaving_downgrades_the_group(broker, clock):
    a, b = classic_group(broker)
    generation = broker.describe_group("g").generation
    consumer_join(broker)
    epoch = generation + 1
    for mid in (a, b):
        classic_join(broker, mid)
        synced(broker, mid, epoch)
    broker.consumer_group_heartbeat("g", "c", epoch, owned_partitions={})
    broker.commit_offsets("g", epoch, a, {ORDERS[2]: 9})
    broker.consumer_group_heartbeat("g", "c", -1)
    # A classic group again, at the group epoch, rebalancing so a leader assigns c's share.
    assert broker.consumer_group_states() == {}
    described = broker.describe_group("g")
    assert (described.state, described.generation, described.protocol_type) == \
        (GroupState.PREPARING_REBALANCE, epoch, "consumer")
    assert {m.member_id for m in described.members} == {a, b}
    assert broker.heartbeat("g", a, epoch).status is HeartbeatStatus.REBALANCE_IN_PROGRESS
    first = classic_join(broker, a)
    assert first.pending
    second = classic_join(broker, b)
    assert second.generation == epoch + 1 and second.leader in (a, b)
    assert broker.committed("g", [ORDERS[2]])[ORDERS[2]].offset == 9


def test_a_session_expiry_of_the_last_consumer_member_downgrades_too(broker, clock):
    a, b = classic_group(broker)
    generation = broker.describe_group("g").generation
    consumer_join(broker)
    clock.now += 5
    for mid in (a, b):
        broker.heartbeat("g", mid, generation)
    clock.now += 6  # c's 10 s session is over; a's and b's are not
    assert broker.consumer_group_states() == {}
    assert broker.describe_group("g").state is GroupState.PREPARING_REBALANCE


@pytest.mark.parametrize("policy", ["disabled", "downgrade"])
def test_a_policy_without_upgrade_refuses_the_heartbeat(broker, policy):
    broker.group_consumer_migration_policy = policy
    classic_group(broker)
    with pytest.raises(GroupIdNotFoundError, match="online upgrade is disabled"):
        consumer_join(broker)
    assert broker.describe_group("g").state is GroupState.STABLE  # untouched


@pytest.mark.parametrize("policy", ["disabled", "upgrade"])
def test_a_policy_without_downgrade_keeps_a_consumer_group_of_classic_members(broker, policy):
    broker.group_consumer_migration_policy = "bidirectional"
    a, b = classic_group(broker)
    consumer_join(broker)
    broker.group_consumer_migration_policy = policy
    broker.consumer_group_heartbeat("g", "c", -1)
    assert broker.consumer_group_states() == {"g": "Assigning"}
    assert {m.member_type for m in broker.describe_consumer_group("g").members} == {"classic"}


def test_the_classic_max_size_refuses_a_downgrade(broker):
    a, b = classic_group(broker)
    consumer_join(broker)
    broker.group_classic_max_size = 1
    broker.consumer_group_heartbeat("g", "c", -1)
    assert broker.consumer_group_states() == {"g": "Assigning"}


def test_a_group_larger_than_the_consumer_max_size_is_not_upgraded(clock):
    with Broker(clock=clock, group_consumer_max_size=2) as broker:
        broker.create_topic("orders", 4)
        classic_group(broker, members=3)
        with pytest.raises(GroupIdNotFoundError, match="group.consumer.max.size"):
            consumer_join(broker)
        assert broker.describe_group("g").state is GroupState.STABLE


def test_a_full_group_refuses_the_upgrading_member_and_stays_classic(clock):
    with Broker(clock=clock, group_consumer_max_size=2) as broker:
        broker.create_topic("orders", 4)
        classic_group(broker, members=2)
        with pytest.raises(GroupMaxSizeReachedError):
            consumer_join(broker)
        assert broker.describe_group("g").state is GroupState.STABLE


def test_a_classic_group_of_another_protocol_type_is_not_upgraded(broker):
    broker.join_group("g", "", protocols=[("p", b"x")], protocol_type="connect", timeout=0)
    with pytest.raises(GroupIdNotFoundError, match="'connect'"):
        consumer_join(broker)


def test_a_classic_member_of_another_protocol_type_cannot_join_a_consumer_group(broker):
    consumer_join(broker)
    with pytest.raises(InconsistentGroupProtocolError):
        classic_join(broker, protocol_type="connect")
    with pytest.raises(InconsistentGroupProtocolError):
        classic_join(broker, protocols=[("range", b"not a subscription")])


def test_a_classic_consumer_joins_a_consumer_group(broker):
    consumer_join(broker)
    with pytest.raises(MemberIdRequiredError) as required:
        classic_join(broker, require_known_member_id=True)
    member_id = required.value.member_id
    joined = classic_join(broker, member_id)
    assert joined.member_id == member_id and joined.generation == 2
    assert synced(broker, member_id, 2) == []  # c still holds them all
    assert broker.heartbeat("g", member_id, 2).status is HeartbeatStatus.OK
    revoke = broker.consumer_group_heartbeat("g", "c", 1, owned_partitions={"orders": [0, 1, 2, 3]})
    kept = sorted(revoke.assignment["orders"])
    broker.consumer_group_heartbeat("g", "c", 1, owned_partitions={"orders": kept})
    # Its partitions were released: the heartbeat sends it to JoinGroup to take them.
    assert broker.heartbeat("g", member_id, 2).status is HeartbeatStatus.REBALANCE_IN_PROGRESS
    classic_join(broker, member_id)
    got = synced(broker, member_id, 2)
    assert sorted(got + kept) == [0, 1, 2, 3] and got
    broker.leave_group("g", member_id)
    with pytest.raises(UnknownMemberIdError):
        broker.leave_group("g", member_id)
    with pytest.raises(UnknownMemberIdError):
        broker.leave_group("g", "c")  # c speaks the consumer protocol


def test_a_classic_member_that_does_not_rejoin_in_time_is_removed(broker, clock):
    a, b = classic_group(broker)
    generation = broker.describe_group("g").generation
    consumer_join(broker)
    assert broker.heartbeat("g", a, generation).status is \
        HeartbeatStatus.REBALANCE_IN_PROGRESS
    broker.heartbeat("g", b, generation)
    clock.now += 5.5  # past a's and b's 5 s rebalance timeout, within their sessions
    members = {m.member_id for m in broker.describe_consumer_group("g").members}
    assert members == {"c"}


def test_the_migration_policy_is_checked(broker):
    assert broker.group_consumer_migration_policy == "bidirectional"
    broker.group_consumer_migration_policy = "UPGRADE"
    assert broker.group_consumer_migration_policy == "upgrade"
    with pytest.raises(IllegalArgumentError, match="bidirectional"):
        broker.group_consumer_migration_policy = "sideways"
    with pytest.raises(IllegalArgumentError):
        broker.group_classic_max_size = 0
    assert broker.group_consumer_migration_policy == "upgrade"


def test_the_sync_answer_keeps_the_members_subscription_version(broker):
    consumer_join(broker)
    subscription = b"\x00\x00" + encode_subscription(["orders"])[2:]  # version 0
    joined = classic_join(broker, protocols=[("range", subscription)])
    answer = broker.sync_group("g", joined.member_id, joined.generation, timeout=0)
    assert decode_full_assignment(answer.assignment).version == 0


def test_a_cooperative_classic_member_revokes_through_rejoins_without_a_revocation_timeout(
        broker, clock):
    (a,) = classic_group(broker, members=1)
    generation = broker.describe_group("g").generation
    consumer_join(broker)
    every = ORDERS
    assert broker.heartbeat("g", a, generation).status is HeartbeatStatus.REBALANCE_IN_PROGRESS
    clock.now += 4
    # It still owns all four (a cooperative client says so): it must first give two up.
    joined = classic_join(broker, a, owned=every)
    assert joined.generation == generation  # still at its epoch, revoking
    kept = synced(broker, a, generation)
    assert len(kept) == 2
    assert broker.heartbeat("g", a, generation).status is HeartbeatStatus.REBALANCE_IN_PROGRESS
    clock.now += 2  # past its 5 s rebalance timeout since it was told to revoke, yet it rejoined
    assert a in {m.member_id for m in broker.describe_consumer_group("g").members}
    done = classic_join(broker, a, owned=[ORDERS[p] for p in kept])
    assert done.generation == generation + 1 and synced(broker, a, generation + 1) == kept


def test_a_consumer_protocol_member_takes_the_place_of_a_classic_static_member(broker):
    joined = classic_join(broker, group_instance_id="i1")
    leader = joined.member_id
    broker.sync_group("g", leader, joined.generation, timeout=0,
                      assignments={leader: encode_assignment(ORDERS)})
    consumer_join(broker, "c")
    back = broker.consumer_group_heartbeat(
        "g", "restarted", 0, instance_id="i1", subscribed_topic_names=["orders"],
        owned_partitions={}, rebalance_timeout_ms=5_000)
    assert back.member_id == "restarted"
    types = {m.member_id: (m.instance_id, m.member_type)
             for m in broker.describe_consumer_group("g").members}
    assert types == {"c": (None, "consumer"), "restarted": ("i1", "consumer")}


def test_a_classic_static_member_replacing_the_last_consumer_member_downgrades(broker):
    (a,) = classic_group(broker, members=1)
    generation = broker.describe_group("g").generation
    broker.consumer_group_heartbeat("g", "c", 0, instance_id="ic",
                                    subscribed_topic_names=["orders"], owned_partitions={},
                                    rebalance_timeout_ms=5_000)
    classic_join(broker, a)
    synced(broker, a, generation + 1)
    target = {m.member_id: m.target_assignment["orders"]
              for m in broker.describe_consumer_group("g").members}
    joined = classic_join(broker, group_instance_id="ic")  # c restarted as a classic client
    assert broker.consumer_group_states() == {}
    described = broker.describe_group("g")
    assert (described.state, described.generation) == (GroupState.STABLE, generation + 1)
    assert joined.generation == generation + 1 and joined.leader == ""
    assert synced(broker, joined.member_id, joined.generation) == sorted(target["c"])


def test_a_classic_sync_still_waiting_is_told_to_rejoin_by_the_upgrade(broker):
    a = classic_join(broker).member_id
    b = classic_join(broker).member_id
    led = classic_join(broker, a)  # the round completes: both wait for a's assignment
    classic_join(broker, b)  # b picks its answer up
    outcome: list[BaseException] = []

    def follow() -> None:
        try:
            broker.sync_group("g", b, led.generation, timeout=10)
        except BaseException as exc:  # noqa: BLE001 - the outcome is what is tested
            outcome.append(exc)

    follower = threading.Thread(target=follow)
    follower.start()
    wait_until(lambda: broker._groups["g"].members[b].awaiting_sync)
    consumer_join(broker)
    follower.join(timeout=10)
    assert not follower.is_alive()
    assert [type(exc) for exc in outcome] == [RebalanceInProgressError]


def test_a_commit_that_finds_the_group_downgraded_is_judged_by_the_classic_group(broker, clock):
    a, b = classic_group(broker)
    generation = broker.describe_group("g").generation
    consumer_join(broker)
    clock.now += 5
    classic_join(broker, a)  # a caught up with the group epoch; b did not
    synced(broker, a, generation + 1)
    broker.heartbeat("g", b, generation)
    clock.now += 6  # c's session ends: the commits find a classic group, rebalancing
    broker.commit_offsets("g", generation + 1, a, {ORDERS[0]: 1})
    with pytest.raises(IllegalGenerationError):
        broker.commit_offsets("g", generation, b, {ORDERS[1]: 1})
    assert broker.describe_group("g").state is GroupState.PREPARING_REBALANCE
    assert broker.committed("g", [ORDERS[0]])[ORDERS[0]].offset == 1
