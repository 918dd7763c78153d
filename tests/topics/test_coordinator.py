"""The group coordinator's state machine, one request at a time, on a hand-moved clock.

Every call is made with ``timeout=0`` (an unanswered join or sync returns ``pending``) unless a
test needs a call to block, and then it synchronises on the coordinator's state, never on time.
The clock moves only through ``clock.advance``, so each deadline is crossed exactly when the test
says so.
"""

from __future__ import annotations

import struct
import threading
import time

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.consumer_protocol import (
    Assignment,
    Subscription,
    decode_full_assignment,
    decode_subscription,
    encode_subscription,
)
from pcmodel.topics.coordinator import GroupCoordinator, GroupState, HeartbeatStatus
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalGenerationError,
    IllegalStateError,
    InconsistentGroupProtocolError,
    InvalidSessionTimeoutError,
    MemberIdRequiredError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from tests.topics.conftest import FakeClock, consumer_protocols, tp, wait_until

pytestmark = pytest.mark.timeout(20)

RANGE = consumer_protocols(["t"])


class Group:
    """One coordinator, its lock and clock; each method is one request, made under the lock."""

    def __init__(self, initial_rebalance_delay_ms: int = 0) -> None:
        self.clock = FakeClock()
        self.lock = threading.Lock()
        self.coordinator = GroupCoordinator(
            "g", self.lock, self.clock, initial_rebalance_delay_ms=initial_rebalance_delay_ms
        )

    def join(self, member_id="", protocols=RANGE, *, session=10_000, rebalance=5_000, **kw):
        kw.setdefault("timeout", 0)
        kw.setdefault("protocol_type", "consumer")
        with self.lock:
            return self.coordinator.join(
                member_id, protocols=protocols, session_timeout_ms=session,
                rebalance_timeout_ms=rebalance, client_id="c", **kw,
            )

    def new_member(self, protocols=RANGE, **kw):
        """The JoinGroup v4+ handshake: MEMBER_ID_REQUIRED, then the join with that id."""
        with pytest.raises(MemberIdRequiredError) as caught:
            self.join("", protocols, require_known_member_id=True, **kw)
        assert caught.value.member_id.startswith("c-")
        return self.join(caught.value.member_id, protocols, **kw)

    def sync(self, member_id, generation, assignments=None, **kw):
        kw.setdefault("timeout", 0)
        with self.lock:
            return self.coordinator.sync(member_id, generation, assignments=assignments, **kw)

    def heartbeat(self, member_id, generation, group_instance_id=None):
        with self.lock:
            return self.coordinator.heartbeat(member_id, generation, group_instance_id)

    def commit(self, member_id, generation, group_instance_id=None):
        with self.lock:
            self.coordinator.check_commit(member_id, generation, group_instance_id)

    def leave(self, member_id, group_instance_id=None):
        with self.lock:
            self.coordinator.leave(member_id, group_instance_id)

    @property
    def state(self):
        with self.lock:
            self.coordinator.expire(self.clock())
            return self.coordinator.state

    def members(self):
        with self.lock:
            self.coordinator.expire(self.clock())
            return set(self.coordinator.members)

    def stable_pair(self):
        """Two members a (leader) and b, Stable at generation 2."""
        a = self.new_member()
        self.sync(a.member_id, 1, {a.member_id: b"A"})
        b = self.new_member()
        assert b.pending
        a = self.join(a.member_id)
        b = self.join(b.member_id)
        self.sync(a.member_id, 2, {a.member_id: b"A", b.member_id: b"B"})
        assert self.state is GroupState.STABLE
        return a, b


@pytest.fixture
def group():
    return Group()


def test_a_lone_member_joins_leads_and_assigns(group):
    assert group.state is GroupState.EMPTY
    a = group.new_member()
    assert (a.generation, a.protocol_type, a.protocol, a.leader) == (1, "consumer", "range",
                                                                      a.member_id)
    # Only the leader sees the members, each with its metadata for the chosen protocol.
    assert [(m.member_id, decode_subscription(m.metadata).topics) for m in a.members] == [
        (a.member_id, ("t",))
    ]
    assert group.state is GroupState.COMPLETING_REBALANCE
    assert group.heartbeat(a.member_id, 1) is HeartbeatStatus.OK
    with pytest.raises(RebalanceInProgressError):
        group.commit(a.member_id, 1)  # nothing is assigned yet
    synced = group.sync(a.member_id, 1, {a.member_id: b"plan"})
    assert (synced.assignment, synced.protocol, synced.pending) == (b"plan", "range", False)
    assert group.state is GroupState.STABLE
    group.commit(a.member_id, 1)


