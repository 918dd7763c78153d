"""Hanging transactions on a cluster: an unclean election of a ``__transaction_state``
partition loses the coordinator's records, a partition keeps the transaction open, and the
admin client finds it (``find_hanging_transactions``) and ends it (``abort_transaction``);
coordinator epochs fence the markers of a deposed coordinator."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.transaction_log import TRANSACTION_TOPIC
from pcmodel.topics import (
    AbortTransactionSpec,
    ElectionType,
    KafkaAdminClient,
    KafkaProducer,
    TopicPartition,
)
from pcmodel.topics.errors import (
    InvalidProducerIdMappingError,
    InvalidRequestError,
    InvalidTxnStateError,
    TransactionCoordinatorFencedError,
)
from pcmodel.topics.log_records import NewRecord

pytestmark = pytest.mark.timeout(120)

T0 = TopicPartition("t", 0)
T1 = TopicPartition("t", 1)
OLD = 1_000  # a create time long ago (epoch ms): any search horizon has passed it


def write(conn, tid, pid, epoch, tp, value=b"a", first_sequence=0):
    """Add ``tp`` to ``tid``'s transaction and write ``value`` there, created at OLD."""
    conn.add_partitions_to_txn(tid, pid, epoch, [tp])
    conn.append_idempotent(tp.topic, tp.partition, [NewRecord(None, value, (), OLD)],
                           producer_id=pid, producer_epoch=epoch,
                           first_sequence=first_sequence, acks="all", transactional=True)


def ageless(found):
    """find_hanging_transactions' rows without ``age_ms`` (it grows with the clock)."""
    return [{k: v for k, v in row.items() if k != "age_ms"} for row in found]


def stable_end(conn, tp):
    return conn.end_offsets([tp], isolation_level="read_committed")[tp]


@pytest.fixture
def lost(make_cluster):
    """A cluster whose transaction log lost, in an unclean election, everything after its
    follower died: "tx" (known before) added t-0, "gone" (new since) added t-1, each wrote a
    record there. Returns (cluster, conn, {tid: (pid, epoch)})."""
    cluster = make_cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                           transaction_settings={"replication_factor": 2,
                                                 "min_insync_replicas": 1})
    cluster.create_topic("t", 2, replication_factor=3)
    conn = cluster.connect()
    producers = {"tx": conn.init_producer_id(transactional_id="tx")}
    log = cluster.transaction_log()
    state = TopicPartition(TRANSACTION_TOPIC, log.partition_for("tx"))
    assert log.partition_for("gone") == state.partition  # one log partition: one election
    cluster.settle()
    leader = cluster.leader(*state)
    (follower,) = set(cluster.metadata()[state].replicas) - {leader}
    cluster.kill(follower)
    cluster.run_for(3)
    assert cluster.isr(*state) == {leader}
    producers["gone"] = conn.init_producer_id(transactional_id="gone")
    write(conn, "tx", *producers["tx"], T0)
    write(conn, "gone", *producers["gone"], T1)
    cluster.kill(leader)
    cluster.run_for(3)
    cluster.restart(follower)
    cluster.run_for(3)
    assert cluster.leader(*state) is None  # offline: its live replica is not in sync
    assert cluster.elect_leaders(ElectionType.UNCLEAN, [state]) == {state: None}
    cluster.run_for(3)
    return cluster, conn, producers


def test_a_lost_transaction_hangs_until_an_administrator_aborts_it(lost):
    cluster, conn, producers = lost
    admin = KafkaAdminClient(broker=cluster)
    assert stable_end(conn, T0) == 0 and stable_end(conn, T1) == 0  # readers are stuck
    tx_pid, tx_epoch = producers["tx"]
    with pytest.raises(InvalidTxnStateError, match="Empty"):  # the coordinator forgot it
        conn.end_txn("tx", tx_pid, tx_epoch, True)
    with pytest.raises(InvalidProducerIdMappingError):  # and "gone" altogether
        conn.end_txn("gone", *producers["gone"], True)
    hanging = admin.find_hanging_transactions(max_transaction_timeout_ms=0)
    assert [(h["topic_partition"], h["producer_id"]) for h in hanging] == [
        (T0, tx_pid), (T1, producers["gone"][0])]
    tx, gone = hanging
    assert (tx["transactional_id"], tx["state"], tx["start_offset"]) == ("tx", "Empty", 0)
    assert tx["coordinator_id"] == cluster.leader(TRANSACTION_TOPIC,
                                                  cluster.transaction_log().partition_for("tx"))
    assert (gone["transactional_id"], gone["state"], gone["coordinator_id"]) == (None, None, -1)
    assert tx["coordinator_epoch"] == -1 and tx["last_timestamp"] == OLD
    assert ageless(admin.find_hanging_transactions()) == ageless(hanging)  # OLD is old
    assert admin.find_hanging_transactions(max_transaction_timeout_ms=10**13) == []
    live = sorted(set(cluster.metadata()[T0].isr))
    assert ageless(admin.find_hanging_transactions(
        broker_ids=live[:1], topics=["t"], max_transaction_timeout_ms=0)) == ageless(hanging)
    assert ageless(admin.find_hanging_transactions(  # kafka-transactions.sh's --partition
        partitions=[T1], max_transaction_timeout_ms=0)) == ageless([gone])
    assert ageless(admin.find_hanging_transactions(
        broker_ids=live[:1], partitions=[T0, T1],
        max_transaction_timeout_ms=0)) == ageless(hanging)
    for h in hanging:
        admin.abort_transaction(AbortTransactionSpec(
            h["topic_partition"], h["producer_id"], h["producer_epoch"],
            max(0, h["coordinator_epoch"])))  # as kafka-transactions.sh abort
    assert stable_end(conn, T0) == conn.end_offsets([T0])[T0] == 2
    assert stable_end(conn, T1) == 2
    assert admin.find_hanging_transactions(max_transaction_timeout_ms=0) == []
    # The producer starts again: a new transaction commits as usual.
    pid, epoch = conn.init_producer_id(transactional_id="tx")
    write(conn, "tx", pid, epoch, T0, b"b", first_sequence=0)
    conn.end_txn("tx", pid, epoch, True)
    assert stable_end(conn, T0) == 4


