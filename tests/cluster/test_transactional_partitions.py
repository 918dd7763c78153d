"""Transactions on replicated partitions: transactional batches and markers replicate, survive
leader changes, truncation and restarts, and ``read_committed`` reads stop at the last stable
offset. The coordinator's part is left out: each test writes the batches and markers itself,
as a coordinator would have the producer and itself write them.

Stepped clusters (virtual time) for the rules, so that each scenario replays exactly; one
cluster on threads and one of processes (real SIGKILLs, journals) for the same rules there.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from pcmodel.cluster import Cluster, NotEnoughReplicasError
from pcmodel.cluster.controller import PartitionState, TopicConfig
from pcmodel.cluster.errors import NotLeaderForPartitionError
from pcmodel.cluster.journal import DurableReplica, _Journal, journal_path, read_journal
from pcmodel.cluster.producers import BatchInfo, MarkerInfo, ProducerState
from pcmodel.topics import KafkaAdminClient, KafkaConsumer, OffsetSpec
from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidProducerEpochError,
    InvalidTxnStateError,
    KafkaConnectionError,
    KafkaError,
)
from pcmodel.topics.log import PartitionLog
from pcmodel.topics.log_records import validate_records
from pcmodel.topics.log_transactions import AbortedTransaction, ControlRecord, visible_records
from pcmodel.topics.structs import TopicPartition
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)
#: For the clusters that run on their own: a loaded machine must not fence a live broker.
THREADS = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)
PROCESSES = dict(broker_session_timeout_ms=2000, tick_ms=20)


def batch(*values):
    return [(None, v) for v in values]


class View(NamedTuple):
    """What one replica keeps of the partition's transactions."""

    last_stable_offset: int
    batches: tuple
    aborted: tuple
    open: dict


def view(cluster, broker) -> View:
    """Broker ``broker``'s replica of ``TP``, read whole as a follower reads it."""
    node = cluster.nodes[broker]
    start, leo, _ = node.local_offsets(TP)
    got = node.broker.fetch({TP: start}, max_records=max(1, leo - start), replica_id=broker,
                            isolation_level="read_committed")[TP]
    return View(got.last_stable_offset, got.transactional_batches, got.aborted_transactions,
                node.replicas[TP].open_transactions)


def read(cluster, broker, level="read_committed"):
    """What a consumer at ``level`` hands the application from ``broker``'s fetch."""
    got = cluster.fetch(broker, {TP: 0}, isolation_level=level)[TP]
    return [r.value for r in visible_records(got.records, got.transactional_batches,
                                             got.aborted_transactions or (),
                                             level == "read_committed")]


def open_at(cluster, broker, producer_id):
    """Where ``producer_id``'s transaction open at ``broker``'s replica began (``-1``: none)."""
    found = [p for p in cluster.describe_producers(broker, "t", 0)
             if p.producer_id == producer_id]
    return found[0].current_transaction_start_offset if found else None


# --- replication ------------------------------------------------------------------------------


def test_a_transactional_batch_and_its_commit_marker_replicate(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    leader = cluster.leader("t", 0)
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"plain"), acks="all").get(timeout=5)
    cluster.produce("t", 0, batch(b"a", b"b"), acks="all", producer=(pid, epoch, 0),
                    transactional=True).get(timeout=5)
    # Committed (below the high watermark), yet undecided: read_committed stops before it.
    assert read(cluster, leader) == [b"plain"]
    assert read(cluster, leader, "read_uncommitted") == [b"plain", b"a", b"b"]
    cluster.settle()
    views = [view(cluster, b) for b in range(3)]
    assert views[0] == views[1] == views[2]
    assert views[0].last_stable_offset == 1 and views[0].open == {pid: 1}
    follower = (leader + 1) % 3
    with pytest.raises(NotLeaderForPartitionError):  # sent to a broker that does not lead
        cluster.write_marker("t", 0, pid, epoch, True, broker=follower).get(timeout=5)
    assert view(cluster, leader) == views[0]  # nothing written
    marker = cluster.write_marker("t", 0, pid, epoch, True).get(timeout=5)
    assert (marker.base_offset, marker.count, marker.broker) == (3, 1, leader)
    assert cluster.replica_status("t", 0)[leader].high_watermark == 4  # answered once committed
    assert read(cluster, leader) == [b"plain", b"a", b"b"]  # the marker is no record
    assert isinstance(cluster.log(leader, "t", 0)[3], ControlRecord)
    cluster.settle()
    views = [view(cluster, b) for b in range(3)]
    assert views[0] == views[1] == views[2]
    assert views[0].last_stable_offset == 4 and views[0].open == {}
    assert [b.is_control for b in views[0].batches] == [False, True]