def test_a_join_without_a_known_member_id_adds_a_member_at_once_before_v4(group):
    a = group.join("")
    assert not a.pending and a.generation == 1 and a.member_id.startswith("c-")


def test_a_second_member_rebalances_and_the_old_generation_is_fenced(group):
    a = group.new_member()
    group.sync(a.member_id, 1, {a.member_id: b"all"})
    b = group.new_member()
    assert b.pending and group.state is GroupState.PREPARING_REBALANCE
    assert group.heartbeat(a.member_id, 1) is HeartbeatStatus.REBALANCE_IN_PROGRESS
    group.commit(a.member_id, 1)  # how on_partitions_revoked commits before rejoining
    a2 = group.join(a.member_id)
    assert (a2.generation, a2.leader, len(a2.members)) == (2, a.member_id, 2)
    # b missed the answer (its call had returned pending): joining again hands it over.
    b2 = group.join(b.member_id)
    assert (b2.generation, b2.leader, b2.members) == (2, a.member_id, ())
    assert group.sync(b.member_id, 2).pending  # waits for the leader
    group.sync(a.member_id, 2, {a.member_id: b"A", b.member_id: b"B"})
    assert group.sync(b.member_id, 2).assignment == b"B"
    with pytest.raises(IllegalGenerationError):
        group.commit(a.member_id, 1)
    assert group.heartbeat(a.member_id, 1) is HeartbeatStatus.ILLEGAL_GENERATION
    group.commit(a.member_id, 2)


def test_a_follower_sync_blocks_until_the_leader_sends_the_assignment(group):
    a = group.new_member()
    group.sync(a.member_id, 1, {})
    b = group.new_member()
    group.join(a.member_id)
    group.join(b.member_id)
    answers = []
    follower = threading.Thread(target=lambda: answers.append(group.sync(b.member_id, 2,
                                                                         timeout=None)))
    follower.start()
    wait_until(lambda: group.coordinator.members[b.member_id].awaiting_sync)
    assert answers == []
    group.sync(a.member_id, 2, {b.member_id: b"yours"})
    follower.join(5)
    assert answers[0].assignment == b"yours"


def two_joined_at_generation_2(group):
    """Members a (leader) and b, both joined at generation 2, neither synced yet."""
    a = group.new_member()
    group.sync(a.member_id, 1, {a.member_id: b"A"})
    b = group.new_member()
    return group.join(a.member_id), group.join(b.member_id)


def test_with_store_first_the_followers_get_the_assignment_once_it_is_stored(group):
    # Kafka's coordinator stores the leader's assignment before it answers anyone: until
    # then the group stays CompletingRebalance and a follower waits, whether its SyncGroup
    # came before the leader's or after.
    a, b = two_joined_at_generation_2(group)
    assert group.sync(b.member_id, 2).pending
    handed_in = group.sync(a.member_id, 2, {a.member_id: b"A", b.member_id: b"B"},
                           store_first=True)
    assert (handed_in.assignment, handed_in.to_store) == (b"A", True)
    assert group.state is GroupState.COMPLETING_REBALANCE
    assert group.sync(b.member_id, 2).pending
    with group.lock:
        record = group.coordinator.metadata_record()  # what the cluster stores
    assert {m.member_id: m.assignment for m in record.members} == {a.member_id: b"A",
                                                                   b.member_id: b"B"}
    with group.lock:
        group.coordinator.assignment_stored(1)  # an older generation's: nothing happens
    assert group.sync(b.member_id, 2).pending
    with group.lock:
        group.coordinator.assignment_stored(2)
    assert group.state is GroupState.STABLE
    answer = group.sync(b.member_id, 2)
    assert (answer.assignment, answer.pending, answer.to_store) == (b"B", False, False)
    # Without store_first (a lone broker, which stores nothing) the leader's sync completes it.
    group.join(a.member_id)
    group.join(b.member_id)
    assert group.sync(a.member_id, 3, {b.member_id: b"B3"}).to_store is False
    assert group.sync(b.member_id, 3).assignment == b"B3"