def test_a_deposed_coordinators_marker_is_fenced(make_cluster):
    cluster = make_cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000)
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id(transactional_id="tx")
    state = TopicPartition(TRANSACTION_TOPIC, cluster.transaction_log().partition_for("tx"))
    write(conn, "tx", pid, epoch, T0)
    conn.end_txn("tx", pid, epoch, True)
    coordinator_epoch = cluster.metadata()[state].leader_epoch
    admin = KafkaAdminClient(broker=cluster)
    (producer,) = admin.describe_producers([T0])[T0].active_producers
    assert producer.coordinator_epoch == coordinator_epoch  # the markers carry it
    # The coordinator moves (a new leader epoch), and its next marker carries the new epoch.
    cluster.kill(cluster.leader(*state))
    cluster.run_for(3)
    newer = cluster.metadata()[state].leader_epoch
    assert newer > coordinator_epoch
    write(conn, "tx", pid, epoch, T0, b"b", first_sequence=1)
    conn.end_txn("tx", pid, epoch, False)
    cluster.settle()
    assert admin.describe_producers([T0])[T0].active_producers[0].coordinator_epoch == newer
    # The old coordinator's marker is refused, by the leader and by the next one (a follower
    # copied the marker's coordinator epoch with it), and nothing is written.
    end = conn.end_offsets([T0])[T0]
    for _ in range(2):
        future = cluster.write_marker("t", 0, pid, epoch, True,
                                      coordinator_epoch=coordinator_epoch)
        with pytest.raises(TransactionCoordinatorFencedError, match=f"epoch {newer}"):
            future.get(timeout=30)
        assert conn.end_offsets([T0])[T0] == end
        old_leader = cluster.leader("t", 0)
        cluster.kill(old_leader)
        cluster.run_for(3)
        cluster.restart(old_leader)
        cluster.settle()
    assert cluster.write_marker("t", 0, pid, epoch, True, coordinator_epoch=newer).get(
        timeout=30).base_offset == end  # the current coordinator's is written


def test_a_coordinator_fenced_in_a_partition_completes_the_transaction(make_cluster):
    cluster = make_cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id(transactional_id="tx")
    write(conn, "tx", pid, epoch, T0)
    write(conn, "tx", pid, epoch, T1)
    conn.write_txn_marker("t", 0, pid, epoch, False, 100)  # from a coordinator of epoch 100
    conn.end_txn("tx", pid, epoch, True)  # its marker to t-0 is fenced: not sent again
    assert conn.describe_transactions(["tx"])["tx"].state == "CompleteCommit"
    assert stable_end(conn, T0) == 2 and stable_end(conn, T1) == 2  # t-1 has its COMMIT
    pid, epoch = conn.init_producer_id(transactional_id="tx")  # the id goes on
    assert conn.describe_transactions(["tx"])["tx"].state == "Empty"


def test_the_internal_topics_hold_no_transaction_to_abort(make_cluster):
    cluster = make_cluster(3)
    admin = KafkaAdminClient(broker=cluster)
    for topic in ("__consumer_offsets", TRANSACTION_TOPIC):
        with pytest.raises(InvalidRequestError, match="holds no transactions"):
            admin.abort_transaction(AbortTransactionSpec(TopicPartition(topic, 0), 0, 0, 0))


def test_an_administrators_abort_reaches_a_cluster_of_processes():
    with Cluster(3, mode="processes", replica_lag_time_max_ms=1000,
                 broker_session_timeout_ms=1000) as cluster:
        cluster.create_topic("t", 1, replication_factor=3)
        producer = KafkaProducer(broker=cluster, transactional_id="tx")
        try:
            producer.init_transactions()
            producer.begin_transaction()
            producer.send("t", b"a", partition=0)
            producer.commit_transaction()  # its marker carries the coordinator's epoch
            producer.begin_transaction()
            producer.send("t", b"b", partition=0).get(timeout=30)
            admin = KafkaAdminClient(broker=cluster)
            conn = cluster.connect()
            assert stable_end(conn, T0) == 2
            (p,) = admin.describe_producers([T0])[T0].active_producers
            assert p.coordinator_epoch >= 0
            with pytest.raises(TransactionCoordinatorFencedError):
                admin.abort_transaction(AbortTransactionSpec(T0, p.producer_id,
                                                             p.producer_epoch))  # -1
            admin.abort_transaction(AbortTransactionSpec(T0, p.producer_id, p.producer_epoch,
                                                         p.coordinator_epoch))
            assert stable_end(conn, T0) == 4
            producer.abort_transaction()  # the coordinator's marker: for nothing open
            assert stable_end(conn, T0) == 5
        finally:
            producer.close()
