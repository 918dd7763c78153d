"""Transactions on a replicated cluster: the coordinator's state in ``__transaction_state``, its
failover, markers through leader changes, staged offsets, timeouts and expiration.

Most tests drive a stepped cluster (virtual time) through a client connection, as a producer's
sender and a consumer's fetcher do; records are read back at both isolation levels with
``visible_records``, as a consumer reads them. The last tests run pcmodel's KafkaProducer and
KafkaConsumer on clusters of threads and of processes.
"""

from __future__ import annotations

import json

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.transaction_log import TRANSACTION_TOPIC
from pcmodel.topics import KafkaConsumer, KafkaProducer, TopicPartition
from pcmodel.topics.errors import (
    ConcurrentTransactionsError,
    CoordinatorNotAvailableError,
    IllegalArgumentError,
    InvalidProducerEpochError,
    InvalidTransactionTimeoutError,
    InvalidTxnStateError,
    ProducerFencedError,
    UnstableOffsetCommitError,
)
from pcmodel.topics.log_transactions import ControlRecord, visible_records
from pcmodel.topics.structs import OffsetAndMetadata
from pcmodel.topics.transactions import EndedTransaction

pytestmark = pytest.mark.timeout(120)

T0 = TopicPartition("t", 0)
T1 = TopicPartition("t", 1)
STATE = TopicPartition(TRANSACTION_TOPIC, 0)


@pytest.fixture
def cluster(make_cluster):
    c = make_cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000)
    c.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    return c


class Txn:
    """A transactional producer's calls, made by hand through a connection."""

    def __init__(self, conn, tid="tx"):
        self.conn, self.tid = conn, tid
        self.pid, self.epoch = conn.init_producer_id(transactional_id=tid)
        self.seq: dict[TopicPartition, int] = {}  # sequences go on across transactions
        self.added: set[TopicPartition] = set()

    def send(self, tp, *values):
        if tp not in self.added:
            self.conn.add_partitions_to_txn(self.tid, self.pid, self.epoch, [tp])
            self.added.add(tp)
        self.conn.append_idempotent(tp.topic, tp.partition, [(None, v) for v in values],
                                    producer_id=self.pid, producer_epoch=self.epoch,
                                    first_sequence=self.seq.get(tp, 0), acks="all",
                                    transactional=True)
        self.seq[tp] = self.seq.get(tp, 0) + len(values)

    def end(self, commit=True):
        self.conn.end_txn(self.tid, self.pid, self.epoch, commit)
        self.added.clear()  # the next transaction adds its partitions again


def read(conn, tp, level="read_committed"):
    """The values a consumer at ``level`` is handed from ``tp``, from offset 0."""
    result = conn.fetch({tp: 0}, isolation_level=level)[tp]
    records = visible_records(result.records, result.transactional_batches,
                              result.aborted_transactions or (), level == "read_committed")
    return [r.value for r in records]


def markers(cluster, broker, tp):
    """The COMMIT (True) and ABORT (False) markers in ``broker``'s replica of ``tp``."""
    return [r.commit for r in cluster.log(broker, tp.topic, tp.partition)
            if isinstance(r, ControlRecord)]


def states(cluster):
    """The states the coordinator stored for ``"tx"``, in order."""
    leader = cluster.leader(*STATE)
    return [json.loads(r.value)["state"] for r in cluster.log(leader, *STATE)
            if r.key == b"tx" and r.value is not None]


def fail_over(cluster, topic, partition):
    """Kill the leader of ``topic-partition`` and run until another one leads; return the
    dead broker."""
    old = cluster.leader(topic, partition)
    cluster.kill(old)
    cluster.run_for(1.5)
    assert cluster.leader(topic, partition) not in (None, old)
    return old


# --- the coordinator and its log -----------------------------------------------------------


def test_a_commit_stores_the_decision_then_the_markers_then_the_completion(cluster):
    conn = cluster.connect()
    txn = Txn(conn)
    txn.send(T0, b"a", b"b")
    txn.send(T1, b"c")
    assert read(conn, T0) == [] and read(conn, T0, "read_uncommitted") == [b"a", b"b"]
    txn.end(commit=True)
    assert read(conn, T0) == [b"a", b"b"] and read(conn, T1) == [b"c"]
    # init, each partition added, the decision, the completion: each stored before answered
    assert states(cluster) == ["Empty", "Ongoing", "Ongoing", "PrepareCommit", "CompleteCommit"]
    cluster.settle()
    for broker in range(3):
        assert markers(cluster, broker, T0) == [True]  # replicated with the records
    described = conn.describe_transactions(["tx"])["tx"]
    assert (described.state, described.producer_id) == ("CompleteCommit", txn.pid)


