"""A cluster's retention check runs on the cluster's own timer, as Kafka's coordinator's does.

With no client call at all, committed offsets past their retention are removed, and a group
left empty with none (a classic group ``Empty``, a Kafka 4 consumer group with no member) is
deleted: tombstones for the offsets and every record of the group go to ``__consumer_offsets``,
so a coordinator elected later does not bring the group back. A group with a live member, or
with offsets still within their retention, stays. What the cluster did is read straight from
the coordinator's broker and from the offsets topic's log, never through a group request
(which could run the check itself).

Stepped clusters run the check at the step that finds it due, on virtual time; a cluster of
threads or of broker processes on a timer thread the controller's tick wakes.
"""

from __future__ import annotations

import json

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.topics.consumer_protocol import encode_assignment, encode_subscription
from pcmodel.topics.errors import GroupIdNotFoundError
from pcmodel.topics.structs import TopicPartition
from tests.cluster.test_consumer_groups_across_failover import join as consumer_join
from tests.cluster.test_consumer_groups_across_failover import settle as consumer_settle
from tests.conftest import wait_until

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)
#: Retention of one minute, checked every 10 s; ticks of half a second keep virtual runs short.
SETTINGS = dict(tick_ms=500, offsets_retention_minutes=1,
                offsets_retention_check_interval_ms=10_000)


def stepped(make_cluster, **settings):
    """A stepped cluster of 3 brokers with topic ``t`` (2 partitions) and a connection."""
    cluster = make_cluster(3, **{**SETTINGS, **settings})
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    return cluster, cluster.connect()


def live_records(cluster, broker, group):
    """The keys of ``group`` standing in ``broker``'s log of the offsets partition (each
    key's latest record; a tombstone removes it), decoded: ``g``, ``g/t/0``, consumer group
    record kinds."""
    latest = {}
    for record in cluster.log(broker, OFFSETS_TOPIC, 0):
        latest[record.key] = record.value
    found = set()
    for key, value in latest.items():
        parts = key.decode().split("\x00")
        if value is None:
            continue
        if key.startswith(b"\x00") and parts[2] == group:  # a consumer group record
            found.add(parts[1])
        elif parts[0] == group:
            found.add("/".join(parts))
    return found


def coordinator_groups(cluster, broker):
    """The groups ``broker`` holds now, classic and consumer groups, asked of it directly."""
    node = cluster.nodes[broker]
    return set(node.broker.list_groups()) | set(node.broker.consumer_group_states())


def fail_over(cluster, old):
    """Kill the coordinator ``old`` and wait for the next leader of the offsets partition."""
    cluster.kill(old)
    assert cluster.wait_for(lambda: cluster.leader(OFFSETS_TOPIC, 0) not in (None, old), 30)
    return cluster.leader(OFFSETS_TOPIC, 0)


def one_member_group(conn, group, session_timeout_ms=10_000):
    """A classic consumer group of one member subscribed to ``t``, owning t-0 and t-1."""
    subscription = [("range", encode_subscription(["t"]))]
    member = conn.join_group(group, "", protocols=subscription,
                             session_timeout_ms=session_timeout_ms, timeout=0)
    conn.sync_group(group, member.member_id, member.generation,
                    assignments={member.member_id: encode_assignment([T0, T1])}, timeout=5)
    return member


@pytest.mark.timeout(30)
def test_an_empty_group_whose_offsets_expired_is_deleted_with_no_client_call(make_cluster):
    cluster, conn = stepped(make_cluster)
    member = one_member_group(conn, "g")
    conn.commit_offsets("g", member.generation, member.member_id, {T0: 7, T1: 3})
    conn.leave_group("g", member.member_id)  # Empty: its offsets count from now
    coordinator = conn._offsets.coordinator("g")
    assert live_records(cluster, coordinator, "g") == {"g", "g/t/0", "g/t/1"}
    cluster.run_for(50.0)  # within the retention: checked, kept
    assert coordinator_groups(cluster, coordinator) == {"g"}
    assert live_records(cluster, coordinator, "g") == {"g", "g/t/0", "g/t/1"}
    cluster.run_for(40.0)  # past it: the next check removes the offsets, then the group
    assert coordinator_groups(cluster, coordinator) == set()
    assert live_records(cluster, coordinator, "g") == set()
    successor = fail_over(cluster, coordinator)
    assert live_records(cluster, successor, "g") == set()
    assert conn.list_groups() == []
    assert conn.committed("g", [T0, T1]) == {T0: None, T1: None}
    with pytest.raises(GroupIdNotFoundError):
        conn.describe_group("g")  # DescribeGroups on the wire: Dead, no members
    assert coordinator_groups(cluster, successor) == set()


@pytest.mark.timeout(30)
def test_an_empty_consumer_group_whose_offsets_expired_is_deleted(make_cluster):
    cluster, conn = stepped(make_cluster, group_consumer_session_timeout_ms=3_000,
                            group_consumer_heartbeat_interval_ms=100)
    answer = consumer_join(conn, "m1")
    members = {"m1": [answer.member_epoch, answer.assignment or {}]}
    consumer_settle(conn, members)
    conn.commit_offsets("g", members["m1"][0], "m1", {T0: 3})
    conn.consumer_group_heartbeat("g", "m1", -1)  # it leaves: the group is empty
    coordinator = conn._offsets.coordinator("g")
    assert "g/t/0" in live_records(cluster, coordinator, "g")
    assert "ConsumerGroupMetadata" in live_records(cluster, coordinator, "g")
    cluster.run_for(90.0)
    assert coordinator_groups(cluster, coordinator) == set()
    assert live_records(cluster, coordinator, "g") == set()
    successor = fail_over(cluster, coordinator)
    assert live_records(cluster, successor, "g") == set()
    assert conn.list_groups() == []
    assert conn.committed("g", [T0]) == {T0: None}
    with pytest.raises(GroupIdNotFoundError):
        conn.describe_consumer_group("g")
    assert coordinator_groups(cluster, successor) == set()