def test_an_abort_marker_hides_the_records_from_read_committed_only(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    leader = cluster.leader("t", 0)
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"a", b"b"), acks="all", producer=(pid, epoch, 0),
                    transactional=True).get(timeout=5)
    cluster.produce("t", 0, batch(b"x"), acks="all").get(timeout=5)  # no transaction
    cluster.write_marker("t", 0, pid, epoch, False).get(timeout=5)
    assert read(cluster, leader) == [b"x"]
    assert read(cluster, leader, "read_uncommitted") == [b"a", b"b", b"x"]
    cluster.settle()
    views = [view(cluster, b) for b in range(3)]
    assert views[0] == views[1] == views[2]
    assert views[0].aborted == (AbortedTransaction(pid, 0),)
    for broker in range(3):  # any replica could lead now: each knows what was aborted
        assert cluster.nodes[broker].broker.end_offsets(
            [TP], isolation_level="read_committed") == {TP: 4}


def test_a_batch_cut_between_two_copies_ends_as_the_leaders_did():
    # A follower's fetch may end inside a transactional batch: it keeps the two pieces.
    leader, follower = PartitionLog(), PartitionLog()
    leader.append(validate_records(batch(b"p")))
    leader.append(validate_records(batch(*[b"%d" % i for i in range(6)])), transactional=(7, 0))
    leader.append_marker(7, 0, commit=False)
    for first, end in ((0, 4), (4, 8)):
        records = leader.read(first, end - first)
        follower.append_copy(records, leader.transactions.batches_in(first, end))
        if first == 0:
            assert follower.transactions.open == {7: 1}
    assert follower.transactions.open == leader.transactions.open == {}
    assert follower.transactions.aborted_in(0, 8) == leader.transactions.aborted_in(0, 8)
    follower.set_high_watermark(8)
    leader.set_high_watermark(8)
    assert follower.last_stable_offset == leader.last_stable_offset == 8
    assert [follower.transactions.is_aborted(o) for o in range(8)] == [
        leader.transactions.is_aborted(o) for o in range(8)]


# --- leader changes and truncation ------------------------------------------------------------


def test_a_new_leader_holds_an_open_transaction_until_a_marker_written_there(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"p"), acks="all").get(timeout=5)
    cluster.produce("t", 0, batch(b"a", b"b"), acks="all", producer=(pid, epoch, 0),
                    transactional=True).get(timeout=5)
    cluster.produce("t", 0, batch(b"c"), acks="all").get(timeout=5)
    old = cluster.leader("t", 0)
    cluster.kill(old)  # the coordinator has not written the markers yet
    cluster.run_for(1.6)
    new = cluster.leader("t", 0)
    assert new not in (None, old)
    assert view(cluster, new).last_stable_offset == 1  # held at the transaction's first record
    assert read(cluster, new) == [b"p"]
    conn = cluster.connect()
    admin = KafkaAdminClient(broker=cluster)
    try:
        assert conn.end_offsets([TP], isolation_level="read_committed") == {TP: 1}
        assert conn.end_offsets([TP]) == {TP: 4}
        latest = admin.list_partition_offsets({TP: OffsetSpec.LATEST}, isolation_level=1)
        assert latest[TP].offset == 1
        marker = cluster.write_marker("t", 0, pid, epoch, True).get(timeout=5)
        assert (marker.broker, marker.base_offset) == (new, 4)
        assert conn.end_offsets([TP], isolation_level="read_committed") == {TP: 5}
        got = conn.fetch({TP: 0}, isolation_level="read_committed")[TP]
        assert [r.value for r in visible_records(got.records, got.transactional_batches,
                                                 got.aborted_transactions, True)] \
            == [b"p", b"a", b"b", b"c"]
    finally:
        admin.close()


