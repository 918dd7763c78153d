"""A committed transaction's offsets and the offsets-retention check, on a cluster.

A transaction's offsets are committed as a plain commit is: the group's coordinator takes them
and their record is sent with the retention check held back, so a check that comes due at
that moment runs after, and finds them fresh. Were it to run in between, it would judge the
group without them (an old offset expired, an empty group deleted) and send its tombstones
after their record: the offsets committed by the transaction would be gone from the log, and
from every later coordinator.

The check is placed by hand: it is not due (its interval is an hour) until the commit's record
is sent; then it is, and the timer fires at once, as the cluster's tick would.

While a transaction holds offsets of a group pending (staged, or committed and not yet
stored), the check keeps the group, as Kafka's coordinator keeps a group with pending
transactional offsets: an empty group whose own offsets expired is not deleted under the
transaction; once the transaction ends, the check judges it as any other.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from tests.cluster.test_group_state import form_empty_group
from tests.conftest import wait_until

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)
#: Offsets kept a minute, checked every hour (until a test makes the check due).
SETTINGS = dict(offsets_retention_minutes=1, offsets_retention_check_interval_ms=3_600_000)
TXN_TIMEOUT_MS = 600_000


def fire_the_check_when_the_commit_is_sent(cluster, offsets, key, fire=None):
    """Once the record of ``key`` is sent, make the check due and fire the cluster's timer
    (``fire()``; default: ``offsets.expire_if_due()``). Returns the list of what the timer
    answered: whether it ran the check then."""
    fired = []
    send = offsets._write

    def write(partition, records, timeout):
        future = send(partition, records, timeout)
        if not fired and any(k == key and v is not None for k, v in records):
            cluster.offsets_retention_check_interval_ms = 10_000
            fired.append(offsets.expire_if_due() if fire is None else fire())
        return future

    offsets._write = write
    return fired


def commit_in_a_transaction(conn):
    """Group ``g`` commits ``t-0`` = 9 in transaction ``tx``; returns the call that ends it."""
    pid, epoch = conn.init_producer_id(transactional_id="tx",
                                       transaction_timeout_ms=TXN_TIMEOUT_MS)
    conn.add_offsets_to_txn("tx", pid, epoch, "g")
    conn.txn_offset_commit("tx", "g", pid, epoch, {T0: OffsetAndMetadata(9, "by the txn")})
    return lambda: conn.end_txn("tx", pid, epoch, True)


def fail_over(cluster, offsets):
    """Kill the coordinator of ``g`` and step until the controller has elected another."""
    old = offsets.coordinator("g")
    cluster.kill(old)
    deadline = cluster.clock() + 60.0
    while offsets.coordinator("g") in (None, old):
        assert cluster.clock() < deadline, "no new coordinator within a minute"
        cluster.advance()


def standing(cluster, broker):
    """Each key's latest record in ``broker``'s log of the offsets partition (tombstones
    removed)."""
    latest = {}
    for record in cluster.log(broker, OFFSETS_TOPIC, 0):
        latest[record.key] = record.value
    return {key for key, value in latest.items() if value is not None}


def unaware_of_pending_offsets(cluster, monkeypatch):
    """The check no longer learns which groups have offsets pending in a transaction (that
    answer is read without the coordinators' lock, and may lag): the held-back write alone
    must then keep the offsets."""
    monkeypatch.setattr(cluster.transaction_log(), "pending_offsets", dict)


#: Whether the check learns of the pending offsets, or relies on the held-back write alone.
AWARE = pytest.mark.parametrize("aware", [True, False], ids=["aware", "unaware"])


@pytest.mark.timeout(60)
@AWARE
def test_a_check_due_as_the_transaction_commits_runs_after_and_keeps_its_offsets(
        make_cluster, monkeypatch, aware):
    cluster = make_cluster(3, tick_ms=500, **SETTINGS)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    offsets = conn._offsets
    conn.commit_offsets("g", -1, "", {T0: 4})  # g's own offset, which expires
    conn.commit_offsets("other", -1, "", {T1: 2})  # so does this group's: the check runs
    end = commit_in_a_transaction(conn)
    if not aware:
        unaware_of_pending_offsets(cluster, monkeypatch)
    cluster.run_for(70.0)  # past the retention; the check is not due yet
    fired = fire_the_check_when_the_commit_is_sent(cluster, offsets, b"g\x00t\x000")
    end()
    cluster.run_for(1.0)
    assert conn.committed("g", [T0])[T0] == OffsetAndMetadata(9, "by the txn", -1)
    assert b"g\x00t\x000" in standing(cluster, offsets.coordinator("g"))
    assert fired == [False]  # left to the next tick, which comes with the commit's answer
    assert conn.list_groups() == ["g"]  # "other" expired: the check did run
    fail_over(cluster, offsets)
    assert conn.committed("g", [T0])[T0] == OffsetAndMetadata(9, "by the txn", -1)
    assert conn.describe_group("g").state.name == "EMPTY"


@pytest.mark.timeout(60)
@AWARE
def test_on_threads_the_timer_never_cuts_in_between_store_and_record(monkeypatch, aware):
    with Cluster(3, mode="threads", **SETTINGS) as cluster:
        cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
        conn = cluster.connect()
        offsets = conn._offsets
        conn.commit_offsets("g", -1, "", {T0: 4})
        end = commit_in_a_transaction(conn)
        if not aware:
            unaware_of_pending_offsets(cluster, monkeypatch)
        real_now_ms = offsets.now_ms

        def a_minute_and_more_later():
            # The check's clock alone moves: the commits stay dated by the brokers' clock.
            offsets.now_ms = lambda: real_now_ms() + 70_000
            try:
                return offsets.expire_if_due()
            finally:
                offsets.now_ms = real_now_ms

        fired = fire_the_check_when_the_commit_is_sent(cluster, offsets, b"g\x00t\x000",
                                                       a_minute_and_more_later)
        end()
        assert conn.committed("g", [T0])[T0] == OffsetAndMetadata(9, "by the txn", -1)
        coordinator = offsets.coordinator("g")
        wait_until(lambda: b"g\x00t\x000" in standing(cluster, coordinator), timeout=20)
        assert fired == [False]  # left to the timer's next tick


def empty_group_with_a_transaction(make_cluster):
    """A stepped cluster whose group ``g`` (two members, ``t-0`` committed) is left empty,
    and transaction ``tx`` that staged ``t-1`` = 9 for it. Returns the cluster, a connection
    and the end of the transaction (``end(commit)``)."""
    cluster = make_cluster(3, tick_ms=500, group_initial_rebalance_delay_ms=0,
                           **dict(SETTINGS, offsets_retention_check_interval_ms=10_000))
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    form_empty_group(conn, {T0: 4})
    pid, epoch = conn.init_producer_id(transactional_id="tx",
                                       transaction_timeout_ms=TXN_TIMEOUT_MS)
    conn.add_offsets_to_txn("tx", pid, epoch, "g")
    conn.txn_offset_commit("tx", "g", pid, epoch, {T1: OffsetAndMetadata(9, "by the txn")})
    return cluster, conn, lambda commit: conn.end_txn("tx", pid, epoch, commit)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("commit", [True, False], ids=["committed", "aborted"])
def test_an_empty_group_with_offsets_pending_in_a_transaction_is_kept_until_it_ends(
        make_cluster, commit):
    cluster, conn, end = empty_group_with_a_transaction(make_cluster)
    coordinator = conn._offsets.coordinator("g")
    cluster.run_for(90.0)  # the group's offset is past its retention, checks come due
    assert conn.list_groups() == ["g"]
    assert b"g" in standing(cluster, coordinator)  # its metadata record: no tombstone
    described = conn.describe_group("g")
    assert described.state.name == "EMPTY" and described.protocol_type == "consumer"
    end(commit)
    written = {r.key for r in cluster.log(coordinator, OFFSETS_TOPIC, 0) if r.value is not None}
    assert (b"g\x00t\x001" in written) is commit  # a commit stored its offset
    # The next check judges the group as any other: an empty group's offsets count from
    # when it became empty, as in Kafka, so the new one goes too, and the group with it.
    cluster.run_for(15.0)
    assert conn.list_groups() == []
    assert not {key for key in standing(cluster, coordinator) if key.startswith(b"g")}
