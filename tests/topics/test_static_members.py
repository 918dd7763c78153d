"""Static members (KIP-345): a member known by its ``group_instance_id`` takes its place again.

As in ``test_coordinator.py``, each call is one request on a hand-moved clock, made with
``timeout=0`` unless a test needs a call to block; a blocked call is synchronised on the
coordinator's state.
"""

from __future__ import annotations

import threading

import pytest

from pcmodel.topics import KafkaAdminClient, KafkaConsumer, MemberToRemove, NoError
from pcmodel.topics.broker import Broker
from pcmodel.topics.coordinator import GroupState, HeartbeatStatus
from pcmodel.topics.errors import (
    FencedInstanceIdError,
    IllegalArgumentError,
    InconsistentGroupProtocolError,
    KafkaConfigurationError,
    UnknownMemberIdError,
)
from pcmodel.topics.group_snapshot import GroupMetadataRecord
from pcmodel.topics.structs import MemberState
from tests.topics.conftest import Poller, RecordingListener, consumer_protocols, tp, wait_until
from tests.topics.test_coordinator import RANGE, Group

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def group():
    return Group()


def stable_static_pair(group, *, a_instance=None, b_instance="i-b"):
    """a (the leader) and b, Stable at generation 2 with assignments A and B."""
    a = group.join("", group_instance_id=a_instance)
    group.sync(a.member_id, 1, {a.member_id: b"A"})
    b = group.join("", group_instance_id=b_instance)
    assert b.pending
    a = group.join(a.member_id, group_instance_id=a_instance)
    b = group.join(b.member_id, group_instance_id=b_instance)
    group.sync(a.member_id, 2, {a.member_id: b"A", b.member_id: b"B"}, group_instance_id=a_instance)
    group.sync(b.member_id, 2, group_instance_id=b_instance)
    assert group.state is GroupState.STABLE
    return a, b


def test_a_static_member_needs_no_member_id_handshake_and_is_named_after_its_instance(group):
    a = group.join("", group_instance_id="i-a", require_known_member_id=True)
    assert a.member_id.startswith("i-a-")
    assert (a.pending, a.generation, a.leader) == (False, 1, a.member_id)
    assert [(m.member_id, m.group_instance_id) for m in a.members] == [(a.member_id, "i-a")]


def test_a_restarted_static_follower_takes_its_place_without_a_rebalance(group):
    a, b = stable_static_pair(group)
    b2 = group.join("", group_instance_id="i-b")
    assert b2.member_id != b.member_id and b2.member_id.startswith("i-b-")
    assert (b2.pending, b2.generation, b2.leader, b2.members, b2.skip_assignment) == (
        False, 2, a.member_id, (), False)
    assert group.state is GroupState.STABLE
    assert group.members() == {a.member_id, b2.member_id}
    # It gets its old assignment; the leader goes on as if nothing happened.
    assert group.sync(b2.member_id, 2, group_instance_id="i-b").assignment == b"B"
    assert group.heartbeat(a.member_id, 2) is HeartbeatStatus.OK
    assert group.heartbeat(b2.member_id, 2, "i-b") is HeartbeatStatus.OK


def test_the_old_member_id_is_fenced_everywhere(group):
    a, b = stable_static_pair(group)
    b2 = group.join("", group_instance_id="i-b")
    assert group.heartbeat(b.member_id, 2, "i-b") is HeartbeatStatus.FENCED_INSTANCE_ID
    assert group.heartbeat(b.member_id, 2) is HeartbeatStatus.UNKNOWN_MEMBER  # id gone
    with pytest.raises(FencedInstanceIdError, match="same group_instance_id 'i-b'"):
        group.commit(b.member_id, 2, "i-b")
    with pytest.raises(FencedInstanceIdError):
        group.sync(b.member_id, 2, group_instance_id="i-b")
    with pytest.raises(FencedInstanceIdError):
        group.join(b.member_id, group_instance_id="i-b")
    with pytest.raises(FencedInstanceIdError):
        group.leave(b.member_id, "i-b")
    # None of these changed the group: b2 holds the place, no rebalance started.
    assert group.state is GroupState.STABLE and group.members() == {a.member_id, b2.member_id}
    group.commit(b2.member_id, 2, "i-b")


