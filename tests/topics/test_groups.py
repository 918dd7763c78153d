"""Consumer groups: joins, generations, fencing, timeouts, eager and cooperative rebalances.

The first half drives the coordinator through the broker's client methods with a hand-moved
clock, one call at a time (``timeout=0`` joins return ``pending`` instead of blocking), so each
step of the protocol is deterministic. The second half runs real consumers in threads and
checks what their rebalance listeners saw.
"""

from __future__ import annotations

import pytest

from pcmodel.topics.broker import Broker, HeartbeatStatus
from pcmodel.topics.errors import (
    CommitFailedError,
    InconsistentGroupProtocolError,
    InvalidSessionTimeoutError,
    KafkaConfigurationError,
    UnknownMemberIdError,
)
from tests.topics.conftest import (
    FakeClock,
    Poller,
    RecordingListener,
    fill,
    group_settled,
    tp,
    wait_until,
)

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def cbroker(clock):
    broker = Broker(clock=clock)
    broker.create_topic("t", 4)
    yield broker
    broker.close()


def join(broker, member="", generation=-1, strategy=("range",), **kw):
    kw.setdefault("timeout", 0)
    return broker.join_group("g", member, ["t"], assignors=strategy, generation=generation, **kw)


def owners(broker):
    """partition -> list of members owning it, from describe_group."""
    result = {}
    for m in broker.describe_group("g").members:
        for p in m.assignment:
            result.setdefault(p, []).append(m.member_id)
    return result


# --- the protocol, step by step ----------------------------------------------------------------


def test_a_lone_member_gets_every_partition(cbroker):
    r = join(cbroker)
    assert not r.pending and r.generation == 1
    assert r.assignment == tuple(tp("t", p) for p in range(4))
    assert cbroker.heartbeat("g", r.member_id, 1).status is HeartbeatStatus.OK
    d = cbroker.describe_group("g")
    assert (d.state, d.generation, d.protocol, d.assignor) == ("Stable", 1, "eager", "range")


def test_a_second_member_triggers_a_rebalance_and_fences_the_old_generation(cbroker):
    a = join(cbroker)
    b = join(cbroker)
    assert b.pending  # waits for a to rejoin
    assert cbroker.heartbeat("g", a.member_id, 1).status is HeartbeatStatus.REBALANCE_IN_PROGRESS
    # Commits of the current generation still work while the rebalance is prepared: that is
    # how on_partitions_revoked commits before rejoining.
    fill(cbroker, "t", 0, [b"x"])
    cbroker.commit_offsets("g", 1, a.member_id, {tp("t", 0): 1})
    a2 = join(cbroker, a.member_id, 1)
    assert not a2.pending and a2.generation == 2
    b2 = join(cbroker, b.member_id, -1)
    assert b2.generation == 2
    assert sorted(a2.assignment + b2.assignment) == [tp("t", p) for p in range(4)]
    assert len(a2.assignment) == len(b2.assignment) == 2
    with pytest.raises(CommitFailedError, match="generation 1"):
        cbroker.commit_offsets("g", 1, a.member_id, {tp("t", 0): 0})
    assert cbroker.committed("g", [tp("t", 0)])[tp("t", 0)].offset == 1
    cbroker.commit_offsets("g", 2, a.member_id, {tp("t", 0): 0})


def test_session_timeout_removes_a_silent_member(cbroker, clock):
    a = join(cbroker, session_timeout_ms=10_000)
    b = join(cbroker, session_timeout_ms=500)
    a = join(cbroker, a.member_id, 1, session_timeout_ms=10_000)
    b = join(cbroker, b.member_id, -1, session_timeout_ms=500)
    assert a.generation == b.generation == 2
    clock.advance(0.4)
    assert cbroker.heartbeat("g", a.member_id, 2).status is HeartbeatStatus.OK
    assert len(cbroker.describe_group("g").members) == 2  # b is within its session
    clock.advance(0.2)  # b silent for 0.6 s > 0.5 s
    d = cbroker.describe_group("g")
    assert [m.member_id for m in d.members] == [a.member_id]
    assert d.state == "PreparingRebalance"
    assert cbroker.heartbeat("g", b.member_id, 2).status is HeartbeatStatus.UNKNOWN_MEMBER
    with pytest.raises(CommitFailedError, match="no longer in group"):
        cbroker.commit_offsets("g", 2, b.member_id, {tp("t", 0): 0})
    with pytest.raises(UnknownMemberIdError):
        join(cbroker, b.member_id, 2)
    a3 = join(cbroker, a.member_id, 2, session_timeout_ms=10_000)
    assert a3.generation == 3 and len(a3.assignment) == 4


