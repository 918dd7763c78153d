"""The classic group coordinator answers as Apache Kafka 4's does, in Kafka's order of checks.

* ``GroupCoordinatorService.joinGroup`` refuses a session timeout out of bounds (a negative one
  included) with INVALID_SESSION_TIMEOUT right after the group id, before it looks at the
  group: before GROUP_MAX_SIZE_REACHED, which would also remove a member of a full round.
* ``ClassicGroup.supportsProtocols``, as ``classicGroupJoinExistingMember`` calls it, counts
  every member as it is before the join, the joiner included: a rejoining member must share
  the group's protocol type and a protocol all of them support now.
* ``OffsetDelete`` keeps the offsets of the topics ``ClassicGroup.isSubscribedToTopic`` names:
  during a rebalance those of the generation before it (computed by ``initNextGeneration``),
  and every topic before the group's first generation.
* ``classicGroupLeaveToClassicGroup`` lets a member told MEMBER_ID_REQUIRED leave before it
  checks the instance id the request names.
* OffsetDelete and offsets retention judge a ``Stable`` group by the topics its generation
  subscribed to when it started (``ClassicGroup.computeSubscribedTopics``), not by a static
  member's replacement since; a subscription that does not parse leaves them unknown, and
  ``isSubscribedToTopic`` then says every topic (and ``offsetExpirationCondition`` expires
  nothing).
* ``classicGroupJoinExistingMember`` answers an unchanged rejoin at once without
  ``updateMember``: the member keeps its session and rebalance timeouts.
"""

from __future__ import annotations

import pytest

from pcmodel.topics.broker import Broker, GroupState
from pcmodel.topics.consumer_group_errors import GroupMaxSizeReachedError
from pcmodel.topics.consumer_protocol import encode_subscription
from pcmodel.topics.errors import (
    FencedInstanceIdError,
    GroupSubscribedToTopicError,
    InconsistentGroupProtocolError,
    InvalidSessionTimeoutError,
    MemberIdRequiredError,
    UnknownMemberIdError,
)
from pcmodel.topics.structs import TopicPartition
from tests.topics.conftest import FakeClock

WEEK_MS = 7 * 24 * 3_600_000

pytestmark = pytest.mark.timeout(20)

SUBSCRIPTION = encode_subscription(["orders"])


def join(broker, member_id="", names=("range",), *, protocol_type="consumer",
         session=10_000, subscription=SUBSCRIPTION):
    return broker.join_group(
        "g", member_id, protocols=[(name, subscription) for name in names],
        protocol_type=protocol_type, session_timeout_ms=session, rebalance_timeout_ms=5_000,
        timeout=0)


def stable_group(broker, *protocol_names):
    """A ``Stable`` group, one member per entry of ``protocol_names`` (its assignors), joined
    in that order; returns the member ids in that order."""
    ids: list[str] = []
    for names in protocol_names:
        ids.append(join(broker, "", names).member_id)
        for mid, earlier in zip(ids[:-1], protocol_names):
            join(broker, mid, earlier)  # the others rejoin the new round
    described = broker.describe_group("g")
    broker.sync_group("g", described.leader, described.generation, assignments={}, timeout=0)
    for mid in ids:
        if mid != described.leader:
            broker.sync_group("g", mid, described.generation, timeout=0)
    assert broker.describe_group("g").state is GroupState.STABLE
    return ids


@pytest.fixture
def broker():
    with Broker(clock=FakeClock()) as b:
        b.create_topic("orders", 2)
        yield b


def members(broker):
    return sorted(m.member_id for m in broker.describe_group("g").members)


