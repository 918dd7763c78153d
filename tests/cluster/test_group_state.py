"""Group metadata in ``__consumer_offsets``: a new coordinator carries on with the same members
and generation, reports the replicated committed offsets, and the offsets of a deleted topic or
group, or deleted by OffsetDelete, go on every future coordinator."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.errors import LeaderNotAvailableError, NotLeaderForPartitionError
from pcmodel.cluster.offsets import OFFSETS_TOPIC, OFFSETS_TOPIC_CONFIGS
from pcmodel.topics import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from pcmodel.topics.consumer_protocol import encode_assignment, encode_subscription
from pcmodel.topics.errors import CoordinatorNotAvailableError, KafkaTimeoutError
from pcmodel.topics.group_answers import GroupState, HeartbeatStatus
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from tests.conftest import wait_until

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


def real_time(mode):
    """Settings for a cluster on threads or processes: quick to notice a dead broker, yet
    generous enough that a loaded machine fences no live one; groups form without delay."""
    return dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                tick_ms=10 if mode == "threads" else 20, group_initial_rebalance_delay_ms=0)


def form_group(conn, group="g"):
    """Two members, one generation, the leader assigns t-0 and t-1 by hand."""
    subscription = [("range", encode_subscription(["t"]))]

    def join(member_id):
        return conn.join_group(group, member_id, protocols=subscription,
                               session_timeout_ms=10_000, timeout=0)

    first = join("")  # generation 1, alone
    second = join("")
    assert second.pending  # a rebalance: it waits for the first member to join again
    first = join(first.member_id)  # completes generation 2
    second = join(second.member_id)  # picks up its answer
    assert first.generation == second.generation == 2
    leader = first if first.leader == first.member_id else second
    plan = {first.member_id: encode_assignment([T0]), second.member_id: encode_assignment([T1])}
    conn.sync_group(group, leader.member_id, leader.generation, assignments=plan, timeout=5)
    return first, second


def form_empty_group(conn, offsets, group="g"):
    """A group formed by :func:`form_group` that commits ``offsets`` in its generation, then
    loses both members: an empty group whose offsets stay."""
    first, second = form_group(conn, group)
    conn.commit_offsets(group, first.generation, first.member_id, offsets)
    conn.leave_group(group, first.member_id)
    conn.leave_group(group, second.member_id)


def kill_coordinator(cluster, group="g"):
    old = cluster.connect()._offsets.coordinator(group)
    cluster.kill(old)
    cluster.settle()
    new = cluster.leader(OFFSETS_TOPIC, 0)
    assert new not in (None, old)
    return old, new


@pytest.mark.timeout(30)
def test_a_new_coordinator_knows_the_members_generation_and_offsets(make_cluster):
    cluster = make_cluster(group_initial_rebalance_delay_ms=0)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    first, second = form_group(conn)
    conn.commit_offsets("g", first.generation, first.member_id, {T0: 7, T1: 3})
    before = conn.describe_group("g")
    kill_coordinator(cluster)
    after = conn.describe_group("g")  # the very first request to the new coordinator
    assert after.state is GroupState.STABLE
    assert after.generation == before.generation == first.generation
    assert after.leader == before.leader
    assert {m.member_id: m.assignment for m in after.members} == {
        first.member_id: (T0,), second.member_id: (T1,)}
    assert {tp: v.offset for tp, v in after.committed.items()} == {T0: 7, T1: 3}
    # The members carry on: heartbeats and commits of the same generation succeed.
    for member in (first, second):
        beat = conn.heartbeat("g", member.member_id, member.generation)
        assert beat.status is HeartbeatStatus.OK
    conn.commit_offsets("g", second.generation, second.member_id, {T1: 5})
    assert {tp: v.offset for tp, v in conn.describe_group("g").committed.items()} == {
        T0: 7, T1: 5}


@pytest.mark.timeout(30)
def test_a_stepped_cluster_is_driven_while_a_group_call_waits_for_a_coordinator(make_cluster):
    cluster = make_cluster(group_initial_rebalance_delay_ms=0, replica_lag_time_max_ms=1000,
                           broker_session_timeout_ms=1000)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    first, _ = form_group(conn)
    old = conn._offsets.coordinator("g")
    cluster.kill(old)  # nobody drives the cluster but the call itself
    beat = conn.heartbeat("g", first.member_id, first.generation)
    assert beat.status is HeartbeatStatus.OK  # a new coordinator was elected, and loaded "g"
    assert conn._offsets.coordinator("g") not in (None, old)


@pytest.mark.timeout(30)
def test_a_new_coordinator_knows_which_member_holds_a_static_instance_id(make_cluster):
    cluster = make_cluster(group_initial_rebalance_delay_ms=0)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    subscription = [("range", encode_subscription(["t"]))]

    def join():
        return conn.join_group("g", "", protocols=subscription, session_timeout_ms=10_000,
                               group_instance_id="i-1", timeout=5)

    first = join()
    conn.sync_group("g", first.member_id, 1, assignments={first.member_id: encode_assignment(
        [T0, T1])}, group_instance_id="i-1", timeout=5)
    restarted = join()  # takes first's place: stored at once, before any SyncGroup
    assert (restarted.generation, restarted.pending) == (1, False)
    kill_coordinator(cluster)
    described = conn.describe_group("g")
    assert [(m.member_id, m.group_instance_id) for m in described.members] == [
        (restarted.member_id, "i-1")]
    assert conn.heartbeat("g", restarted.member_id, 1, "i-1").status is HeartbeatStatus.OK
    assert conn.heartbeat("g", first.member_id, 1, "i-1").status is \
        HeartbeatStatus.FENCED_INSTANCE_ID
    synced = conn.sync_group("g", restarted.member_id, 1, group_instance_id="i-1", timeout=5)
    assert synced.assignment == encode_assignment([T0, T1])


@pytest.mark.timeout(30)
def test_describe_group_reads_offsets_committed_after_the_coordinator_loaded(make_cluster):
    # The coordinator's local copy is not the source: offsets written to the offsets topic
    # directly (as another coordinator would) show up, and the lag follows them.
    cluster = make_cluster(group_initial_rebalance_delay_ms=0)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    cluster.produce("t", 0, [(None, b"x")] * 4, acks="all").get(timeout=5)
    conn = cluster.connect()
    form_group(conn)
    conn._offsets.commit("g", {T0: 1}).get(timeout=5)
    described = conn.describe_group("g")
    assert {tp: v.offset for tp, v in described.committed.items()} == {T0: 1}
    assert described.lag == {T0: 3, T1: None}
    # A partition whose leader is down has no lag to give: it is unknown, not waited for.
    dead = cluster.leader("t", 0)
    assert cluster.leader("__consumer_offsets", 0) != dead  # the coordinator stays
    cluster.kill(dead)  # stepped: no new leader until the cluster runs
    assert cluster.leader("t", 0) == dead
    assert conn.describe_group("g").lag == {T0: None, T1: None}


@pytest.mark.timeout(30)
def test_a_commit_shows_only_once_acknowledged_even_to_a_coordinator_loading_meanwhile(
        make_cluster):
    # A coordinator that loads its partition while a commit waits for a follower must not
    # show that commit: the follower may become leader without it, and the commit is lost.
    cluster = make_cluster(replica_lag_time_max_ms=10_000)
    cluster.create_topic("t", 1, replication_factor=3)
    offsets = cluster.connect()._offsets
    coordinator = offsets.coordinator("g")
    lagging = next(b for b in range(3) if b != coordinator)
    cluster.isolate(lagging)  # still in the ISR for ten seconds: the commit waits for it
    waiting = offsets.commit("g", {T0: 5})
    assert offsets.committed("g", [T0]) == {T0: None}  # the first load of this coordinator
    cluster.stop(coordinator)  # the lagging replica can lead: it is in the ISR
    cluster.heal(lagging)
    new = cluster.leader(OFFSETS_TOPIC, 0)
    assert new != coordinator
    assert not waiting.succeeded()
    if new == lagging:  # it never had the commit: nobody ever saw it
        assert offsets.committed("g", [T0]) == {T0: None}
    offsets.commit("g", {T0: 6}).get(timeout=5)
    assert offsets.committed("g", [T0]) == {T0: OffsetAndMetadata(6, "", -1)}


@pytest.mark.timeout(30)
def test_a_new_coordinator_loads_only_once_its_high_watermark_passed_its_epochs_start(
        make_cluster):
    # The old leader's last commit reached one follower but not the other (dead, still in the
    # ISR): not committed. The follower that has it leads next; it must not show the commit
    # before it is committed, or a later leader without it would show an older offset.
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3)
    offsets = cluster.connect()._offsets
    offsets.commit("g", {T0: 1}).get(timeout=5)
    old = offsets.coordinator("g")
    replicas = cluster.metadata()[TopicPartition(OFFSETS_TOPIC, 0)].replicas
    heir, dead = [b for b in replicas if b != old]  # the election takes them in this order
    cluster.kill(dead)
    waiting = offsets.commit("g", {T0: 2})
    cluster.step()  # the heir copies it; the high watermark waits for the dead follower
    assert not waiting.done()
    cluster.stop(old)
    assert cluster.leader(OFFSETS_TOPIC, 0) == heir
    with pytest.raises(LeaderNotAvailableError, match="still loading"):
        offsets.committed("g", [T0])
    # The dead follower leaves the ISR (at the heir's first periodic check more than a lag
    # limit after it took over: within one and a half); the heir alone meets the offsets
    # topic's min.insync.replicas (Kafka's broker default, 1): the commit is committed, and
    # loaded.
    cluster.run_for(1.5 * cluster.replica_lag_time_max)
    assert cluster.isr(OFFSETS_TOPIC, 0) == {heir}
    assert offsets.committed("g", [T0]) == {T0: OffsetAndMetadata(2, "", -1)}
    cluster.restart(old)
    cluster.settle()
    assert offsets.committed("g", [T0]) == {T0: OffsetAndMetadata(2, "", -1)}


@pytest.mark.timeout(30)
def test_a_coordinator_that_has_not_heard_it_leads_is_not_available_yet(make_cluster,
                                                                         monkeypatch):
    # A broker process learns it leads with its next heartbeat: until then the load cannot
    # ask it where the previous epoch ended, and the answer is the retriable "no leader yet".
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3)
    offsets = cluster.connect()._offsets
    offsets.commit("g", {T0: 1}).get(timeout=5)
    cluster.stop(offsets.coordinator("g"))  # a new leader at epoch 1, not loaded yet

    def not_yet(*args):
        raise NotLeaderForPartitionError("it has not heard it leads")

    monkeypatch.setattr(cluster, "end_offset_for_epoch", not_yet)
    with pytest.raises(LeaderNotAvailableError, match="yet"):
        offsets.committed("g", [T0])
    monkeypatch.undo()
    assert offsets.committed("g", [T0]) == {T0: OffsetAndMetadata(1, "", -1)}


@pytest.mark.timeout(30)
def test_a_group_that_left_or_was_deleted_is_not_restored(make_cluster):
    cluster = make_cluster(group_initial_rebalance_delay_ms=0)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    first, second = form_group(conn, "gone")
    conn.leave_group("gone", first.member_id)
    conn.leave_group("gone", second.member_id)
    conn.delete_group("gone")
    form_group(conn, "kept")
    kill_coordinator(cluster, "kept")
    assert conn.list_groups() == ["kept"]
    beat = conn.heartbeat("gone", first.member_id, first.generation)
    assert beat.status is HeartbeatStatus.UNKNOWN_MEMBER


@pytest.mark.timeout(30)
def test_a_deleted_topics_committed_offsets_are_removed(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    cluster.create_topic("other", 1, replication_factor=3)
    conn = cluster.connect()
    other = TopicPartition("other", 0)
    conn.commit_offsets("g", -1, "", {T0: 4, T1: 2, other: 1})
    cluster.delete_topic("t")
    assert conn._offsets.all_committed("g") == {other: OffsetAndMetadata(1)}
    coordinator = conn._offsets.coordinator("g")
    log = cluster.log(coordinator, OFFSETS_TOPIC, 0)
    tombstones = {r.key for r in log if r.value is None}
    assert tombstones == {b"g\x00t\x000", b"g\x00t\x001"}
    # Created again, the topic starts without committed offsets, on any future coordinator.
    cluster.create_topic("t", 2, replication_factor=3)
    kill_coordinator(cluster)
    assert conn.committed("g", [T0, T1, other]) == {T0: None, T1: None, other: conn.committed(
        "g", [other])[other]}
    assert conn.committed("g", [other])[other].offset == 1


@pytest.mark.timeout(30)
def test_committed_metadata_is_replicated_with_the_offset(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    conn.commit_offsets("g", -1, "", {T0: OffsetAndMetadata(4, "batch 17"), T1: 2})
    kill_coordinator(cluster)
    assert conn.committed("g", [T0, T1]) == {T0: OffsetAndMetadata(4, "batch 17"),
                                              T1: OffsetAndMetadata(2)}
    assert conn.describe_group("g").committed[T0].metadata == "batch 17"


@pytest.mark.timeout(30)
def test_a_deleted_groups_offsets_go_with_it(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    conn.commit_offsets("g", -1, "", {T0: 4, T1: 2})
    kill_coordinator(cluster)  # the next one loads the group from its offsets alone
    assert conn.list_groups() == ["g"]
    assert conn.describe_group("g").state is GroupState.EMPTY
    conn.delete_group("g")
    assert conn.committed("g", [T0, T1]) == {T0: None, T1: None}
    assert conn.list_groups() == []


@pytest.mark.timeout(30)
def test_offset_delete_tombstones_what_the_coordinator_let_go(make_cluster):
    cluster = make_cluster(group_initial_rebalance_delay_ms=0)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    cluster.create_topic("other", 1, replication_factor=3)
    conn = cluster.connect()
    other = TopicPartition("other", 0)
    first, second = form_group(conn)  # subscribed to "t"
    conn.commit_offsets("g", first.generation, first.member_id, {T0: 4, other: 1})
    results = conn.delete_offsets("g", [T0, other])
    assert {p: type(e).__name__ if e else None for p, e in results.items()} == {
        T0: "GroupSubscribedToTopicError", other: None}
    kill_coordinator(cluster)  # the next one loads the store: the deletion holds there
    assert conn.committed("g", [T0, other]) == {T0: conn.committed("g", [T0])[T0], other: None}
    assert conn.committed("g", [T0])[T0].offset == 4
    conn.leave_group("g", first.member_id)
    conn.leave_group("g", second.member_id)
    assert conn.delete_offsets("g", [T0]) == {T0: None}  # empty, and no offset left: gone
    assert conn.list_groups() == []
    assert conn.committed("g", [T0]) == {T0: None}


class Recorder(ConsumerRebalanceListener):
    def __init__(self):
        self.calls: list[tuple[str, list]] = []

    def on_partitions_revoked(self, revoked):
        self.calls.append(("revoked", sorted(revoked)))

    def on_partitions_assigned(self, assigned):
        self.calls.append(("assigned", sorted(assigned)))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_consumers_keep_member_id_and_generation_across_the_coordinators_kill(mode):
    # In process mode the coordinator's death is a SIGKILL of its broker process.
    with Cluster(3, mode=mode, **real_time(mode)) as cluster:
        cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
        # Idempotent: a batch the killed leader appended but never acknowledged is retried
        # on the next leader, and must not be appended twice ("each record read once" below).
        producer = KafkaProducer(broker=cluster, acks="all", retries=2000, retry_backoff_ms=20,
                                 enable_idempotence=True)
        listeners = [Recorder(), Recorder()]
        consumers = []
        for listener in listeners:
            consumer = KafkaConsumer(broker=cluster, group_id="g",
                                     auto_offset_reset="earliest", enable_auto_commit=False,
                                     fetch_max_wait_ms=20, heartbeat_interval_ms=10,
                                     session_timeout_ms=3000)
            consumer.subscribe(["t"], listener=listener)
            consumers.append(consumer)

        def read(wanted):
            got: list[bytes] = []

            def more():
                for consumer in consumers:
                    for records in consumer.poll(timeout_ms=20).values():
                        got.extend(r.value for r in records)
                return set(got) >= wanted
            wait_until(more, timeout=30)
            return got

        try:
            wait_until(lambda: all(c.poll(timeout_ms=20) is not None and c.assignment()
                                   for c in consumers) and
                       sorted(tp for c in consumers for tp in c.assignment()) == [T0, T1],
                       timeout=30)
            for i in range(10):
                producer.send("t", value=b"a%d" % i, partition=i % 2)
            producer.flush(timeout=10)
            read({b"a%d" % i for i in range(10)})
            for consumer in consumers:
                consumer.commit()
            # From here on nothing may rebalance the group (a loaded machine could have
            # rebalanced it before, e.g. a starved heartbeat thread: that is not the test).
            ids = [(c._member_id, c._generation) for c in consumers]
            calls = [list(listener.calls) for listener in listeners]
            kill_coordinator_threads(cluster)
            for i in range(10):
                producer.send("t", value=b"b%d" % i, partition=i % 2)
            producer.flush(timeout=20)
            after = read({b"b%d" % i for i in range(10)})
            for consumer in consumers:
                consumer.commit()
            # Same members, same generation, and no rebalance listener call after the kill.
            assert [(c._member_id, c._generation)
                    for c in consumers] == ids
            assert [listener.calls for listener in listeners] == calls
            # Positions carried on: each new record read once, nothing committed read again.
            assert sorted(after) == sorted(b"b%d" % i for i in range(10))
            committed = cluster.connect().committed("g", [T0, T1])
            assert {tp: v.offset for tp, v in committed.items()} == {T0: 10, T1: 10}
        finally:
            for consumer in consumers:
                consumer.close()
            producer.close(timeout=10)


def kill_coordinator_threads(cluster):
    old = cluster.connect()._offsets.coordinator("g")
    cluster.kill(old)
    wait_until(lambda: cluster.leader(OFFSETS_TOPIC, 0) not in (None, old), timeout=20)


@pytest.mark.timeout(60)
def test_a_broker_process_that_becomes_coordinator_loads_a_group_that_only_committed():
    # The load crosses the broker process's door (load_group, load_offsets).
    settings = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=20)
    with Cluster(3, mode="processes", **settings) as cluster:
        cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
        conn = cluster.connect()
        conn.commit_offsets("g", -1, "", {T0: OffsetAndMetadata(4, "note")})
        kill_coordinator_threads(cluster)
        wait_until(lambda: conn.list_groups() == ["g"], timeout=20)
        assert conn.describe_group("g").committed == {T0: OffsetAndMetadata(4, "note")}
        assert conn.delete_offsets("g", [T0]) == {T0: None}
        assert conn.list_groups() == []


# --- when the group's metadata cannot be stored ------------------------------------------------


def offsets_topic_needing_two_in_sync(cluster):
    """Create ``__consumer_offsets`` before the coordinators do, with min.insync.replicas 2
    (theirs takes the broker default, 1, as Kafka's does), as an operator may."""
    cluster.create_topic(OFFSETS_TOPIC, 1, replication_factor=3, min_insync_replicas=2,
                         configs=OFFSETS_TOPIC_CONFIGS)


def starve_the_offsets_partition(cluster, group="g"):
    """Kill every broker but the group's coordinator: its offsets partition keeps one in-sync
    replica, below min.insync.replicas (2, :func:`offsets_topic_needing_two_in_sync`), so
    nothing can be stored there. Returns the dead brokers and the partition."""
    conn = cluster.connect()
    coordinator = conn._offsets.coordinator(group)
    partition = conn._offsets.partition_for(group)
    dead = [b for b in range(3) if b != coordinator]
    for broker in dead:
        cluster.kill(broker)
    if cluster.mode == "steps":
        cluster.run_for(3)
    wait_until(lambda: cluster.isr(OFFSETS_TOPIC, partition) == {coordinator}, timeout=20)
    return dead, partition


def static_join(conn, timeout=5):
    return conn.join_group("g", "", protocols=[("range", encode_subscription(["t"]))],
                           session_timeout_ms=10_000, group_instance_id="i-1", timeout=timeout)


@pytest.mark.timeout(30)
def test_a_static_replacement_that_cannot_be_stored_is_undone(make_cluster):
    cluster = make_cluster(group_initial_rebalance_delay_ms=0, replica_lag_time_max_ms=1000,
                           broker_session_timeout_ms=1000)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    offsets_topic_needing_two_in_sync(cluster)
    conn = cluster.connect()
    first = static_join(conn)
    conn.sync_group("g", first.member_id, 1, assignments={first.member_id: encode_assignment(
        [T0, T1])}, group_instance_id="i-1", timeout=5)
    dead, _ = starve_the_offsets_partition(cluster)
    with pytest.raises(CoordinatorNotAvailableError, match="could not be stored"):
        static_join(conn)  # a restarted instance: its replacement is not stored
    # As in Kafka, the old member holds its place again, unfenced; the group did not move.
    assert conn.heartbeat("g", first.member_id, 1, "i-1").status is HeartbeatStatus.OK
    synced = conn.sync_group("g", first.member_id, 1, group_instance_id="i-1", timeout=5)
    assert synced.assignment == encode_assignment([T0, T1])
    described = conn.describe_group("g")
    assert [m.member_id for m in described.members] == [first.member_id]
    assert (described.state, described.generation) == (GroupState.STABLE, 1)
    for broker in dead:
        cluster.restart(broker)
    cluster.settle()
    restarted = static_join(conn)  # stored now: it takes the place
    assert (restarted.generation, restarted.pending) == (1, False)
    assert conn.heartbeat("g", first.member_id, 1, "i-1").status is \
        HeartbeatStatus.FENCED_INSTANCE_ID


@pytest.mark.timeout(30)
def test_a_generation_that_cannot_be_stored_is_not_kept(make_cluster):
    cluster = make_cluster(group_initial_rebalance_delay_ms=0, replica_lag_time_max_ms=1000,
                           broker_session_timeout_ms=1000)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    offsets_topic_needing_two_in_sync(cluster)
    conn = cluster.connect()
    subscription = [("range", encode_subscription(["t"]))]
    first = conn.join_group("g", "", protocols=subscription, session_timeout_ms=10_000,
                            timeout=0)
    dead, _ = starve_the_offsets_partition(cluster)
    plan = {first.member_id: encode_assignment([T0, T1])}
    with pytest.raises(CoordinatorNotAvailableError, match="could not be stored"):
        conn.sync_group("g", first.member_id, first.generation, assignments=plan, timeout=5)
    # Kafka resets the generation's assignment and rebalances: the member joins again.
    assert conn.describe_group("g").state is GroupState.PREPARING_REBALANCE
    assert conn.heartbeat("g", first.member_id, first.generation).status is \
        HeartbeatStatus.REBALANCE_IN_PROGRESS
    for broker in dead:
        cluster.restart(broker)
    cluster.settle()
    again = conn.join_group("g", first.member_id, protocols=subscription,
                            session_timeout_ms=10_000, timeout=5)
    assert again.generation == first.generation + 1
    synced = conn.sync_group("g", first.member_id, again.generation, assignments=plan,
                             timeout=5)
    assert synced.assignment == plan[first.member_id]
    assert conn.describe_group("g").state is GroupState.STABLE


@pytest.mark.timeout(30)
def test_no_member_gets_the_assignment_before_it_is_stored(make_cluster, monkeypatch):
    # Kafka's coordinator stores the leader's assignment first and then answers every member:
    # while it is being stored the group is CompletingRebalance and a follower's SyncGroup
    # waits, so no member acts on a generation a new coordinator would not know.
    cluster = make_cluster(group_initial_rebalance_delay_ms=0)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    subscription = [("range", encode_subscription(["t"]))]

    def join(member_id):
        return conn.join_group("g", member_id, protocols=subscription,
                               session_timeout_ms=10_000, timeout=0)

    first, second = join(""), join("")
    first, second = join(first.member_id), join(second.member_id)
    leader, follower = (first, second) if first.leader == first.member_id else (second, first)
    seen = []
    store = conn._offsets.store_group

    def store_group(group, record, timeout=30.0):
        if not seen:  # the leader's store: what the group and a follower see meanwhile
            seen.append("storing")
            synced = conn.sync_group("g", follower.member_id, 2, timeout=0)
            seen[0] = (conn.describe_group("g").state, synced.pending)
        return store(group, record, timeout)

    monkeypatch.setattr(conn._offsets, "store_group", store_group)
    plan = {leader.member_id: encode_assignment([T0]), follower.member_id: encode_assignment([T1])}
    assert conn.sync_group("g", leader.member_id, 2, assignments=plan, timeout=5).assignment == \
        plan[leader.member_id]
    assert seen == [(GroupState.COMPLETING_REBALANCE, True)]
    assert conn.describe_group("g").state is GroupState.STABLE
    assert conn.sync_group("g", follower.member_id, 2, timeout=0).assignment == \
        plan[follower.member_id]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_a_consumer_waits_out_an_offsets_partition_short_of_replicas(mode):
    with Cluster(3, mode=mode, **real_time(mode)) as cluster:
        cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
        offsets_topic_needing_two_in_sync(cluster)
        dead, _ = starve_the_offsets_partition(cluster)
        consumer = KafkaConsumer(broker=cluster, group_id="g", auto_offset_reset="earliest",
                                 retry_backoff_ms=20, heartbeat_interval_ms=10)
        try:
            consumer.subscribe(["t"])
            # Its generation cannot be stored: poll() answers nothing, and raises nothing.
            for _ in range(5):
                assert consumer.poll(timeout_ms=50) == {}
            assert consumer.assignment() == set()
            for broker in dead:
                cluster.restart(broker)
            wait_until(lambda: consumer.poll(timeout_ms=20) is not None
                       and consumer.assignment() == {T0, T1}, timeout=30)
        finally:
            consumer.close()


@pytest.mark.timeout(60)
def test_commits_wait_out_an_offsets_partition_short_of_replicas():
    with Cluster(3, mode="threads", **real_time("threads")) as cluster:
        cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
        offsets_topic_needing_two_in_sync(cluster)
        consumer = KafkaConsumer(broker=cluster, group_id="g", auto_offset_reset="earliest",
                                 enable_auto_commit=True, auto_commit_interval_ms=10,
                                 retry_backoff_ms=20, heartbeat_interval_ms=10)
        try:
            consumer.subscribe(["t"])
            wait_until(lambda: consumer.poll(timeout_ms=20) is not None
                       and consumer.assignment() == {T0, T1}, timeout=30)
            conn = cluster.connect()
            dead, partition = starve_the_offsets_partition(cluster)
            with pytest.raises(KafkaTimeoutError, match="could not be stored"):
                consumer.commit({T0: 1}, timeout_ms=200)  # tried again until timeout_ms
            for _ in range(5):  # auto-commits fail and are logged; poll() goes on
                consumer.poll(timeout_ms=20)
            for broker in dead:
                cluster.restart(broker)
            wait_until(lambda: len(cluster.isr(OFFSETS_TOPIC, partition)) >= 2, timeout=30)
            consumer.commit({T0: 1}, timeout_ms=10_000)
            assert conn.committed("g", [T0])[T0].offset == 1
        finally:
            consumer.close()


@pytest.mark.timeout(30)
def test_a_commit_of_no_offsets_is_no_error(make_cluster):
    # As Kafka's OffsetCommit with no partitions (and a lone broker's): nothing to write.
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3)
    conn = cluster.connect()
    conn.commit_offsets("g", -1, "", {})
    assert conn.committed("g", [T0]) == {T0: None}