def test_an_assignment_that_cannot_be_stored_is_never_handed_to_the_followers(group):
    a, b = two_joined_at_generation_2(group)
    answers = []
    follower = threading.Thread(target=lambda: answers.append(_sync_or_error(
        group, b.member_id, 2)))
    follower.start()
    wait_until(lambda: group.coordinator.members[b.member_id].awaiting_sync)
    group.sync(a.member_id, 2, {a.member_id: b"A", b.member_id: b"B"}, store_first=True)
    with group.lock:
        group.coordinator.not_stored(a.member_id)  # Kafka: resetAndPropagateAssignmentError
    follower.join(5)
    assert isinstance(answers[0], RebalanceInProgressError)
    assert group.state is GroupState.PREPARING_REBALANCE
    with group.lock:
        assert group.coordinator.metadata_record() is None  # nothing to store while it rebalances
    with group.lock:
        group.coordinator.assignment_stored(2)  # too late: the round is over
    assert group.state is GroupState.PREPARING_REBALANCE


def _sync_or_error(group, member_id, generation):
    try:
        return group.sync(member_id, generation, timeout=None)
    except RebalanceInProgressError as exc:
        return exc


def test_a_silent_member_is_removed_after_its_session_timeout(group):
    a, b = group.stable_pair()
    group.clock.advance(4)
    assert group.heartbeat(a.member_id, 2) is HeartbeatStatus.OK
    group.clock.advance(6.5)  # b silent for 10.5 s > 10 s; a heard from 6.5 s ago
    assert group.members() == {a.member_id}
    assert group.state is GroupState.PREPARING_REBALANCE
    assert group.heartbeat(b.member_id, 2) is HeartbeatStatus.UNKNOWN_MEMBER
    with pytest.raises(UnknownMemberIdError):
        group.commit(b.member_id, 2)
    with pytest.raises(UnknownMemberIdError):
        group.join(b.member_id)
    assert group.join(a.member_id).generation == 3


def test_a_member_that_does_not_rejoin_within_the_rebalance_timeout_is_removed(group):
    a, b = group.stable_pair()
    c = group.new_member()
    assert c.pending
    group.join(a.member_id)
    group.clock.advance(4.9)
    # b's heartbeat thread is alive, but its application never rejoins.
    assert group.heartbeat(b.member_id, 2) is HeartbeatStatus.REBALANCE_IN_PROGRESS
    assert group.members() == {a.member_id, b.member_id, c.member_id}
    group.clock.advance(0.2)
    assert group.members() == {a.member_id, c.member_id}
    assert group.state is GroupState.COMPLETING_REBALANCE
    assert group.join(c.member_id).generation == 3


def test_a_member_that_never_syncs_is_removed_after_the_rebalance_timeout(group):
    a, b = group.stable_pair()
    group.leave(b.member_id)
    c = group.new_member()
    group.join(a.member_id)
    group.sync(a.member_id, 3, {})
    assert group.state is GroupState.STABLE
    group.clock.advance(5.1)  # c heartbeats but never sent SyncGroup
    assert group.heartbeat(a.member_id, 3) is HeartbeatStatus.REBALANCE_IN_PROGRESS
    assert group.members() == {a.member_id}
    assert c.member_id not in group.members()


def test_a_pending_member_id_expires_after_the_session_timeout(group):
    with pytest.raises(MemberIdRequiredError) as caught:
        group.join("", require_known_member_id=True, session=1_000)
    group.clock.advance(1.1)
    with pytest.raises(UnknownMemberIdError):
        group.join(caught.value.member_id)


def test_a_followers_unchanged_join_in_stable_changes_nothing_but_the_leaders_rebalances(group):
    a, b = group.stable_pair()
    again = group.join(b.member_id)
    assert (again.generation, again.pending) == (2, False)
    assert group.state is GroupState.STABLE
    changed = group.join(b.member_id, consumer_protocols(["t", "u"]))
    assert changed.pending and group.state is GroupState.PREPARING_REBALANCE
    group.join(a.member_id)
    group.sync(a.member_id, 3, {})
    assert group.state is GroupState.STABLE
    assert group.join(a.member_id).pending  # the leader rejoins: a rebalance, e.g. new topics
    assert group.state is GroupState.PREPARING_REBALANCE