def test_a_restarted_member_owes_the_sync_its_old_id_owed(group):
    a = group.join("")
    b = group.join("", group_instance_id="i-b")
    a = group.join(a.member_id)
    group.sync(a.member_id, 2, {a.member_id: b"A", b.member_id: b"B"})  # Stable; b not synced
    b2 = group.join("", group_instance_id="i-b")
    assert (b2.pending, group.state) == (False, GroupState.STABLE)
    group.clock.advance(5.001)  # past the sync deadline (the rebalance timeout)
    assert group.members() == {a.member_id}  # b2 never sent the SyncGroup b owed


def test_an_instance_id_nobody_holds_is_an_unknown_member(group):
    a, b = stable_static_pair(group)
    assert group.heartbeat(b.member_id, 2, "i-x") is HeartbeatStatus.UNKNOWN_MEMBER
    with pytest.raises(UnknownMemberIdError, match="no member of group 'g' has group_instance_id"):
        group.commit(b.member_id, 2, "i-x")
    with pytest.raises(UnknownMemberIdError):
        group.join(b.member_id, group_instance_id="i-x")
    # A dynamic-style call with a static member's id is that member's call, as in Kafka.
    assert group.heartbeat(b.member_id, 2) is HeartbeatStatus.OK


@pytest.mark.parametrize("skip", [False, True], ids=["before-v9", "skip-assignment"])
def test_a_restarted_static_leader_does_not_assign_again(group, skip):
    a, b = stable_static_pair(group, a_instance="i-a", b_instance=None)
    a2 = group.join("", group_instance_id="i-a", supports_skip_assignment=skip)
    assert group.coordinator.leader == a2.member_id and group.state is GroupState.STABLE
    if skip:  # KIP-814: told that it leads, with the members, and to skip the assignment
        assert (a2.leader, a2.skip_assignment) == (a2.member_id, True)
        assert {(m.member_id, m.group_instance_id) for m in a2.members} == {
            (a2.member_id, "i-a"), (b.member_id, None)}
    else:  # told the old leader's id, so it acts as a follower
        assert (a2.leader, a2.members, a2.skip_assignment) == (a.member_id, (), False)
    # An assignment sent to a Stable group is ignored: everyone keeps theirs.
    synced = group.sync(a2.member_id, 2, {a2.member_id: b"X", b.member_id: b"Y"},
                        group_instance_id="i-a")
    assert synced.assignment == b"A"
    assert group.sync(b.member_id, 2).assignment == b"B"
    assert group.heartbeat(b.member_id, 2) is HeartbeatStatus.OK


def test_only_a_change_of_the_chosen_protocol_rebalances(group):
    both = consumer_protocols(["t"], ("range", "roundrobin"))
    a = group.join("", both, group_instance_id="i-a")
    group.sync(a.member_id, 1, {a.member_id: b"A"})
    # Another subscription, the same protocol chosen: Kafka compares only the protocol.
    a2 = group.join("", consumer_protocols(["t", "u"], ("range", "roundrobin")),
                    group_instance_id="i-a")
    assert (a2.generation, group.state) == (1, GroupState.STABLE)
    assert group.coordinator.protocol == "range"
    # Its first choice is now roundrobin, and it is the only voter: the group rebalances.
    a3 = group.join("", consumer_protocols(["t"], ("roundrobin", "range")),
                    group_instance_id="i-a")
    assert (a3.pending, a3.generation, a3.protocol) == (False, 2, "roundrobin")
    assert group.state is GroupState.COMPLETING_REBALANCE
    # A protocol none of the group offers is refused, as for any joining member.
    with pytest.raises(InconsistentGroupProtocolError):
        group.join("", consumer_protocols(["t"], ("sticky",)), group_instance_id="i-a")
    assert group.members() == {a3.member_id}