@pytest.mark.parametrize("session", [-1, 0, 1_800_001])
@pytest.mark.parametrize("who", ["a new member", "a member the full round has not taken"])
def test_a_bad_session_timeout_is_refused_before_the_group_size(broker, session, who):
    a, b = stable_group(broker, ["range"], ["range"])
    broker.group_classic_max_size = 1
    join(broker, a)  # a round that holds one member, the bound: b is not in it yet
    before = members(broker)
    with pytest.raises(InvalidSessionTimeoutError, match="session_timeout_ms"):
        join(broker, "" if who == "a new member" else b, session=session)
    assert members(broker) == before  # b is not removed for a join that was never taken
    with pytest.raises(GroupMaxSizeReachedError):  # the bound still holds for a valid one
        join(broker, "" if who == "a new member" else b)


@pytest.mark.parametrize("group, rejoiner, names, protocol_type", [
    ([["range"]], 0, ["roundrobin"], "consumer"),  # a sole member switching assignor
    ([["range"]], 0, ["range"], "connect"),  # ... or protocol type
    ([["range", "roundrobin"], ["range"]], 1, ["roundrobin"], "consumer"),  # not its own one
])
def test_a_rejoin_must_share_a_protocol_with_every_member_as_it_is(broker, group, rejoiner,
                                                                    names, protocol_type):
    ids = stable_group(broker, *group)
    generation = broker.describe_group("g").generation
    with pytest.raises(InconsistentGroupProtocolError, match="current ones included"):
        join(broker, ids[rejoiner], names, protocol_type=protocol_type)
    described = broker.describe_group("g")
    assert (described.state, described.generation) == (GroupState.STABLE, generation)
    # A rejoin that keeps a protocol every member supports now is taken.
    assert join(broker, ids[rejoiner], [*names, "range"]).member_id == ids[rejoiner]


@pytest.mark.parametrize("instance_id", [None, "i-9"])
def test_a_member_told_member_id_required_leaves_whatever_instance_id_it_names(broker,
                                                                               instance_id):
    stable_group(broker, ["range"])
    with pytest.raises(MemberIdRequiredError) as told:
        broker.join_group("g", "", protocols=[("range", SUBSCRIPTION)],
                          require_known_member_id=True, timeout=0)
    broker.leave_group("g", told.value.member_id, group_instance_id=instance_id)
    with pytest.raises(UnknownMemberIdError):  # its id is forgotten
        join(broker, told.value.member_id)


def test_a_static_member_is_still_checked_after_the_pending_ones(broker):
    (member,) = stable_group(broker, ["range"])
    with pytest.raises(UnknownMemberIdError):  # nobody holds the instance id
        broker.leave_group("g", member, group_instance_id="i-9")
    assert members(broker) == [member]
    static = broker.join_group("s", "", protocols=[("range", SUBSCRIPTION)],
                               group_instance_id="i-1", timeout=0).member_id
    with pytest.raises(FencedInstanceIdError):
        broker.leave_group("s", "another", group_instance_id="i-1")
    broker.leave_group("s", "", group_instance_id="i-1")
    assert static not in [m.member_id for m in broker.describe_group("s").members]


ORDERS, OTHER = TopicPartition("orders", 0), TopicPartition("other", 0)


@pytest.mark.parametrize("round_, kept", [
    ("a follower rejoined with another subscription", {ORDERS}),
    ("the first round", {ORDERS, OTHER}),
])
def test_offset_delete_during_a_rebalance_keeps_what_the_last_generation_subscribed(round_,
                                                                                    kept):
    delay = 0 if round_.startswith("a follower") else 3_000  # the first round stays open
    with Broker(clock=FakeClock(), group_initial_rebalance_delay_ms=delay) as broker:
        broker.create_topic("orders", 2)
        broker.create_topic("other", 1)
        broker.commit_offsets("g", -1, "", {ORDERS: 1, OTHER: 1})
        if delay:
            join(broker)
        else:
            _, follower = stable_group(broker, ["range"], ["range"])
            join(broker, follower, subscription=encode_subscription(["other"]))
        assert broker.describe_group("g").state is GroupState.PREPARING_REBALANCE
        answers = broker.delete_offsets("g", [ORDERS, OTHER])
    assert {tp for tp, error in answers.items()
            if isinstance(error, GroupSubscribedToTopicError)} == kept
    assert all(answers[tp] is None for tp in {ORDERS, OTHER} - kept)