def test_an_abort_hides_the_records_from_read_committed_only(cluster):
    conn = cluster.connect()
    txn = Txn(conn)
    txn.send(T0, b"gone")
    txn.end(commit=False)
    txn.send(T0, b"kept")
    txn.end(commit=True)
    assert read(conn, T0) == [b"kept"]
    assert read(conn, T0, "read_uncommitted") == [b"gone", b"kept"]
    assert markers(cluster, cluster.leader("t", 0), T0) == [False, True]


def test_a_batch_to_a_partition_not_in_the_transaction_is_refused(cluster):
    conn = cluster.connect()
    txn = Txn(conn)
    txn.send(T0, b"a")
    with pytest.raises(InvalidTxnStateError):
        conn.append_idempotent("t", 1, [(None, b"x")], producer_id=txn.pid,
                               producer_epoch=txn.epoch, first_sequence=0, acks="all",
                               transactional=True)
    assert read(conn, T1, "read_uncommitted") == []


def test_the_coordinator_fails_over_and_the_transaction_goes_on(cluster):
    conn = cluster.connect()
    txn = Txn(conn)
    txn.send(T0, b"a")
    fail_over(cluster, TRANSACTION_TOPIC, 0)
    txn.send(T1, b"b")  # the new coordinator loaded the ongoing transaction
    txn.end(commit=True)
    assert read(conn, T0) == [b"a"] and read(conn, T1) == [b"b"]
    assert conn.describe_transactions(["tx"])["tx"].producer_epoch == txn.epoch


def test_a_new_coordinator_writes_the_markers_of_a_decided_transaction(cluster):
    conn = cluster.connect()
    txn = Txn(conn)
    txn.send(T0, b"a")
    log = cluster.transaction_log()
    # The coordinator stores the decision, then fails before it writes any marker.
    entry = log._load(0)
    ended = entry.coordinator.end("tx", txn.pid, txn.epoch, True, 0)
    log._store(entry, "tx", ended)
    assert states(cluster)[-1] == "PrepareCommit"
    fail_over(cluster, TRANSACTION_TOPIC, 0)
    log._loaded.clear()
    log._unfinished.clear()  # what the failed coordinator knew is gone with it
    assert conn.describe_transactions(["tx"])["tx"].state == "CompleteCommit"
    assert read(conn, T0) == [b"a"]
    assert states(cluster)[-1] == "CompleteCommit"


def test_a_marker_follows_the_partitions_new_leader(cluster):
    conn = cluster.connect()
    txn = Txn(conn)
    txn.send(T0, b"a")
    fail_over(cluster, "t", 0)
    txn.end(commit=True)
    assert read(conn, T0) == [b"a"]


def test_markers_that_cannot_be_written_make_the_next_call_wait(make_cluster):
    cluster = make_cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000)
    conn = cluster.connect()
    log = cluster.transaction_log()
    log.call_wait = 2.0  # virtual seconds a call retries before it gives up
    only = (cluster.leader(*STATE) + 1) % 3  # not the coordinator
    cluster.create_topic("one", 1, replica_assignment=[[only]])
    cluster.create_topic("t", 1, replication_factor=3)
    one = TopicPartition("one", 0)
    txn = Txn(conn)
    txn.send(one, b"a")
    cluster.kill(only)
    cluster.run_for(1.5)
    txn.end(commit=True)  # decided and stored; the marker waits for the partition
    assert states(cluster)[-1] == "PrepareCommit"
    with pytest.raises(ConcurrentTransactionsError):
        conn.add_partitions_to_txn("tx", txn.pid, txn.epoch, [T0])
    cluster.restart(only)
    cluster.run_for(1.5)
    conn.add_partitions_to_txn("tx", txn.pid, txn.epoch, [T0])
    assert read(conn, one) == [b"a"]
    assert states(cluster)[-2:] == ["CompleteCommit", "Ongoing"]


