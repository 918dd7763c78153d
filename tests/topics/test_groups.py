"""Consumer groups with real consumers: eager and cooperative rebalances, timeouts, metadata.

The consumers run in threads and the tests check what their rebalance listeners saw. The
coordinator's state machine itself is tested request by request in ``test_coordinator.py``.
"""

from __future__ import annotations

import logging
import threading

import pytest

from pcmodel.topics.broker import Broker, HeartbeatStatus
from pcmodel.topics.errors import CommitFailedError, InconsistentGroupProtocolError
from pcmodel.topics.structs import ConsumerGroupMetadata, ConsumerRebalanceListener, MemberState
from tests.topics.conftest import (
    FakeClock,
    Poller,
    RecordingListener,
    fill,
    group_settled,
    join_alone,
    tp,
    wait_until,
)

pytestmark = pytest.mark.timeout(20)


def test_a_consumer_sharing_no_assignor_gets_inconsistent_group_protocol_from_poll(
    broker, make_consumer
):
    broker.create_topic("t", 2)
    first = make_consumer("t", group_id="g", partition_assignment_strategy=("range",))
    wait_until(lambda: first.poll(timeout_ms=20) == {} and len(first.assignment()) == 2)
    second = make_consumer("t", group_id="g", partition_assignment_strategy=("roundrobin",))
    with pytest.raises(InconsistentGroupProtocolError, match="give every member a common assignor"):
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


class HeartbeatsHeldBack:
    """A broker for one consumer, whose heartbeat answers the test can hold back.

    Every call goes to ``broker``. After ``arm()``, the heartbeat that follows the first
    ``REBALANCE_IN_PROGRESS`` answer is answered by the broker at once but handed to the
    consumer only on ``release()``: an answer still on its way when the consumer starts to
    rejoin. ``joining`` is set when the consumer sends a JoinGroup.
    """

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.joining = threading.Event()
        self.holding = threading.Event()
        self._released = threading.Event()
        self._armed = False
        self._told = False

    def arm(self) -> None:
        self.joining.clear()
        self._armed, self._told = True, False

    def release(self) -> None:
        self._released.set()

    def connect(self) -> HeartbeatsHeldBack:
        return self

    def close(self) -> None:
        pass  # the broker is the test's to close

    def join_group(self, *args, **kwargs):
        self.joining.set()
        return self.broker.join_group(*args, **kwargs)

    def heartbeat(self, group_id, member_id, generation, group_instance_id=None):
        result = self.broker.heartbeat(group_id, member_id, generation, group_instance_id)
        if self._armed and result.status is HeartbeatStatus.REBALANCE_IN_PROGRESS:
            if self._told:
                self._armed = False
                self.holding.set()
                self._released.wait(10)
            self._told = True
        return result

    def __getattr__(self, name):
        return getattr(self.broker, name)


def test_a_heartbeat_answer_arriving_during_a_rejoin_starts_no_second_round(
    broker, make_consumer, caplog
):
    caplog.set_level(logging.DEBUG, logger="pcmodel.topics.consumer")
    broker.create_topic("t", 6)
    held = HeartbeatsHeldBack(broker)
    log: list = []
    c1 = make_consumer(group_id="g", broker=held)
    c2 = make_consumer(group_id="g")
    c3 = make_consumer(group_id="g")
    for name, consumer in (("c1", c1), ("c2", c2), ("c3", c3)):
        consumer.subscribe(["t"], listener=RecordingListener(name, log))
    with Poller(c1), Poller(c2):
        wait_until(group_settled(broker, "g", 2))
        wait_until(lambda: len(c1.assignment()) == len(c2.assignment()) == 3)
    generation = broker.describe_group("g").generation
    start = len(log)
    held.arm()
    with Poller(c3):
        # c1's heartbeat says "rebalance" once; the next one's answer, the same, is held back.
        wait_until(held.holding.is_set)
        with Poller(c1):
            wait_until(held.joining.is_set)  # c1 revoked and its JoinGroup is in flight
            held.release()
            wait_until(lambda: any("ignored" in r.getMessage() for r in caplog.records))
            with Poller(c2):
                wait_until(lambda: sum(e[1] == "assigned" for e in log[start:]) == 3)
                wait_until(group_settled(broker, "g", 3))
    for consumer in (c1, c2, c3):
        consumer.poll(timeout_ms=0)  # a rejoin still flagged would start here
    group = broker.describe_group("g")
    assert (group.state, group.generation) == ("Stable", generation + 1)
    assert sorted((e[0], e[1]) for e in log[start:]) == [
        ("c1", "assigned"), ("c1", "revoked"), ("c2", "assigned"), ("c2", "revoked"),
        ("c3", "assigned"),
    ]


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
        silent = join_alone(broker, "g", ["t"], session_timeout_ms=100)
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