def test_a_static_member_rejoining_mid_round_makes_the_round_wait_for_it(group):
    a, b = stable_static_pair(group)
    c = group.join("")  # a new member: a round starts
    assert c.pending and group.state is GroupState.PREPARING_REBALANCE
    b2 = group.join("", group_instance_id="i-b")
    assert b2.pending  # it takes b's place in the round
    group.join(a.member_id)
    done = group.join(c.member_id)
    assert (done.pending, done.generation) == (False, 3)
    assert group.members() == {a.member_id, b2.member_id, c.member_id}
    # During CompletingRebalance, the leader may be assigning to the old id: a new round.
    b3 = group.join("", group_instance_id="i-b")
    assert b3.pending and group.state is GroupState.PREPARING_REBALANCE
    with pytest.raises(UnknownMemberIdError):
        group.sync(b2.member_id, 3)  # b2's id is gone
    with pytest.raises(FencedInstanceIdError):
        group.sync(b2.member_id, 3, group_instance_id="i-b")


def test_a_call_the_old_member_is_waiting_in_is_fenced():
    group = Group()
    a, b = stable_static_pair(group)
    group.join("")  # a new member starts a round; b's rejoin will wait for a
    outcome = []

    def old_b_rejoins():
        try:
            group.join(b.member_id, group_instance_id="i-b", timeout=10)
        except FencedInstanceIdError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=old_b_rejoins)
    waiter.start()
    wait_until(lambda: group.coordinator.members[b.member_id].awaiting_join)
    group.join("", group_instance_id="i-b")
    waiter.join(10)
    assert not waiter.is_alive()
    assert len(outcome) == 1 and "was fenced while it waited" in str(outcome[0])


def test_leaving_by_instance_id_removes_whoever_holds_it(group):
    a, b = stable_static_pair(group)
    with pytest.raises(UnknownMemberIdError, match="group_instance_id 'i-x'"):
        group.leave("", "i-x")
    with pytest.raises(FencedInstanceIdError):
        group.leave(a.member_id, "i-b")  # a does not hold i-b
    group.leave("", "i-b")
    assert group.members() == {a.member_id}
    assert group.state is GroupState.PREPARING_REBALANCE


def test_a_silent_static_member_expires_and_its_instance_id_is_free_again(group):
    a, b = stable_static_pair(group)
    group.clock.advance(5)
    assert group.heartbeat(a.member_id, 2) is HeartbeatStatus.OK
    group.clock.advance(5.001)  # b silent for longer than its 10 s session
    assert group.members() == {a.member_id}
    b2 = group.join("", group_instance_id="i-b")
    assert b2.pending  # a new member: the group rebalances again
    assert group.heartbeat(b.member_id, 2, "i-b") is HeartbeatStatus.FENCED_INSTANCE_ID


def test_a_new_coordinator_knows_the_static_members():
    group = Group()
    a, b = stable_static_pair(group)
    record = GroupMetadataRecord.decode(group.coordinator.metadata_record().encode())
    assert {(m.member_id, m.group_instance_id) for m in record.members} == {
        (a.member_id, None), (b.member_id, "i-b")}
    moved = Group()
    with moved.lock:
        assert moved.coordinator.restore(record)
    b2 = moved.join("", group_instance_id="i-b")
    assert (b2.pending, b2.generation) == (False, 2)
    assert moved.sync(b2.member_id, 2, group_instance_id="i-b").assignment == b"B"
    # A record written before instance ids were stored restores dynamic members.
    old = record.encode().replace(b', "group_instance_id": "i-b"', b"")
    old = old.replace(b', "group_instance_id": null', b"")
    assert all(m.group_instance_id is None for m in GroupMetadataRecord.decode(old).members)