def test_a_follower_that_truncates_a_marker_away_has_the_transaction_open_again(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=1)
    assert cluster.metadata()[TP].replicas == (0, 1, 2) and cluster.leader("t", 0) == 0
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"a", b"b"), acks="all", producer=(pid, epoch, 0),
                    transactional=True).get(timeout=5)
    cluster.isolate(2)  # broker 2 will not copy the marker
    pending = cluster.write_marker("t", 0, pid, epoch, True)
    cluster.step()  # broker 1 copies it
    assert view(cluster, 1).open == {} and view(cluster, 2).open == {pid: 0}
    cluster.kill(0)
    cluster.kill(1)
    cluster.run_for(1.6)
    assert cluster.leader("t", 0) == 2  # the only live ISR member; it never had the marker
    with pytest.raises(KafkaConnectionError):
        pending.get(timeout=1)  # the coordinator would retry it
    cluster.heal(2)
    cluster.restart(1)
    cluster.step()  # broker 1 truncates to the new leader's log: the marker goes
    gone = [e for e in cluster.events if e.kind == "truncated" and e.broker == 1]
    assert [(e.detail, type(e.records[0])) for e in gone] == [((2, 1), ControlRecord)]
    assert view(cluster, 1).open == {pid: 0}
    assert cluster.nodes[1].broker.end_offsets([TP], isolation_level="read_committed") \
        == {TP: 0}
    assert cluster.write_marker("t", 0, pid, epoch, True).get(timeout=5).base_offset == 2
    cluster.settle()
    assert view(cluster, 1) == view(cluster, 2)
    assert view(cluster, 1).open == {} and view(cluster, 1).last_stable_offset == 3


# --- producer state: fencing and the transaction's own rules ----------------------------------


def test_a_marker_fences_the_producers_older_epochs_here_and_after_failover(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"a"), acks="all", producer=(pid, epoch, 0),
                    transactional=True).get(timeout=5)
    # The coordinator aborts with a bumped epoch (a zombie's transaction), fencing epoch 0.
    cluster.write_marker("t", 0, pid, epoch + 1, False, coordinator_epoch=3).get(timeout=5)
    with pytest.raises(InvalidProducerEpochError):
        cluster.produce("t", 0, batch(b"zombie"), acks="all", producer=(pid, epoch, 1),
                        transactional=True).get(timeout=5)
    with pytest.raises(InvalidProducerEpochError):
        cluster.write_marker("t", 0, pid, epoch, True).get(timeout=5)
    cluster.settle()
    old = cluster.leader("t", 0)
    cluster.kill(old)
    cluster.run_for(1.6)
    new = cluster.leader("t", 0)
    assert new not in (None, old)
    [state] = cluster.describe_producers(new, "t", 0)
    assert (state.producer_epoch, state.last_sequence, state.coordinator_epoch,
            state.current_transaction_start_offset) == (epoch + 1, -1, 3, -1)
    with pytest.raises(InvalidProducerEpochError):  # the new leader copied the marker
        cluster.produce("t", 0, batch(b"zombie"), acks="all", producer=(pid, epoch, 1),
                        transactional=True).get(timeout=5)
    # The producer's new epoch starts at sequence 0.
    cluster.produce("t", 0, batch(b"b"), acks="all", producer=(pid, epoch + 1, 0),
                    transactional=True).get(timeout=5)
    assert cluster.log(new, "t", 0)[-1].value == b"b"