def test_sync_errors(group):
    a, b = group.stable_pair()
    with pytest.raises(IllegalGenerationError):
        group.sync(a.member_id, 1)
    with pytest.raises(UnknownMemberIdError):
        group.sync("ghost", 2)
    with pytest.raises(InconsistentGroupProtocolError):
        group.sync(a.member_id, 2, protocol="roundrobin")
    c = group.new_member()
    with pytest.raises(RebalanceInProgressError):
        group.sync(a.member_id, 2)
    group.join(a.member_id)
    group.join(b.member_id)
    group.join(c.member_id)
    assert group.sync(b.member_id, 3).pending
    group.leave(c.member_id)  # a new round starts before the leader synced
    with pytest.raises(RebalanceInProgressError):
        group.sync(b.member_id, 3)


def test_the_protocol_is_the_members_vote_among_those_all_support(group):
    both = [("roundrobin", b"m"), ("range", b"m")]
    a = group.new_member(both)
    group.sync(a.member_id, 1, {})
    b = group.new_member([("range", b"m"), ("roundrobin", b"m")])
    a2 = group.join(a.member_id, both)
    # One vote each: the tie goes to the leader's preference.
    assert a2.protocol == "roundrobin"
    group.sync(a.member_id, 2, {})
    group.sync(b.member_id, 2)
    c = group.new_member([("range", b"m"), ("sticky", b"m")])
    group.join(a.member_id, both)
    assert group.join(b.member_id, [("range", b"m"), ("roundrobin", b"m")]).protocol == "range"
    with pytest.raises(InconsistentGroupProtocolError, match="common assignor"):
        group.new_member([("sticky", b"m")])
    with pytest.raises(InconsistentGroupProtocolError):
        group.join("", both, protocol_type="connect")
    assert len(group.members()) == 3 and c.pending


def test_leaving_rebalances_and_the_last_leave_empties_the_group(group):
    a, b = group.stable_pair()
    group.leave(b.member_id)
    with pytest.raises(UnknownMemberIdError):
        group.leave("ghost")
    a3 = group.join(a.member_id)
    assert (a3.generation, [m.member_id for m in a3.members]) == (3, [a.member_id])
    group.sync(a.member_id, 3, {})
    with pytest.raises(UnknownMemberIdError):
        group.commit("", -1)  # a consumer without a group cannot commit for an active one
    group.leave(a.member_id)
    # Kafka ends the round with nobody in it: the group is Empty at the next generation.
    assert (group.state, group.coordinator.generation) == (GroupState.EMPTY, 4)
    with pytest.raises(UnknownMemberIdError):
        group.commit(a.member_id, 3)
    group.commit("", -1)


def test_leader_leaving_hands_leadership_to_a_member_that_rejoined(group):
    a, b = group.stable_pair()
    group.join(b.member_id, consumer_protocols(["t", "u"]))
    group.leave(a.member_id)
    assert group.coordinator.leader == b.member_id
    b3 = group.join(b.member_id, consumer_protocols(["t", "u"]))
    assert (b3.generation, b3.leader) == (3, b.member_id)


def test_bad_joins_are_rejected_and_change_nothing(group):
    with pytest.raises(InvalidSessionTimeoutError):
        group.join("", session=0)
    with pytest.raises(InconsistentGroupProtocolError):
        group.join("", [])
    with pytest.raises(UnknownMemberIdError):
        group.join("never-joined")
    assert group.state is GroupState.EMPTY and not group.members()


def test_deleting_an_empty_group_makes_it_dead(group):
    a = group.new_member()
    group.leave(a.member_id)
    with group.lock:
        group.coordinator.mark_dead()
    assert group.state is GroupState.DEAD
    with pytest.raises(IllegalStateError, match="deleted"):
        group.join("")


# --- the initial rebalance delay (Kafka's group.initial.rebalance.delay.ms) ----------------------


def test_the_first_round_does_not_complete_before_the_initial_delay():
    group = Group(initial_rebalance_delay_ms=3_000)
    a = group.new_member()
    assert a.pending and group.state is GroupState.PREPARING_REBALANCE  # a alone has joined
    group.clock.advance(2.999)
    assert group.state is GroupState.PREPARING_REBALANCE
    assert group.heartbeat(a.member_id, 0) is HeartbeatStatus.REBALANCE_IN_PROGRESS
    group.clock.advance(0.001)
    assert group.state is GroupState.COMPLETING_REBALANCE
    a = group.join(a.member_id)
    assert (a.pending, a.generation, a.leader) == (False, 1, a.member_id)