def test_the_broker_describes_static_members_and_checks_their_commits():
    broker = Broker()
    try:
        broker.create_topic("t", 2)
        a = broker.join_group("g", "", protocols=RANGE, group_instance_id="i-a", timeout=5)
        broker.sync_group("g", a.member_id, 1, assignments={a.member_id: b""},
                          group_instance_id="i-a")
        member = broker.describe_group("g").members[0]
        assert (member.member_id, member.group_instance_id) == (a.member_id, "i-a")
        broker.commit_offsets("g", 1, a.member_id, {tp("t", 0): 3}, group_instance_id="i-a")
        a2 = broker.join_group("g", "", protocols=RANGE, group_instance_id="i-a", timeout=5)
        with pytest.raises(FencedInstanceIdError):
            broker.commit_offsets("g", 1, a.member_id, {tp("t", 0): 4},
                                  group_instance_id="i-a")
        assert broker.committed("g", [tp("t", 0)])[tp("t", 0)].offset == 3
        assert broker.heartbeat("g", a.member_id, 1, "i-a").status is \
            HeartbeatStatus.FENCED_INSTANCE_ID
        broker.leave_group("g", "", group_instance_id="i-a")
        assert broker.describe_group("g").state is GroupState.EMPTY
        assert a2.generation == 1
    finally:
        broker.close()



# --- pcmodel's consumer as a static member ------------------------------------------------------


def test_a_restarted_static_consumer_gets_its_partitions_back_without_a_rebalance(
    broker, make_consumer
):
    broker.create_topic("t", 2)
    stayer = make_consumer(group_id="g")
    stayer.subscribe(["t"])
    first = make_consumer("t", group_id="g", group_instance_id="i-1")
    with Poller(stayer):
        wait_until(lambda: first.poll(timeout_ms=20) == {} and len(first.assignment()) == 1
                   and len(stayer.assignment()) == 1)
        generation = broker.describe_group("g").generation
        mine = first.assignment()
        first.close()  # a static member does not leave: its place waits for it
        assert len(broker.describe_group("g").members) == 2
        second = make_consumer("t", group_id="g", group_instance_id="i-1")
        wait_until(lambda: second.poll(timeout_ms=20) == {} and second.assignment() == mine)
        described = broker.describe_group("g")
        assert described.generation == generation  # no rebalance: nobody else noticed
        assert sorted(m.group_instance_id or "" for m in described.members) == ["", "i-1"]
        metadata = second.group_metadata()
        assert (metadata.generation_id, metadata.group_instance_id) == (generation, "i-1")


def test_a_second_consumer_with_the_same_instance_id_fences_the_first(broker, make_consumer):
    broker.create_topic("t", 1)
    first = make_consumer("t", group_id="g", group_instance_id="i-1")
    wait_until(lambda: first.poll(timeout_ms=20) == {} and len(first.assignment()) == 1)
    second = make_consumer("t", group_id="g", group_instance_id="i-1")
    wait_until(lambda: second.poll(timeout_ms=20) == {} and len(second.assignment()) == 1)
    with pytest.raises(FencedInstanceIdError):
        first.commit({tp("t", 0): 0})
    with pytest.raises(FencedInstanceIdError, match="its group_instance_id 'i-1'; close this one"):
        wait_until(lambda: first.poll(timeout_ms=20) is None)  # raises once a heartbeat tells
    with pytest.raises(FencedInstanceIdError):
        first.poll(timeout_ms=0)  # fatal: it stays raised
    first.close()
    assert len(second.assignment()) == 1 and len(broker.describe_group("g").members) == 1


def test_a_static_consumer_that_stops_polling_stays_in_the_group_and_takes_its_place_again(
    broker, make_consumer
):
    broker.create_topic("t", 1)
    log: list = []
    slow = make_consumer(group_id="g", group_instance_id="i-1", max_poll_interval_ms=200)
    slow.subscribe(["t"], listener=RecordingListener("slow", log))
    wait_until(lambda: slow.poll(timeout_ms=20) == {} and len(slow.assignment()) == 1)
    generation = broker.describe_group("g").generation
    member_id = slow.group_metadata().member_id
    # The application stops polling: the heartbeat thread gives up the member id but, being
    # static, sends no LeaveGroup, so the group keeps the place.
    wait_until(lambda: slow.group_metadata().state == MemberState.UNJOINED)
    assert [m.member_id for m in broker.describe_group("g").members] == [member_id]
    wait_until(lambda: slow.poll(timeout_ms=20) == {} and len(slow.assignment()) == 1)
    assert ("slow", "lost", [tp("t", 0)]) in log
    assert slow.group_metadata().member_id != member_id
    assert broker.describe_group("g").generation == generation