def test_a_marker_for_an_epoch_the_partition_left_behind_is_not_retried(cluster):
    conn = cluster.connect()
    old = Txn(conn)
    old.send(T0, b"a")
    new = Txn(conn)  # fences the old one: its transaction aborted at a newer epoch
    new.send(T0, b"b")
    log = cluster.transaction_log()
    stale = EndedTransaction("tx", old.pid, old.epoch, True, (T0,), {})
    assert log._write_marker(log._load(0), stale, T0, deadline=0.0)  # done: nothing to write
    assert markers(cluster, cluster.leader("t", 0), T0) == [False]


def test_init_transactions_fences_the_old_instance_and_aborts_what_it_left(cluster):
    conn = cluster.connect()
    old = Txn(conn)
    old.send(T0, b"zombie")
    new = Txn(conn)
    assert (new.pid, new.epoch) == (old.pid, old.epoch + 2)
    assert read(conn, T0) == []
    assert markers(cluster, cluster.leader("t", 0), T0) == [False]
    with pytest.raises(ProducerFencedError):
        conn.end_txn("tx", old.pid, old.epoch, True)
    with pytest.raises(InvalidProducerEpochError):  # the marker fenced its epoch
        conn.append_idempotent("t", 0, [(None, b"late")], producer_id=old.pid,
                               producer_epoch=old.epoch, first_sequence=1, acks="all")


def test_a_timed_out_transaction_is_aborted_and_its_producer_fenced(cluster):
    conn = cluster.connect()
    txn = Txn(conn)
    txn.send(T0, b"a")
    log = cluster.transaction_log()
    started = json.loads(cluster.log(cluster.leader(*STATE), *STATE)[-1].value)["start_ms"]
    assert log.abort_timed_out(started + 60_000) == []  # not longer than the timeout yet
    assert log.abort_timed_out(started + 60_001) == ["tx"]
    assert read(conn, T0) == [] and markers(cluster, cluster.leader("t", 0), T0) == [False]
    with pytest.raises(ProducerFencedError):
        conn.end_txn("tx", txn.pid, txn.epoch, True)
    fail_over(cluster, TRANSACTION_TOPIC, 0)  # the abort was stored
    assert conn.describe_transactions(["tx"])["tx"].state == "CompleteAbort"


def test_an_expired_transactional_id_is_forgotten_by_every_later_coordinator(cluster):
    conn = cluster.connect()
    txn = Txn(conn)
    txn.send(T0, b"a")
    txn.end(commit=True)
    log = cluster.transaction_log()
    updated = json.loads(cluster.log(cluster.leader(*STATE), *STATE)[-1].value)
    assert log.expire_ids(updated["last_update_ms"] + 604_800_000) == ["tx"]
    fail_over(cluster, TRANSACTION_TOPIC, 0)
    assert conn.describe_transactions(["tx"])["tx"].error is not None
    assert conn.list_transactions() == []


def test_staged_offsets_are_unstable_until_the_commit_then_committed(cluster):
    conn = cluster.connect()
    txn = Txn(conn)
    txn.send(T1, b"out")
    conn.add_offsets_to_txn("tx", txn.pid, txn.epoch, "g")
    conn.txn_offset_commit("tx", "g", txn.pid, txn.epoch, {T0: OffsetAndMetadata(7, "m")})
    assert conn.committed("g", [T0]) == {T0: None}
    with pytest.raises(UnstableOffsetCommitError):
        conn.committed("g", [T0], require_stable=True)
    fail_over(cluster, TRANSACTION_TOPIC, 0)  # the staged offsets were stored
    with pytest.raises(UnstableOffsetCommitError):
        conn.committed("g", [T0], require_stable=True)
    txn.end(commit=True)
    assert conn.committed("g", [T0], require_stable=True) == {T0: OffsetAndMetadata(7, "m")}


def test_without_a_readable_transaction_log_offsets_are_unstable_and_batches_wait(
        make_cluster):
    cluster = make_cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                           transaction_settings={"replication_factor": 1})
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    txn = Txn(conn)
    txn.send(T0, b"a")
    assert conn.committed("g", [T1], require_stable=True) == {T1: None}
    cluster.kill(cluster.leader(*STATE))  # its only replica
    cluster.run_for(1.5)
    with pytest.raises(UnstableOffsetCommitError):  # a lost transaction may have staged it
        conn.committed("g", [T1], require_stable=True)
    with pytest.raises(CoordinatorNotAvailableError):  # retriable: the producer sends again
        conn.append_idempotent("t", 0, [(None, b"b")], producer_id=txn.pid,
                               producer_epoch=txn.epoch, first_sequence=1, acks="all",
                               transactional=True)