def test_a_member_that_does_not_rejoin_within_max_poll_interval_is_removed(cbroker, clock):
    a = join(cbroker, max_poll_interval_ms=1_000)
    b = join(cbroker, max_poll_interval_ms=1_000)
    a = join(cbroker, a.member_id, 1, max_poll_interval_ms=1_000)
    b = join(cbroker, b.member_id, -1, max_poll_interval_ms=1_000)
    c = join(cbroker)  # starts a rebalance
    join(cbroker, a.member_id, 2, max_poll_interval_ms=1_000)
    clock.advance(0.9)
    # b keeps heartbeating (its heartbeat thread is alive) but its application never rejoins.
    assert cbroker.heartbeat("g", b.member_id, 2).status is HeartbeatStatus.REBALANCE_IN_PROGRESS
    assert cbroker.heartbeat("g", c.member_id, -1).status is HeartbeatStatus.OK
    assert len(cbroker.describe_group("g").members) == 3
    clock.advance(0.2)
    members = {m.member_id for m in cbroker.describe_group("g").members}
    assert members == {a.member_id, c.member_id}
    a3 = join(cbroker, a.member_id, 2)
    c3 = join(cbroker, c.member_id, -1)
    assert a3.generation == c3.generation == 3
    assert sorted(a3.assignment + c3.assignment) == [tp("t", p) for p in range(4)]


def test_cooperative_rebalance_moves_partitions_in_two_rounds(cbroker):
    coop = ("cooperative-sticky",)
    a = join(cbroker, strategy=coop)
    assert a.protocol == "cooperative" and len(a.assignment) == 4
    b = join(cbroker, strategy=coop)
    # Round 1: a keeps what stays with it; nothing moving is owned by two members.
    a1 = join(cbroker, a.member_id, a.generation, strategy=coop)
    b1 = join(cbroker, b.member_id, -1, strategy=coop)
    assert a1.generation == b1.generation == 2
    assert a1.rejoin and b1.rejoin
    assert len(a1.assignment) == 2 and b1.assignment == ()
    assert set(a1.assignment) < set(a.assignment)
    assert all(len(o) == 1 for o in owners(cbroker).values())
    # Round 2: a revoked the moving partitions, so b gets them.
    a2 = join(cbroker, a.member_id, 2, strategy=coop)
    assert a2.pending
    b2 = join(cbroker, b.member_id, 2, strategy=coop)
    a2 = join(cbroker, a.member_id, 2, strategy=coop)
    assert a2.generation == b2.generation == 3
    assert not a2.rejoin and not b2.rejoin
    assert a2.assignment == a1.assignment  # a kept its partitions throughout
    assert set(b2.assignment) == set(a.assignment) - set(a1.assignment)


def test_leaving_moves_partitions_at_once_and_an_empty_group_fences_everyone(cbroker):
    a = join(cbroker)
    b = join(cbroker)
    a = join(cbroker, a.member_id, 1)
    b = join(cbroker, b.member_id, -1)
    cbroker.leave_group("g", b.member_id)
    cbroker.leave_group("g", "unknown")  # ignored
    a3 = join(cbroker, a.member_id, 2)
    assert len(a3.assignment) == 4
    cbroker.leave_group("g", a.member_id)
    d = cbroker.describe_group("g")
    assert (d.state, d.members, d.generation) == ("Empty", (), 4)
    with pytest.raises(CommitFailedError):
        cbroker.commit_offsets("g", 3, a.member_id, {tp("t", 0): 0})


def test_adding_partitions_rebalances_subscribed_groups(cbroker):
    a = join(cbroker)
    cbroker.add_partitions("t", 6)
    assert cbroker.heartbeat("g", a.member_id, 1).status is HeartbeatStatus.REBALANCE_IN_PROGRESS
    a2 = join(cbroker, a.member_id, 1)
    assert len(a2.assignment) == 6


def test_bad_group_settings_are_rejected_before_joining(cbroker):
    with pytest.raises(KafkaConfigurationError, match="choose from"):
        join(cbroker, strategy=("fastest",))
    with pytest.raises(InvalidSessionTimeoutError):
        join(cbroker, session_timeout_ms=0)
    assert cbroker.list_groups() == []
    join(cbroker, strategy=("range",))
    with pytest.raises(InconsistentGroupProtocolError, match="shares no assignor") as caught:
        join(cbroker, strategy=("roundrobin",))
    assert caught.value.errno == 23
    assert len(cbroker.describe_group("g").members) == 1