@pytest.mark.parametrize(("settings", "message"), [
    ({"group_instance_id": "i-1"}, "group_instance_id requires group_id"),
    ({"group_id": "g", "group_instance_id": ""}, "must be a non-empty str"),
    ({"group_id": "g", "group_instance_id": "a b"}, "may contain only ASCII letters"),
    ({"group_id": "g", "group_instance_id": "x" * 250}, "nor longer than 249"),
])
def test_a_bad_group_instance_id_is_refused_at_construction(broker, settings, message):
    with pytest.raises(KafkaConfigurationError, match=message):
        KafkaConsumer(broker=broker, **settings)


def test_an_administrator_removes_a_static_member_by_its_instance_id(broker):
    broker.create_topic("t", 1)
    with KafkaAdminClient(broker=broker) as admin:
        a = broker.join_group("g", "", protocols=RANGE, group_instance_id="i-a", timeout=5)
        broker.sync_group("g", a.member_id, 1, assignments={a.member_id: b""})
        with pytest.raises(IllegalArgumentError, match="names no member"):
            admin.remove_group_members("g", [MemberToRemove(group_instance_id="i-a"),
                                             MemberToRemove()])
        with pytest.raises(TypeError, match="MemberToRemove entries"):
            admin.remove_group_members("g", ["i-a"])
        assert len(broker.describe_group("g").members) == 1  # nobody removed yet
        assert admin.remove_group_members("g", [
            MemberToRemove(member_id="someone", group_instance_id="i-a"),
            MemberToRemove(group_instance_id="i-a", reason="decommissioned"),
            MemberToRemove(group_instance_id="i-x"),
            MemberToRemove(member_id="ghost"),
        ]) == {"someone": FencedInstanceIdError, "i-a": NoError, "i-x": UnknownMemberIdError,
               "ghost": UnknownMemberIdError}
        assert broker.describe_group("g").state is GroupState.EMPTY
        assert admin.remove_group_members("nobody", [MemberToRemove(member_id="m")]) == {
            "m": UnknownMemberIdError}
        assert admin.remove_group_members("g", []) == {}


def not_stored(group, member_id):
    with group.lock:
        group.coordinator.not_stored(member_id)


def test_a_replacement_that_could_not_be_stored_is_undone_in_its_generation_only(group):
    # A cluster that cannot store a static member's replacement has the coordinator undo it
    # (pcmodel.cluster.client_groups); a failure in a later generation is that generation's:
    # the group rebalances, and the replacement stands.
    a, b = stable_static_pair(group)
    b2 = group.join("", group_instance_id="i-b")
    not_stored(group, b2.member_id)  # its own store failed: b is back
    assert group.members() == {a.member_id, b.member_id}
    assert group.heartbeat(b.member_id, 2, "i-b") is HeartbeatStatus.OK
    b3 = group.join("", group_instance_id="i-b")  # stored this time
    c = group.join("")  # a new member: generation 3
    assert c.pending
    a = group.join(a.member_id)
    b3 = group.join(b3.member_id, group_instance_id="i-b")
    c = group.join(c.member_id)
    assert group.state is GroupState.COMPLETING_REBALANCE and b3.generation == 3
    not_stored(group, a.member_id)  # generation 3's assignment could not be stored
    assert group.state is GroupState.PREPARING_REBALANCE
    assert group.members() == {a.member_id, b3.member_id, c.member_id}
    not_stored(group, b3.member_id)  # nor a second time: the replacement is not undone
    assert group.members() == {a.member_id, b3.member_id, c.member_id}