def test_a_partition_deleted_during_the_transaction_needs_no_marker(cluster):
    cluster.create_topic("gone", 1, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    txn = Txn(conn)
    txn.send(TopicPartition("gone", 0), b"a")
    txn.send(T0, b"b")
    cluster.delete_topic("gone")
    txn.end(commit=True)
    assert read(conn, T0) == [b"b"]
    assert conn.describe_transactions(["tx"])["tx"].state == "CompleteCommit"


def test_list_transactions_merges_every_coordinator(make_cluster):
    cluster = make_cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                           transaction_settings={"partitions": 3})
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    ids = [f"tx{i}" for i in range(6)]
    producers = [Txn(conn, tid) for tid in ids]
    producers[0].send(T0, b"a")
    listed = conn.list_transactions()
    assert [x.transactional_id for x in listed] == ids
    assert [x.transactional_id for x in conn.list_transactions(["Ongoing"])] == ["tx0"]
    assert len({cluster.transaction_log().partition_for(tid) for tid in ids}) > 1


@pytest.mark.parametrize("settings", [{"partition": 3}, {"partitions": 0},
                                      {"max_timeout_ms": True}, {"partitions": "3"}])
def test_bad_transaction_settings_are_refused_when_the_cluster_is_made(settings):
    with pytest.raises(IllegalArgumentError, match="transaction_settings"):
        Cluster(3, mode="steps", transaction_settings=settings)


def test_the_settings_reach_the_coordinators(make_cluster):
    cluster = make_cluster(3, transaction_settings={"max_timeout_ms": 1000})
    cluster.create_topic("t", 1, replication_factor=3)
    conn = cluster.connect()
    with pytest.raises(InvalidTransactionTimeoutError, match="1..1000"):
        conn.init_producer_id(transactional_id="tx", transaction_timeout_ms=1001)
    assert conn.init_producer_id(transactional_id="tx", transaction_timeout_ms=1000)[1] == 0


# --- pcmodel's clients ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_consume_transform_produce_is_exactly_once_across_a_coordinator_failure(mode):
    settings = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                    tick_ms=10 if mode == "threads" else 20)
    source_tp = TopicPartition("in", 0)
    with Cluster(3, mode=mode, **settings) as cluster:
        cluster.create_topic("in", 1, replication_factor=3, min_insync_replicas=2)
        cluster.create_topic("out", 1, replication_factor=3, min_insync_replicas=2)
        source = KafkaProducer(broker=cluster, acks="all")
        for i in range(6):
            source.send("in", b"%d" % i)
        source.flush(timeout=10)
        source.close()
        consumer = KafkaConsumer(broker=cluster, group_id="g", enable_auto_commit=False,
                                 isolation_level="read_committed", fetch_max_wait_ms=20)
        consumer.assign([source_tp])
        consumer.seek_to_beginning()
        producer = KafkaProducer(broker=cluster, transactional_id="copy", retries=2000,
                                 retry_backoff_ms=20)
        reader = KafkaConsumer(broker=cluster, isolation_level="read_committed",
                               fetch_max_wait_ms=20)
        reader.assign([TopicPartition("out", 0)])
        reader.seek_to_beginning()
        try:
            producer.init_transactions()
            records = []
            while len(records) < 6:
                records += consumer.poll(timeout_ms=200).get(source_tp, [])
            for n in range(3):
                chunk = records[2 * n:2 * n + 2]
                for attempt in (["abort", "commit"] if n == 0 else ["commit"]):
                    producer.begin_transaction()
                    for record in chunk:
                        producer.send("out", record.value + b"!")
                    producer.send_offsets_to_transaction(
                        {source_tp: OffsetAndMetadata(chunk[-1].offset + 1)},
                        consumer.group_metadata())
                    if attempt == "abort":
                        producer.abort_transaction()
                    else:
                        producer.commit_transaction()
                if n == 0:  # the coordinator dies between two transactions
                    cluster.kill(cluster.leader(TRANSACTION_TOPIC, 0))
            seen: list[bytes] = []
            while len(seen) < 6:
                seen += [r.value for r in reader.poll(timeout_ms=200).get(
                    TopicPartition("out", 0), [])]
            assert seen == [b"%d!" % i for i in range(6)]  # each once: the abort is hidden
            assert consumer.committed(source_tp) == 6
        finally:
            for client in (producer, consumer, reader):
                client.close()
