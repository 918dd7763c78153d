"""The offsets-retention check of a cluster judges transactional offsets per group, as Kafka's.

Kafka's coordinator (``OffsetMetadataManager.cleanupExpiredOffsets``) keeps the committed
offset of a partition with an offset pending in a transaction, and a group with any pending,
and judges everything else as usual: the group's other offsets expire, and so do the other
groups it coordinates, at the same check. The tombstones it writes are exactly those, so a
new coordinator loads the same.

A committed transaction's offsets are dated once, by the coordinator that stores them, and
their record in the offsets topic carries that date: the coordinator and its successors expire
them at the same moment.

The cluster is stepped; the check runs when the test calls it (its interval is an hour).
"""

from __future__ import annotations

import json

import pytest

from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.topics.group_answers import ExpiredOffsets
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from tests.cluster.test_group_state import form_empty_group

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)
TXN_TIMEOUT_MS = 600_000


def standing(cluster, broker):
    """The keys whose latest record in ``broker``'s log of the offsets partition is not a
    tombstone."""
    latest = {}
    for record in cluster.log(broker, OFFSETS_TOPIC, 0):
        latest[record.key] = record.value
    return {key for key, value in latest.items() if value is not None}


def two_groups_and_a_transaction(make_cluster):
    """Group ``g`` (``t-0`` = 4 and ``t-1`` = 5 committed, then left empty) with ``t-1`` = 9
    staged by transaction ``tx``, and group ``other`` (``t-1`` = 2, no members), at the same
    coordinator. Returns the cluster, a connection and ``end(commit)``."""
    cluster = make_cluster(3, tick_ms=500, group_initial_rebalance_delay_ms=0,
                           offsets_retention_minutes=1,
                           offsets_retention_check_interval_ms=3_600_000)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    form_empty_group(conn, {T0: 4, T1: 5})
    conn.commit_offsets("other", -1, "", {T1: 2})
    pid, epoch = conn.init_producer_id(transactional_id="tx",
                                       transaction_timeout_ms=TXN_TIMEOUT_MS)
    conn.add_offsets_to_txn("tx", pid, epoch, "g")
    conn.txn_offset_commit("tx", "g", pid, epoch, {T1: OffsetAndMetadata(9, "by the txn")})
    assert conn._offsets.coordinator("g") == conn._offsets.coordinator("other")
    return cluster, conn, lambda commit: conn.end_txn("tx", pid, epoch, commit)


def committed(conn, group):
    found = conn.committed(group, [T0, T1])
    return {tp: value.offset for tp, value in found.items() if value is not None}


@pytest.mark.timeout(60)
def test_one_check_expires_the_other_group_and_the_unpending_offset_and_keeps_the_rest(
        make_cluster):
    cluster, conn, _ = two_groups_and_a_transaction(make_cluster)
    cluster.run_for(70.0)  # every offset is past its retention; no check is due yet
    assert conn.expire_offsets() == {"g": ExpiredOffsets((T0,), False),
                                     "other": ExpiredOffsets((T1,), True)}
    assert conn.list_groups() == ["g"]
    assert committed(conn, "g") == {T1: 5}  # pending in the transaction: kept
    coordinator = conn._offsets.coordinator("g")
    assert standing(cluster, coordinator) == {b"g", b"g\x00t\x001"}
    # A new coordinator loads the same: the group, its kept offset, and nothing of "other".
    cluster.kill(coordinator)
    deadline = cluster.clock() + 60.0
    while conn._offsets.coordinator("g") in (None, coordinator):
        assert cluster.clock() < deadline, "no new coordinator within a minute"
        cluster.advance()
    assert conn.list_groups() == ["g"]
    assert committed(conn, "g") == {T1: 5}
    assert conn.describe_group("g").state.name == "EMPTY"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("commit", [True, False], ids=["committed", "aborted"])
def test_once_the_transaction_ends_the_next_check_judges_the_group_as_any_other(
        make_cluster, commit):
    cluster, conn, end = two_groups_and_a_transaction(make_cluster)
    cluster.run_for(70.0)
    conn.expire_offsets()
    end(commit)
    assert committed(conn, "g") == {T1: 9 if commit else 5}
    # An empty group's offsets count from when it became empty: all go, and the group.
    assert conn.expire_offsets() == {"g": ExpiredOffsets((T1,), True)}
    assert conn.list_groups() == []
    assert not standing(cluster, conn._offsets.coordinator("g"))


@pytest.mark.timeout(60)
def test_a_committed_transactions_record_carries_the_date_its_coordinator_stored(
        make_cluster, monkeypatch):
    cluster = make_cluster(3, tick_ms=500, offsets_retention_minutes=1,
                           offsets_retention_check_interval_ms=3_600_000)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id(transactional_id="tx",
                                       transaction_timeout_ms=TXN_TIMEOUT_MS)
    conn.add_offsets_to_txn("tx", pid, epoch, "solo")
    conn.txn_offset_commit("tx", "solo", pid, epoch, {T0: OffsetAndMetadata(9)})
    # The cluster's clock, as read apart from the coordinator's, is a moment later (on a
    # cluster in real time, two reads a few milliseconds apart).
    real = cluster.wall_clock_ms
    monkeypatch.setattr(cluster, "wall_clock_ms", lambda: real() + 1_234)
    conn.end_txn("tx", pid, epoch, True)
    monkeypatch.setattr(cluster, "wall_clock_ms", real)
    records = [r for r in cluster.log(conn._offsets.coordinator("solo"), OFFSETS_TOPIC, 0)
               if r.key == b"solo\x00t\x000"]
    dated = json.loads(records[-1].value)["commit_timestamp"]
    # A group without members: its offset expires a minute after its commit, at the
    # coordinator exactly when the record says.
    assert conn.expire_offsets(dated + 59_999) == {}
    assert conn.expire_offsets(dated + 60_000) == {"solo": ExpiredOffsets((T0,), True)}