def test_producer_state_keeps_a_markers_fencing_through_truncation_and_expiration():
    state = ProducerState()
    state.record(BatchInfo(7, 0, 0, base_offset=0, count=2, max_timestamp=100))
    state.record_marker(MarkerInfo(7, 1, offset=2, coordinator_epoch=0, timestamp=100))
    state.truncate(3)  # above the marker: it stays, and so does the fencing
    with pytest.raises(InvalidProducerEpochError):
        state.check(7, 0, 2, 1)
    assert state.check(7, 1, 0, 1) is None
    state.truncate(2)  # the marker goes: epoch 0 may write again, where it stopped
    assert state.check(7, 0, 2, 1) is None
    assert state.expire(10_000, 1000, in_transaction={7}) == ()  # open here: kept
    assert state.expire(10_000, 1000) == (7,)


def test_a_plain_batch_of_a_producer_with_an_open_transaction_is_refused(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    leader = cluster.leader("t", 0)
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"a"), acks="all", producer=(pid, epoch, 0),
                    transactional=True).get(timeout=5)
    with pytest.raises(InvalidTxnStateError):
        cluster.produce("t", 0, batch(b"plain"), acks="all", producer=(pid, epoch, 1)
                        ).get(timeout=5)
    assert [r.value for r in cluster.log(leader, "t", 0)] == [b"a"]  # nothing appended
    cluster.write_marker("t", 0, pid, epoch, True).get(timeout=5)
    cluster.produce("t", 0, batch(b"plain"), acks="all", producer=(pid, epoch, 1)
                    ).get(timeout=5)  # the transaction is over: the same batch is fine now
    assert read(cluster, leader) == [b"a", b"plain"]
    with pytest.raises(IllegalArgumentError, match="producer"):
        cluster.produce("t", 0, batch(b"x"), transactional=True)


def test_a_marker_needs_min_insync_replicas(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    leader = cluster.leader("t", 0)
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"a"), acks="all", producer=(pid, epoch, 0),
                    transactional=True).get(timeout=5)
    for broker in range(3):
        if broker != leader:
            cluster.kill(broker)
    cluster.run_for(1.6)
    assert cluster.isr("t", 0) == {leader}
    with pytest.raises(NotEnoughReplicasError):
        cluster.write_marker("t", 0, pid, epoch, True).get(timeout=5)
    assert len(cluster.log(leader, "t", 0)) == 1  # nothing written: still open
    assert view(cluster, leader).open == {pid: 0}


def test_a_durable_replica_recovers_transactions_markers_and_old_entries(tmp_path):
    def replica():
        broker = Broker()
        broker.create_topic("t", 1)
        return DurableReplica(0, broker, TP, TopicConfig(3, 1, False), directory=tmp_path)

    first = replica()
    first.apply_state(PartitionState((0, 1, 2), 0, 2, frozenset({0})), now=0.0)
    first.append_as_leader(batch(b"a"), None, (7, 0, 0), transactional=True)
    first.write_marker(7, 1, False, coordinator_epoch=4)
    first.append_as_leader(batch(b"b"), None, (8, 0, 0), transactional=True)
    first.close()
    again = replica()
    assert again.open_transactions == {8: 2}
    assert again.broker.fetch({TP: 0}, replica_id=0, isolation_level="read_committed")[
        TP].aborted_transactions == (AbortedTransaction(7, 0),)
    with pytest.raises(InvalidProducerEpochError):
        again.producers.check(7, 0, 1, 1)
    assert [(p.producer_id, p.producer_epoch, p.coordinator_epoch)
            for p in again.producers.active()] == [(7, 1, 4), (8, 0, -1)]
    again.close()
    # A journal written before transactions: append entries of four elements.
    path = journal_path(tmp_path, TP)
    path.unlink()
    old = replica()
    old.append_as_leader(batch(b"c"), None, None)
    old.close()
    entries, _ = read_journal(path)
    path.unlink()
    journal = _Journal(path, 0)
    for entry in entries:
        journal.write(entry[:4] if entry[0] == "append" else entry)
    journal.close()
    recovered = replica()
    assert recovered.offsets[1] == 1 and recovered.open_transactions == {}
    recovered.close()
    for r in (first, again, old, recovered):
        r.broker.close()


# --- the same rules on threads and in processes -----------------------------------------------


