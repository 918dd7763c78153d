"""The transaction coordinators' timer on a cluster: a transaction whose producer went silent
past its ``transaction.timeout.ms`` is aborted, and its producer fenced, on the cluster's own
clock — every ``transaction.abort.timed.out.transaction.cleanup.interval.ms`` — with no client
call at all, as Kafka's coordinator does; transactional ids expire on the same clock.

Stepped clusters: virtual time, so each check falls on a known tick. The records are read
with ``Cluster.fetch`` and the logs with ``Cluster.log``, which ask the brokers only (a
client connection's fetch, offsets lookup or transactional call would run a due check
itself).
"""

from __future__ import annotations

import json

import pytest

from pcmodel.cluster.transaction_log import TRANSACTION_TOPIC
from pcmodel.topics import TopicPartition
from pcmodel.topics.errors import InvalidProducerEpochError, ProducerFencedError
from pcmodel.topics.log_transactions import ControlRecord, visible_records

pytestmark = pytest.mark.timeout(120)

T0 = TopicPartition("t", 0)
STATE = TopicPartition(TRANSACTION_TOPIC, 0)


def open_transaction(cluster, timeout_ms, tid="tx"):
    """A producer's transaction with one record in ``t-0``, left open; its (id, epoch)."""
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id(transactional_id=tid, transaction_timeout_ms=timeout_ms)
    conn.add_partitions_to_txn(tid, pid, epoch, [T0])
    conn.append_idempotent("t", 0, [(None, b"open")], producer_id=pid, producer_epoch=epoch,
                           first_sequence=0, acks="all", transactional=True)
    return conn, pid, epoch


def leader_view(cluster, level="read_committed"):
    """The leader's last stable offset of ``t-0`` and the values a consumer at ``level`` is
    handed, asked of the broker itself."""
    leader = cluster.leader("t", 0)
    result = cluster.fetch(leader, {T0: 0}, isolation_level=level)[T0]
    records = visible_records(result.records, result.transactional_batches,
                              result.aborted_transactions or (), level == "read_committed")
    return result.last_stable_offset, [r.value for r in records]


def markers(cluster):
    """The markers in the leader's replica of ``t-0``: (commit, record) pairs."""
    leader = cluster.leader("t", 0)
    return [r.commit for r in cluster.log(leader, "t", 0) if isinstance(r, ControlRecord)]


def stored(cluster, tid="tx"):
    """The metadata the coordinator stored for ``tid``, in order."""
    leader = cluster.leader(*STATE)
    return [json.loads(r.value) for r in cluster.log(leader, *STATE)
            if r.key == tid.encode() and r.value is not None]


def stored_states(cluster, tid="tx"):
    """The states the coordinator stored for ``tid``, in order."""
    return [fields["state"] for fields in stored(cluster, tid)]


@pytest.fixture
def cluster(make_cluster):
    c = make_cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                     transaction_settings={"timed_out_check_interval_ms": 1_000,
                                           "expired_id_check_interval_ms": 5_000,
                                           "id_expiration_ms": 20_000})
    c.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    return c


def test_a_silent_transaction_is_aborted_by_the_timer_on_virtual_time(cluster):
    conn, pid, epoch = open_transaction(cluster, timeout_ms=3_000)
    log = cluster.transaction_log()
    start = stored(cluster)[-1]["start_ms"]  # the coordinator's time: the cluster's clock
    assert leader_view(cluster) == (0, [])
    assert leader_view(cluster, "read_uncommitted") == (0, [b"open"])
    # Only the cluster moves from here on: no client call until the abort is seen.
    aborted_at = None
    while aborted_at is None and log.now_ms() - start < 10_000:
        cluster.advance()
        if markers(cluster):
            aborted_at = log.now_ms() - start
    assert aborted_at is not None, "the open transaction was never aborted"
    assert markers(cluster) == [False]
    assert stored_states(cluster)[-2:] == ["PrepareAbort", "CompleteAbort"]
    # Decided past the timeout (3 s), at the first check after it (one every second of the
    # cluster's clock); the marker followed within the ticks its writes took to replicate.
    decided = stored(cluster)[-2]["last_update_ms"] - start
    assert 3_000 < decided <= 4_000
    assert decided <= aborted_at <= decided + 500
    cluster.settle()
    # The last stable offset moved past the transaction and its marker; read_committed
    # readers see nothing of it.
    assert leader_view(cluster) == (2, [])
    assert leader_view(cluster, "read_uncommitted") == (2, [b"open"])
    # The abort bumped the producer's epoch: the zombie is fenced, at the partition and at
    # the coordinator.
    with pytest.raises(InvalidProducerEpochError):
        conn.append_idempotent("t", 0, [(None, b"zombie")], producer_id=pid,
                               producer_epoch=epoch, first_sequence=1, acks="all")
    with pytest.raises(ProducerFencedError):
        conn.add_partitions_to_txn("tx", pid, epoch, [T0])
    with pytest.raises(ProducerFencedError):
        conn.end_txn("tx", pid, epoch, True)
    described = conn.describe_transactions(["tx"])["tx"]
    assert (described.state, described.producer_epoch) == ("CompleteAbort", epoch + 1)
    assert leader_view(cluster) == (2, [])