def test_the_leader_rejoins_when_a_topic_of_the_group_grows(broker, make_consumer):
    broker.create_topic("t", 2)
    leader = make_consumer(group_id="g")
    leader.subscribe(["t"])
    follower = make_consumer(group_id="g")
    follower.subscribe(["t"])
    with Poller(leader), Poller(follower):
        wait_until(lambda: len(leader.assignment()) == len(follower.assignment()) == 1)
        generation = broker.describe_group("g").generation
        broker.add_partitions("t", 6)
        wait_until(lambda: len(leader.assignment()) == len(follower.assignment()) == 3)
    assert broker.describe_group("g").generation > generation


def test_consumers_of_one_group_agree_on_the_assignment_the_leader_made(broker, make_consumer):
    broker.create_topic("t", 5)
    consumers = [make_consumer(group_id="g", partition_assignment_strategy=("roundrobin",))
                 for _ in range(3)]
    for consumer in consumers:
        consumer.subscribe(["t"])
    pollers = [Poller(c) for c in consumers]
    for poller in pollers:
        poller.__enter__()
    try:
        wait_until(group_settled(broker, "g", 3))
        wait_until(lambda: sum(len(c.assignment()) for c in consumers) == 5)
        described = broker.describe_group("g")
        assert described.protocol == "roundrobin"
        by_member = {m.member_id: frozenset(m.assignment) for m in described.members}
        assert set(by_member.values()) == {frozenset(c.assignment()) for c in consumers}
        assert sorted(len(a) for a in by_member.values()) == [1, 2, 2]
    finally:
        for poller in pollers:
            poller.__exit__(None, None, None)


def test_group_metadata_follows_the_member_through_join_rebalance_and_leave(
    broker, make_consumer
):
    broker.create_topic("t", 2)
    seen: list[tuple[str, str]] = []

    class Watcher(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            seen.append(("revoked", consumer.group_metadata().state))

        def on_partitions_assigned(self, assigned):
            seen.append(("assigned", consumer.group_metadata().state))

    consumer = make_consumer(group_id="g")
    assert consumer.group_metadata() == ConsumerGroupMetadata("g")  # generation -1, unjoined
    consumer.subscribe(["t"], listener=Watcher())
    assert consumer.group_metadata().state == MemberState.UNJOINED
    wait_until(lambda: consumer.poll(timeout_ms=20) == {} and len(consumer.assignment()) == 2)
    joined = consumer.group_metadata()
    assert (joined.group_id, joined.state, joined.group_instance_id) == ("g", "<stable>", None)
    assert joined.member_id and joined.generation_id == broker.describe_group("g").generation
    other = make_consumer("t", group_id="g")
    wait_until(lambda: (other.poll(timeout_ms=20), consumer.poll(timeout_ms=20))
               and len(consumer.assignment()) == 1)
    assert ("revoked", MemberState.REBALANCING) in seen  # eager: revoked while joining
    assert seen[-1] == ("assigned", MemberState.STABLE)
    assert consumer.group_metadata().generation_id > joined.generation_id
    consumer.unsubscribe()
    assert consumer.group_metadata() == ConsumerGroupMetadata("g")
    alone = make_consumer(group_id=None)
    assert alone.group_metadata() == ConsumerGroupMetadata(None)