def test_a_consumer_sharing_no_assignor_gets_inconsistent_group_protocol_from_poll(
    broker, make_consumer
):
    broker.create_topic("t", 2)
    first = make_consumer("t", group_id="g", partition_assignment_strategy=("range",))
    wait_until(lambda: first.poll(timeout_ms=20) == {} and len(first.assignment()) == 2)
    second = make_consumer("t", group_id="g", partition_assignment_strategy=("roundrobin",))
    with pytest.raises(InconsistentGroupProtocolError, match="give every member a common one"):
        second.poll(timeout_ms=0)
    # The group is untouched: the first member keeps everything, the second owns nothing.
    assert len(broker.describe_group("g").members) == 1
    assert second.assignment() == set()
    assert first.poll(timeout_ms=0) == {} and len(first.assignment()) == 2


# --- real consumers ----------------------------------------------------------------------------


def test_eager_rebalance_revokes_on_all_members_before_any_assignment(broker, make_consumer):
    broker.create_topic("t", 6)
    for p in range(6):
        fill(broker, "t", p, [b"x"] * 3)
    log: list = []
    consumers = {}
    for name in ("c1", "c2", "c3"):
        consumer = make_consumer(group_id="g", enable_auto_commit=False,
                                 auto_offset_reset="earliest")
        # Each listener commits the positions of what it gives up, as applications should.
        consumer.subscribe(["t"], listener=RecordingListener(name, log, consumer=consumer))
        consumers[name] = consumer
    c1, c2, c3 = consumers.values()

    def assigned_since(start):
        return [e for e in log[start:] if e[1] == "assigned"]

    with Poller(c1) as p1, Poller(c2) as p2:
        # Synchronise on the listeners' events: assignment() changes just before the callback.
        wait_until(lambda: {e[0] for e in assigned_since(0) if len(e[2]) == 3} == {"c1", "c2"})
        wait_until(lambda: p1.count() + p2.count() == 18)
        before = {name: sorted(c.assignment()) for name, c in consumers.items()}
        start = len(log)
        with Poller(c3) as p3:
            wait_until(lambda: len(assigned_since(start)) == 3)
            wait_until(group_settled(broker, "g", 3))
        events = log[start:]
        revoked = [i for i, e in enumerate(events) if e[1] == "revoked"]
        assigned = [i for i, e in enumerate(events) if e[1] == "assigned"]
        # Eager: c1 and c2 gave up everything, and both did so before anyone got anything.
        assert sorted(events[i][:3] for i in revoked) == [
            ("c1", "revoked", before["c1"]), ("c2", "revoked", before["c2"])
        ]
        assert max(revoked) < min(assigned)
        assert sorted(events[i][0] for i in assigned) == ["c1", "c2", "c3"]
        # The revoked offsets were committed, so the newcomer read nothing again.
        assert p3.count() == 0
        assert all(lag == 0 for lag in broker.describe_group("g").lag.values())
        # c3 leaves (close revokes and leaves at once): the others take its partitions.
        start = len(log)
        c3_parts = sorted(c3.assignment())
        c3.close()
        wait_until(lambda: len(assigned_since(start)) == 2)
    events = log[start:]
    assert events[0] == ("c3", "revoked", c3_parts)
    later = [(e[0], e[1]) for e in events[1:]]
    assert sorted(later[:2]) == [("c1", "revoked"), ("c2", "revoked")]
    assert sorted(later[2:]) == [("c1", "assigned"), ("c2", "assigned")]