@pytest.mark.timeout(30)
def test_a_group_with_a_member_or_with_offsets_within_retention_stays(make_cluster):
    cluster, conn = stepped(make_cluster)
    member = one_member_group(conn, "live", session_timeout_ms=300_000)
    conn.commit_offsets("live", member.generation, member.member_id, {T0: 5})
    conn.commit_offsets("kept", -1, "", {T0: 6}, retention_time_ms=600_000)
    conn.commit_offsets("old", -1, "", {T0: 2})
    coordinator = conn._offsets.coordinator("old")
    cluster.run_for(90.0)
    assert coordinator_groups(cluster, coordinator) == {"live", "kept"}
    assert live_records(cluster, coordinator, "old") == set()
    assert live_records(cluster, coordinator, "kept") == {"kept/t/0"}
    assert live_records(cluster, coordinator, "live") == {"live", "live/t/0"}
    successor = fail_over(cluster, coordinator)
    assert conn.committed("live", [T0])[T0].offset == 5
    assert conn.committed("kept", [T0])[T0].offset == 6
    assert conn.list_groups() == ["kept", "live"]
    assert coordinator_groups(cluster, successor) == {"live", "kept"}


@pytest.mark.timeout(30)
def test_on_a_stepped_cluster_an_offset_ages_from_its_commit(make_cluster):
    # The brokers date commits by the cluster's wall clock, which moves with virtual time:
    # an offset committed after 50 virtual seconds is 20 seconds old 20 seconds later.
    cluster, conn = stepped(make_cluster)
    cluster.run_for(50.0)
    before = cluster.wall_clock_ms()
    conn.commit_offsets("g", -1, "", {T0: 4})
    coordinator = conn._offsets.coordinator("g")
    committed = json.loads(next(r.value for r in cluster.log(coordinator, OFFSETS_TOPIC, 0)
                                if r.key == b"g\x00t\x000"))
    assert before <= committed["commit_timestamp"] <= cluster.wall_clock_ms()
    cluster.run_for(20.0)
    assert live_records(cluster, coordinator, "g") == {"g/t/0"}
    cluster.run_for(50.0)
    assert live_records(cluster, coordinator, "g") == set()


@pytest.mark.timeout(30)
def test_the_check_waits_for_its_interval(make_cluster):
    cluster, conn = stepped(make_cluster, offsets_retention_check_interval_ms=600_000,
                            tick_ms=1000)
    conn.commit_offsets("g", -1, "", {T0: 4})
    coordinator = conn._offsets.coordinator("g")
    cluster.run_for(500.0)  # long past the retention, not yet an interval
    assert coordinator_groups(cluster, coordinator) == {"g"}
    cluster.run_for(110.0)
    assert coordinator_groups(cluster, coordinator) == set()
    assert live_records(cluster, coordinator, "g") == set()


def expire_on_the_timer(cluster):
    """Commit an offset kept 1 ms (OffsetCommit's own retention, for a group that never had
    members), and wait, asking no group request, for the cluster's timer to remove it and
    the group."""
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    conn.commit_offsets("g", -1, "", {T0: 4}, retention_time_ms=1)
    coordinator = conn._offsets.coordinator("g")
    wait_until(lambda: coordinator_groups(cluster, coordinator) == set(), timeout=20)
    wait_until(lambda: live_records(cluster, coordinator, "g") == set(), timeout=20)
    stored = [json.loads(r.value) for r in cluster.log(coordinator, OFFSETS_TOPIC, 0)
              if r.key == b"g\x00t\x000" and r.value is not None]
    assert [value["offset"] for value in stored] == [4]  # it was committed, then tombstoned
    # The coordinator answers from what is acknowledged: the tombstone, once replicated.
    wait_until(lambda: conn.committed("g", [T0]) == {T0: None}, timeout=20)


@pytest.mark.timeout(30)
def test_threads_expire_on_the_timer():
    with Cluster(3, mode="threads", tick_ms=20,
                 offsets_retention_check_interval_ms=100) as cluster:
        expire_on_the_timer(cluster)


@pytest.mark.timeout(60)
def test_broker_processes_expire_on_the_timer():
    with Cluster(3, mode="processes", replica_lag_time_max_ms=1000,
                 broker_session_timeout_ms=1000, tick_ms=20,
                 offsets_retention_check_interval_ms=100) as cluster:
        expire_on_the_timer(cluster)


@pytest.mark.timeout(30)
def test_a_check_during_a_commit_tombstones_the_record_still_replicating(make_cluster):
    # The check falls due while the commit's record waits for its slow followers: the
    # coordinator has already expired the offset (kept 1 ms), and the record not yet
    # acknowledged gets its tombstone all the same, so no later coordinator restores it.
    cluster, conn = stepped(make_cluster, broker_session_timeout_ms=15_000,
                            replica_lag_time_max_ms=15_000)
    coordinator = conn._offsets.coordinator("g")
    followers = [b for b in range(3) if b != coordinator]
    for broker in followers:
        cluster.slow(broker, 3.0)
    cluster.clock.advance(9.9)  # no step: the check falls due at the commit's first tick
    conn.commit_offsets("g", -1, "", {T0: 4}, retention_time_ms=1)
    assert coordinator_groups(cluster, coordinator) == set()
    for broker in followers:
        cluster.slow(broker, 0)
    cluster.settle()
    assert live_records(cluster, coordinator, "g") == set()
    fail_over(cluster, coordinator)
    assert conn.committed("g", [T0]) == {T0: None}
    assert conn.list_groups() == []