@pytest.mark.parametrize("case, kept", [
    ("the members subscribe as when the generation started", {ORDERS}),
    ("a static member was replaced with another subscription", {ORDERS}),
    ("a member's subscription does not parse", {ORDERS, OTHER}),
])
@pytest.mark.parametrize("judge", ["OffsetDelete", "offsets retention"])
def test_a_stable_group_is_judged_by_its_generations_topics(case, kept, judge):
    wall = [1_000_000]
    with Broker(clock=FakeClock(), timestamp_clock=lambda: wall[0]) as broker:
        broker.create_topic("orders", 2)
        broker.create_topic("other", 1)
        broker.commit_offsets("g", -1, "", {ORDERS: 1, OTHER: 1})
        subscription = b"\x00\x00\x00" if "parse" in case else SUBSCRIPTION  # truncated
        joined = broker.join_group("g", "", protocols=[("range", subscription)],
                                   group_instance_id="i-1", timeout=0)
        broker.sync_group("g", joined.member_id, joined.generation, assignments={}, timeout=0)
        if "replaced" in case:  # same protocol, so no rebalance: the generation goes on
            broker.join_group("g", "", protocols=[("range", encode_subscription(["other"]))],
                              group_instance_id="i-1", timeout=0)
        described = broker.describe_group("g")
        assert (described.state, described.generation) == (GroupState.STABLE, 1)
        if judge == "OffsetDelete":
            answers = broker.delete_offsets("g", [ORDERS, OTHER])
            assert {tp for tp, error in answers.items()
                    if isinstance(error, GroupSubscribedToTopicError)} == kept
        else:
            wall[0] += WEEK_MS + 1
            broker.expire_offsets()
        assert set(broker.describe_group("g").committed) == kept


@pytest.mark.parametrize("state", [GroupState.STABLE, GroupState.COMPLETING_REBALANCE])
def test_an_unchanged_rejoin_answered_at_once_keeps_the_members_timeouts(state):
    clock = FakeClock()
    with Broker(clock=clock) as broker:
        broker.create_topic("orders", 2)
        if state is GroupState.STABLE:
            leader, follower = stable_group(broker, ["range"], ["range"])
        else:
            leader = join(broker).member_id
            follower = join(broker, "").member_id
            join(broker, leader)  # the round completes: both joined, nobody synced yet
        generation = broker.describe_group("g").generation
        answer = join(broker, follower, session=1_000)  # 10 s before
        assert (answer.generation, broker.describe_group("g").state) == (generation, state)
        clock.advance(2)  # past the session asked for, within the one it had
        assert members(broker) == sorted([leader, follower])


@pytest.mark.parametrize("version", [0, 5])
def test_a_negative_session_timeout_answers_invalid_session_timeout_on_the_wire(version):
    pytest.importorskip("kafka", reason="the Kafka listener needs kafka-python")
    from kafka.protocol.consumer.group import JoinGroupRequest

    from tests.wire.conftest import RawClient

    fields = dict(group_id="g", session_timeout_ms=-1, member_id="", protocol_type="consumer",
                  protocols=[JoinGroupRequest.JoinGroupRequestProtocol(
                      name="range", metadata=SUBSCRIPTION)])
    if version:
        fields.update(rebalance_timeout_ms=5_000, group_instance_id=None)
    with Broker() as broker, broker.serve_kafka() as listener, \
            RawClient(listener.address) as raw:
        answer = raw.request(JoinGroupRequest[version](**fields))
        assert answer.error_code == InvalidSessionTimeoutError.errno  # 26, not INVALID_REQUEST
        assert broker.list_groups() == []