def test_the_timer_waits_for_the_timeout_and_the_interval(make_cluster):
    cluster = make_cluster(3, transaction_settings={"timed_out_check_interval_ms": 4_000})
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    conn, pid, epoch = open_transaction(cluster, timeout_ms=1_000)
    cluster.run_for(2.0)  # timed out, but the first check is at 4 s
    assert markers(cluster) == [] and leader_view(cluster)[0] == 0
    # Until the check aborts it, the transaction is open, as in Kafka: the producer may
    # still append to it...
    conn.append_idempotent("t", 0, [(None, b"late")], producer_id=pid, producer_epoch=epoch,
                           first_sequence=1, acks="all", transactional=True)
    cluster.run_for(2.5)
    assert markers(cluster) == [False]
    cluster.settle()
    # ... and the abort takes what it appended with the rest.
    assert leader_view(cluster) == (3, [])
    assert leader_view(cluster, "read_uncommitted") == (3, [b"open", b"late"])
    with pytest.raises(InvalidProducerEpochError):
        conn.append_idempotent("t", 0, [(None, b"later")], producer_id=pid,
                               producer_epoch=epoch, first_sequence=2, acks="all")


def test_a_transaction_within_its_timeout_is_left_open_by_the_checks(cluster):
    conn, pid, epoch = open_transaction(cluster, timeout_ms=60_000)
    cluster.run_for(5.0)  # five checks
    assert markers(cluster) == [] and leader_view(cluster)[0] == 0
    conn.end_txn("tx", pid, epoch, True)
    assert markers(cluster) == [True]
    cluster.settle()
    assert leader_view(cluster) == (2, [b"open"])


def test_a_transaction_that_could_not_be_aborted_is_aborted_at_a_later_check(cluster):
    conn, pid, epoch = open_transaction(cluster, timeout_ms=2_000)
    coordinator = cluster.leader(*STATE)
    cluster.kill(coordinator)  # the log's partition offline until a new leader is elected
    cluster.run_for(6.0)
    assert cluster.leader(*STATE) not in (None, coordinator)
    assert markers(cluster) == [False]  # the new coordinator loaded it, then aborted it
    with pytest.raises(ProducerFencedError):
        conn.end_txn("tx", pid, epoch, True)


def test_transactional_ids_expire_on_the_timer(cluster):
    conn, pid, epoch = open_transaction(cluster, timeout_ms=60_000)
    conn.end_txn("tx", pid, epoch, True)
    cluster.run_for(20.0)  # not yet: 20 s since the last call, checked every 5 s
    assert stored_states(cluster)[-1] == "CompleteCommit"
    cluster.run_for(5.0)
    leader = cluster.leader(*STATE)
    tombstones = [r for r in cluster.log(leader, *STATE) if r.key == b"tx" and r.value is None]
    assert len(tombstones) == 1
    assert conn.describe_transactions(["tx"])["tx"].error is not None


def test_the_timer_costs_nothing_before_the_first_transaction(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=3)
    cluster.run_for(30.0)
    assert cluster.transaction_log(create=False) is None  # no topic, no coordinator made
    assert TRANSACTION_TOPIC not in {tp.topic for tp in cluster.metadata()}