def test_cooperative_rebalance_revokes_only_moving_partitions(broker, make_consumer):
    broker.create_topic("t", 4)
    log: list = []
    strategy = ("cooperative-sticky",)
    listeners = [RecordingListener("c1", log), RecordingListener("c2", log)]
    c1 = make_consumer(group_id="g", partition_assignment_strategy=strategy)
    c1.subscribe(["t"], listener=listeners[0])
    c2 = make_consumer(group_id="g", partition_assignment_strategy=strategy)
    c2.subscribe(["t"], listener=listeners[1])
    with Poller(c1) as p1:
        wait_until(lambda: ("c1", "assigned", [tp("t", p) for p in range(4)]) in log)
        start = len(log)
        with Poller(c2) as p2:
            wait_until(lambda: len(c1.assignment()) == 2 and len(c2.assignment()) == 2)
            wait_until(group_settled(broker, "g", 2))
    # Listener callbacks ran in each consumer's polling thread, never in a background thread.
    assert listeners[0].threads == {p1.ident} and listeners[1].threads == {p2.ident}
    events = log[start:]
    moved = sorted(c2.assignment())
    c1_revoked = [e for e in events if e[:2] == ("c1", "revoked")]
    assert c1_revoked == [("c1", "revoked", moved)]  # only what moved, once
    c2_assigned = [p for e in events if e[:2] == ("c2", "assigned") for p in e[2]]
    assert sorted(c2_assigned) == moved
    # The moving partitions reached c2 only after c1 had revoked them.
    first_c2_with_parts = next(
        i for i, e in enumerate(events) if e[:2] == ("c2", "assigned") and e[2]
    )
    assert events.index(c1_revoked[0]) < first_c2_with_parts
    assert all(not e[2] for e in events if e[:2] == ("c1", "assigned"))
    assert broker.describe_group("g").generation == 3  # two rounds after the first join


def test_a_member_that_stops_polling_is_removed_and_told_its_partitions_are_lost(
    broker, make_consumer
):
    broker.create_topic("t", 2)
    log: list = []
    slow = make_consumer(group_id="g", max_poll_interval_ms=200)
    slow.subscribe(["t"], listener=RecordingListener("slow", log))
    other = make_consumer(group_id="g")
    other.subscribe(["t"], listener=RecordingListener("other", log))
    with Poller(other):
        with Poller(slow):
            wait_until(lambda: len(slow.assignment()) == 1 and len(other.assignment()) == 1)
        # slow's application stopped calling poll(); its heartbeat thread leaves the group.
        wait_until(lambda: len(other.assignment()) == 2)
        assert len(broker.describe_group("g").members) == 1
        with pytest.raises(CommitFailedError):
            slow.commit({next(iter(slow.assignment())): 0})
        slow.poll(timeout_ms=0)  # learns it lost its partition
        assert ("slow", "lost", [tp("t", 0)]) in log or ("slow", "lost", [tp("t", 1)]) in log
        assert slow.assignment() == set()


def test_session_timeout_moves_the_partitions_of_a_silent_member(make_consumer):
    clock = FakeClock()
    broker = Broker(clock=clock)
    try:
        broker.create_topic("t", 2)
        silent = broker.join_group("g", "", ["t"], session_timeout_ms=100, timeout=0)
        assert len(silent.assignment) == 2
        survivor = make_consumer(group_id="g", broker=broker)
        survivor.subscribe(["t"])
        with Poller(survivor):
            wait_until(lambda: len(broker.describe_group("g").members) == 2)
            clock.advance(1.0)  # past the silent member's session, well within the survivor's
            wait_until(lambda: len(survivor.assignment()) == 2)
        assert [m.member_id for m in broker.describe_group("g").members] != [silent.member_id]
        assert broker.heartbeat("g", silent.member_id, 1).status is HeartbeatStatus.UNKNOWN_MEMBER
        survivor.close()
    finally:
        broker.close()


def test_pattern_subscription_picks_up_topics_created_later(broker, make_consumer):
    broker.create_topic("events-a", 1)
    broker.create_topic("other", 1)
    consumer = make_consumer(group_id="g", auto_offset_reset="earliest")
    consumer.subscribe(pattern=r"events-.*")
    assert consumer.subscription() == {"events-a"}
    with Poller(consumer) as poller:
        wait_until(lambda: consumer.assignment() == {tp("events-a", 0)})
        broker.create_topic("events-b", 1)
        fill(broker, "events-b", 0, [b"new"])
        wait_until(lambda: consumer.assignment() == {tp("events-a", 0), tp("events-b", 0)})
        wait_until(lambda: poller.count() == 1)
    assert consumer.subscription() == {"events-a", "events-b"}
    assert poller.records[0].topic == "events-b"


def test_deleting_a_subscribed_topic_takes_its_partitions_away(broker, make_consumer):
    broker.create_topic("a", 1)
    broker.create_topic("b", 1)
    consumer = make_consumer(group_id="g")
    consumer.subscribe(["a", "b"])
    with Poller(consumer):
        wait_until(lambda: len(consumer.assignment()) == 2)
        broker.delete_topic("b")
        wait_until(lambda: consumer.assignment() == {tp("a", 0)})