def test_on_threads_a_read_committed_consumer_skips_the_aborted_transaction():
    with Cluster(3, **THREADS) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
        pid, epoch = cluster.init_producer_id()
        cluster.produce("t", 0, batch(b"a", b"b"), acks="all", producer=(pid, epoch, 0),
                        transactional=True).get(timeout=10)
        cluster.write_marker("t", 0, pid, epoch, False).get(timeout=10)
        cluster.produce("t", 0, batch(b"c"), acks="all", producer=(pid, epoch, 2),
                        transactional=True).get(timeout=10)
        cluster.write_marker("t", 0, pid, epoch, True).get(timeout=10)
        cluster.produce("t", 0, batch(b"d"), acks="all").get(timeout=10)
        assert consume(cluster, "read_committed", 2) == [b"c", b"d"]
        assert consume(cluster, "read_uncommitted", 4) == [b"a", b"b", b"c", b"d"]


def consume(cluster, level, count):
    """The first ``count`` values a consumer at ``level`` reads from the partition."""
    consumer = KafkaConsumer(broker=cluster, isolation_level=level, fetch_max_wait_ms=20)
    seen = []
    try:
        consumer.assign([TP])
        consumer.seek_to_beginning()

        def read_enough():
            seen.extend(r.value for r in consumer.poll(timeout_ms=50).get(TP, []))
            return len(seen) >= count
        wait_until(read_enough, timeout=20)
    finally:
        consumer.close()
    return seen


@pytest.mark.timeout(120)
def test_in_processes_a_transaction_and_its_marker_survive_sigkills():
    with Cluster(3, mode="processes", **PROCESSES) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
        replicas = cluster.metadata()[TP].replicas
        leader, follower = replicas[0], replicas[1]
        assert cluster.leader("t", 0) == leader
        pid, epoch = cluster.init_producer_id()
        cluster.produce("t", 0, batch(b"p"), acks="all").get(timeout=20)
        cluster.produce("t", 0, batch(b"a", b"b"), acks="all", producer=(pid, epoch, 0),
                        transactional=True).get(timeout=20)
        wait_until(lambda: open_at(cluster, follower, pid) == 1, timeout=30)
        cluster.kill(follower)  # SIGKILL with the transaction open
        cluster.restart(follower)
        assert open_at(cluster, follower, pid) == 1  # from its journal
        wait_until(lambda: cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
        with pytest.raises(NotLeaderForPartitionError):  # a broker that does not lead it
            cluster.write_marker("t", 0, pid, epoch + 1, True, coordinator_epoch=7,
                                 broker=follower).get(timeout=20)
        assert open_at(cluster, leader, pid) == 1
        marker = cluster.write_marker("t", 0, pid, epoch + 1, True, coordinator_epoch=7
                                      ).get(timeout=20)
        assert marker.base_offset == 3
        wait_until(lambda: open_at(cluster, follower, pid) == -1, timeout=30)
        cluster.kill(follower)  # SIGKILL with the marker copied
        cluster.restart(follower)
        [state] = cluster.describe_producers(follower, "t", 0)
        assert (state.producer_epoch, state.coordinator_epoch,
                state.current_transaction_start_offset) == (epoch + 1, 7, -1)
        wait_until(lambda: cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
        cluster.kill(leader)
        wait_until(lambda: cluster.leader("t", 0) == follower, timeout=30)

        def leading() -> bool:  # the new leader learns it at its next heartbeat
            try:
                return read(cluster, follower) == [b"p", b"a", b"b"]
            except KafkaError:
                return False
        wait_until(leading, timeout=30)
        with pytest.raises(InvalidProducerEpochError):  # its recovered marker fences epoch 0
            cluster.produce("t", 0, batch(b"zombie"), acks="all", producer=(pid, epoch, 2),
                            transactional=True).get(timeout=20)
        cluster.produce("t", 0, batch(b"c"), acks="all", producer=(pid, epoch + 1, 0),
                        transactional=True).get(timeout=20)
        assert read(cluster, follower) == [b"p", b"a", b"b"]  # c's transaction is open
        assert read(cluster, follower, "read_uncommitted") == [b"p", b"a", b"b", b"c"]