def test_a_member_joining_during_the_delay_extends_it_by_the_delay_again():
    group = Group(initial_rebalance_delay_ms=3_000)
    a = group.new_member(rebalance=60_000)
    group.clock.advance(2)
    b = group.new_member(rebalance=60_000)
    assert b.pending
    group.clock.advance(1)  # the first delay is over, but b came during it: 3 s more
    assert group.state is GroupState.PREPARING_REBALANCE
    group.clock.advance(2.999)
    assert group.state is GroupState.PREPARING_REBALANCE
    group.clock.advance(0.001)  # no one new in the second delay: the round completes
    assert group.state is GroupState.COMPLETING_REBALANCE
    a, b = group.join(a.member_id), group.join(b.member_id)
    assert (a.generation, b.generation, len(a.members)) == (1, 1, 2)


def test_the_extensions_stop_at_the_rebalance_timeout():
    group = Group(initial_rebalance_delay_ms=3_000)
    a = group.new_member(rebalance=5_000)  # 3 s of delay, then at most 2 s more
    group.clock.advance(1)
    group.new_member(rebalance=5_000)  # extends the delay to 5 s
    group.clock.advance(3)
    group.new_member(rebalance=5_000)  # would extend it to 7 s: capped at 5 s
    group.clock.advance(0.999)
    assert group.state is GroupState.PREPARING_REBALANCE
    group.clock.advance(0.001)
    assert group.state is GroupState.COMPLETING_REBALANCE
    assert len(group.join(a.member_id).members) == 3


def test_a_round_that_does_not_start_from_empty_is_not_delayed():
    group = Group(initial_rebalance_delay_ms=3_000)
    a = group.new_member()
    group.clock.advance(3)
    a = group.join(a.member_id)
    group.sync(a.member_id, 1, {a.member_id: b"all"})
    b = group.new_member()
    assert b.pending and group.state is GroupState.PREPARING_REBALANCE
    a2 = group.join(a.member_id)  # every member has joined: at once, no delay
    assert (a2.pending, a2.generation, len(a2.members)) == (False, 2, 2)


def test_with_no_delay_the_first_round_completes_as_soon_as_everyone_joined():
    group = Group(initial_rebalance_delay_ms=0)
    assert Group().coordinator.initial_rebalance_delay_ms == 0  # the default
    a = group.new_member()
    assert (a.pending, a.generation) == (False, 1)


def test_a_blocked_join_wakes_when_the_delay_ends():
    lock = threading.Lock()
    coordinator = GroupCoordinator("g", lock, initial_rebalance_delay_ms=100)
    start = time.monotonic()
    with lock:  # no one else calls: only the delay's own deadline can answer this join
        a = coordinator.join("", protocol_type="consumer", protocols=RANGE,
                             session_timeout_ms=10_000, rebalance_timeout_ms=30_000, timeout=10)
    elapsed = time.monotonic() - start
    assert (a.pending, a.generation) == (False, 1)
    assert 0.1 <= elapsed < 5  # woken by the delay, not by the 30 s rebalance timeout


@pytest.mark.parametrize("bad", [-1, 1.5, "300", True, None])
def test_the_broker_checks_its_initial_rebalance_delay(bad):
    with pytest.raises((TypeError, IllegalArgumentError), match="group_initial_rebalance_delay_ms"):
        Broker(group_initial_rebalance_delay_ms=bad)


def test_the_broker_gives_its_groups_the_initial_delay():
    clock = FakeClock()
    broker = Broker(clock=clock, group_initial_rebalance_delay_ms=500)
    try:
        a = broker.join_group("g", "", protocols=RANGE, timeout=0)
        assert a.pending
        clock.advance(0.5)
        a = broker.join_group("g", a.member_id, protocols=RANGE, timeout=0)
        assert (a.pending, a.generation) == (False, 1)
    finally:
        broker.close()


def test_the_broker_api_checks_instance_ids_and_keeps_the_protocol_bytes():
    broker = Broker()
    try:
        broker.create_topic("t", 2)
        with pytest.raises(IllegalArgumentError, match="group_instance_id must not be empty"):
            broker.join_group("g", "", protocols=RANGE, group_instance_id="")
        with pytest.raises(TypeError, match="group_instance_id must be a str or None"):
            broker.join_group("g", "", protocols=RANGE, group_instance_id=7)
        assert broker.list_groups() == []
        a = broker.join_group("g", "", protocols=RANGE, client_id="app", timeout=5)
        plan = {a.member_id: b"\x00\x01"}
        broker.sync_group("g", a.member_id, a.generation, assignments=plan)
        member = broker.describe_group("g").members[0]
        assert (member.client_id, member.member_metadata) == ("app", RANGE[0][1])
        assert member.member_assignment == b"\x00\x01"
        assert broker.group_states() == {"g": ("consumer", GroupState.STABLE)}
        broker.leave_group("g", a.member_id)
        broker.delete_group("g")
        assert broker.list_groups() == []
    finally:
        broker.close()


