"""Offsets retention in a cluster: the coordinator expires, the offsets topic forgets.

What expires is tombstoned in ``__consumer_offsets``, so no later coordinator brings it back;
commit times and the time a group became empty are stored, so a later coordinator expires at
the same moment. Time is named by the test: ``expire_offsets(now_ms)``, or the virtual clock
(the check on the cluster's own timer: :mod:`tests.cluster.test_group_expiry`).
"""

from __future__ import annotations

import json

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.topics.errors import IllegalArgumentError
from pcmodel.topics.group_answers import ExpiredOffsets, GroupState
from pcmodel.topics.log_records import wall_clock_ms
from pcmodel.topics.structs import TopicPartition
from tests.cluster.test_group_state import form_empty_group, kill_coordinator
from tests.conftest import wait_until

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)
WEEK = 7 * 24 * 60 * 60_000  # Kafka's offsets.retention.minutes, in ms


def stored(cluster, conn, group="g"):
    """The live records of the group's offsets partition: key -> decoded value."""
    live = {}
    for record in cluster.log(conn._offsets.coordinator(group), OFFSETS_TOPIC, 0):
        live[record.key] = None if record.value is None else json.loads(record.value)
    return {k: v for k, v in live.items() if v is not None}


@pytest.mark.timeout(30)
def test_expired_offsets_are_tombstoned_and_stay_gone_on_the_next_coordinator(make_cluster,
                                                                             monkeypatch):
    # Another reading of the clock than the coordinator's, later by a few ms, must not date
    # the records: the coordinator's time does (the same in memory and in the log).
    cluster = make_cluster()
    brokers_clock = cluster.wall_clock_ms
    monkeypatch.setattr(cluster, "wall_clock_ms", lambda: brokers_clock() + 5)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    before = brokers_clock()
    conn.commit_offsets("g", -1, "", {T0: 4, T1: 2})
    after = brokers_clock()
    commit_ms = stored(cluster, conn)[b"g\x00t\x000"]["commit_timestamp"]
    assert before <= commit_ms <= after
    assert conn.expire_offsets(commit_ms + WEEK - 1) == {}
    assert conn.expire_offsets(commit_ms + WEEK) == {"g": ExpiredOffsets((T0, T1), True)}
    assert stored(cluster, conn) == {}
    assert conn.committed("g", [T0, T1]) == {T0: None, T1: None}
    assert conn.list_groups() == []
    kill_coordinator(cluster)
    assert conn.committed("g", [T0, T1]) == {T0: None, T1: None}
    assert conn.list_groups() == []


@pytest.mark.timeout(30)
def test_a_new_coordinator_counts_from_the_moment_the_group_became_empty(make_cluster):
    cluster = make_cluster(group_initial_rebalance_delay_ms=0)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    form_empty_group(conn, {T0: 7})
    record = stored(cluster, conn)[b"g"]
    assert record["members"] == []
    empty_ms = record["current_state_timestamp"]
    assert empty_ms >= stored(cluster, conn)[b"g\x00t\x000"]["commit_timestamp"]
    kill_coordinator(cluster)
    assert conn.describe_group("g").state is GroupState.EMPTY
    assert conn.expire_offsets(empty_ms + WEEK - 1) == {}
    assert conn.expire_offsets(empty_ms + WEEK) == {"g": ExpiredOffsets((T0,), True)}
    assert stored(cluster, conn) == {}  # the offset and the group's record: tombstoned
    assert conn.list_groups() == []


@pytest.mark.timeout(30)
def test_an_offset_committed_with_its_own_retention_keeps_it_on_the_next_coordinator(
        make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    conn.commit_offsets("g", -1, "", {T0: 4}, retention_time_ms=60_000)
    conn.commit_offsets("g", -1, "", {T1: 5})
    records = stored(cluster, conn)
    expires_ms = records[b"g\x00t\x000"]["expire_timestamp"]
    assert expires_ms == records[b"g\x00t\x000"]["commit_timestamp"] + 60_000
    assert "expire_timestamp" not in records[b"g\x00t\x001"]
    kill_coordinator(cluster)
    assert conn.expire_offsets(expires_ms - 1) == {}
    assert conn.expire_offsets(expires_ms) == {"g": ExpiredOffsets((T0,), False)}
    assert conn.committed("g", [T0, T1])[T0] is None
    assert conn.committed("g", [T0, T1])[T1].offset == 5


@pytest.mark.timeout(30)
def test_group_requests_run_the_check_once_its_interval_has_passed(make_cluster):
    # The virtual clock moves without a step, so only the requests can run the check; the
    # brokers' sessions outlast the jump.
    cluster = make_cluster(offsets_retention_minutes=1,
                           offsets_retention_check_interval_ms=600_000,
                           broker_session_timeout_ms=3_600_000,
                           replica_lag_time_max_ms=3_600_000)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    conn.commit_offsets("g", -1, "", {T0: 4})
    cluster.clock.advance(300.0)  # past the retention, not yet an interval since the last check
    assert conn.committed("g", [T0])[T0].offset == 4
    cluster.clock.advance(301.0)
    assert conn.committed("g", [T0]) == {T0: None}
    assert conn.list_groups() == []


@pytest.mark.timeout(60)
def test_broker_processes_expire_and_tombstone():
    settings = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=20)
    with Cluster(3, mode="processes", **settings) as cluster:
        cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
        conn = cluster.connect()
        conn.commit_offsets("g", -1, "", {T0: 4})
        wait_until(lambda: conn.list_groups() == ["g"], timeout=20)
        assert conn.expire_offsets(wall_clock_ms() + WEEK) == {
            "g": ExpiredOffsets((T0,), True)}
        assert conn.committed("g", [T0]) == {T0: None}
        assert conn.list_groups() == []


@pytest.mark.timeout(30)
def test_bad_settings_are_refused_with_their_name(make_cluster):
    with pytest.raises(IllegalArgumentError, match="offsets_retention_minutes"):
        Cluster(1, mode="steps", offsets_retention_minutes=0)
    conn = make_cluster(1).connect()
    with pytest.raises(IllegalArgumentError, match="now_ms"):
        conn.expire_offsets(-5)