def test_commits_are_checked_for_member_and_generation_only():
    broker = Broker()
    try:
        broker.create_topic("t", 2)
        broker.create_topic("other", 1)
        a = broker.join_group("g", "", protocols=RANGE, timeout=5)
        broker.sync_group("g", a.member_id, 1, assignments={a.member_id: b""})
        # Nothing is assigned to a, and "other" is not subscribed: both are stored.
        broker.commit_offsets("g", 1, a.member_id, {tp("t", 1): 5, tp("other", 0): 0})
        assert broker.committed("g", [tp("t", 1)])[tp("t", 1)].offset == 5
        assert broker.describe_group("g").lag[tp("t", 1)] == 0
    finally:
        broker.close()


def test_a_commit_is_checked_for_its_member_before_the_rebalance_state(group):
    """Kafka's order (ClassicGroup.validateOffsetCommit): a ghost member or an old
    generation is told so even while the group waits for its leader's assignment, so the
    client drops its generation instead of retrying the commit."""
    a, _ = group.stable_pair()
    group.join(a.member_id)
    assert group.state is GroupState.PREPARING_REBALANCE
    group.leave(_.member_id)
    assert group.state is GroupState.COMPLETING_REBALANCE
    with pytest.raises(UnknownMemberIdError):
        group.commit("ghost", 3)
    with pytest.raises(IllegalGenerationError):
        group.commit(a.member_id, 2)
    with pytest.raises(IllegalGenerationError):  # a named member must say its generation
        group.commit(a.member_id, -1)
    with pytest.raises(RebalanceInProgressError):
        group.commit(a.member_id, 3)


def test_a_commit_to_a_group_that_does_not_exist_needs_generation_minus_one():
    """Kafka's OffsetMetadataManager.validateOffsetCommit: -1 makes a group that only stores
    offsets, whatever member the commit names; any other generation was never given."""
    broker = Broker()
    try:
        broker.create_topic("t", 1)
        with pytest.raises(IllegalGenerationError, match="does not exist"):
            broker.commit_offsets("g", 1, "m", {tp("t", 0): 5})
        assert broker.list_groups() == []
        broker.commit_offsets("g", -1, "m", {tp("t", 0): 5})
        assert broker.committed("g", [tp("t", 0)])[tp("t", 0)].offset == 5
    finally:
        broker.close()

def test_subscriptions_round_trip_through_the_consumer_protocol():
    data = encode_subscription(["b", "a"], [tp("a", 1), tp("a", 0)])
    decoded = decode_subscription(data)
    assert decoded.topics == ("a", "b")
    assert decoded.owned_partitions == (tp("a", 0), tp("a", 1))
    with pytest.raises(ValueError):
        decode_subscription(data[:5])


def test_later_consumer_protocol_versions_decode_with_their_fields():
    def string(text):
        return struct.pack(">h", len(text)) + text.encode()
    owned = struct.pack(">i", 1) + string("t") + struct.pack(">ii", 1, 0)
    v3 = (struct.pack(">hi", 3, 1) + string("t") + struct.pack(">i", 2) + b"ud" + owned
          + struct.pack(">i", 7) + string("rack-1"))
    assert decode_subscription(v3) == Subscription(("t",), (tp("t", 0),), b"ud", 3, 7, "rack-1")
    v2 = struct.pack(">h", 2) + v3[2: -len(string("rack-1"))]
    assert decode_subscription(v2) == Subscription(("t",), (tp("t", 0),), b"ud", 2, 7, None)
    v0 = struct.pack(">hi", 0, 1) + string("t") + struct.pack(">i", -1)
    assert decode_subscription(v0) == Subscription(("t",), (), None, 0)
    assignment = struct.pack(">h", 0) + owned + struct.pack(">i", 3) + b"abc"
    assert decode_full_assignment(assignment) == Assignment((tp("t", 0),), b"abc", 0)
    assert decode_full_assignment(b"") == Assignment(())
    with pytest.raises(ValueError):
        decode_full_assignment(assignment[:-1])
