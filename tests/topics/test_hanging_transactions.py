"""Ending a transaction by hand on a lone broker: the admin client's ``abort_transaction``
(WriteTxnMarkers, as ``kafka-transactions.sh abort`` sends it), the partition's checks of the
producer and coordinator epochs, and ``find_hanging_transactions`` (a cluster, where a
transaction can hang, is in tests/cluster/test_hanging_transactions.py)."""

from __future__ import annotations

import pytest

from pcmodel.topics import AbortTransactionSpec, Broker, KafkaAdminClient
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidProducerEpochError,
    TransactionCoordinatorFencedError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.log_records import NewRecord
from pcmodel.topics.log_transactions import ControlRecord
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(30)

T0 = TopicPartition("t", 0)
OLD = 1_000  # a create time long ago (epoch ms): any search horizon has passed it


@pytest.fixture
def broker():
    with Broker() as b:
        b.create_topic("t", 2)
        yield b


def open_transaction(broker: Broker, tid: str = "tx", tp: TopicPartition = T0,
                     values: tuple[bytes, ...] = (b"a",), first_sequence: int = 0,
                     ) -> tuple[int, int]:
    """A transaction of ``tid`` holding ``tp``, with ``values`` written there (at OLD)."""
    pid, epoch = broker.init_producer_id(transactional_id=tid, transaction_timeout_ms=30_000)
    broker.add_partitions_to_txn(tid, pid, epoch, [tp])
    broker.append_idempotent(tp.topic, tp.partition,
                             [NewRecord(None, v, (), OLD) for v in values],
                             producer_id=pid, producer_epoch=epoch,
                             first_sequence=first_sequence, transactional=True)
    return pid, epoch


def stable_end(broker: Broker, tp: TopicPartition = T0) -> int:
    return broker.end_offsets([tp], isolation_level="read_committed")[tp]


def test_an_administrators_abort_ends_the_transaction_in_its_partition(broker):
    pid, epoch = open_transaction(broker, values=(b"a", b"b"))
    admin = KafkaAdminClient(broker=broker)
    assert stable_end(broker) == 0
    (producer,) = admin.describe_producers([T0])[T0].active_producers
    assert (producer.current_transaction_start_offset, producer.coordinator_epoch) == (0, -1)
    admin.abort_transaction(AbortTransactionSpec(T0, pid, epoch))
    assert stable_end(broker) == 3  # the marker's offset is 2
    records = broker.fetch({T0: 0}, isolation_level="read_committed")[T0]
    assert [r.value for r in records.records if not isinstance(r, ControlRecord)] == [b"a", b"b"]
    assert [a.producer_id for a in records.aborted_transactions] == [pid]  # readers drop them
    (producer,) = admin.describe_producers([T0])[T0].active_producers
    assert producer.current_transaction_start_offset == -1
    # The coordinator was not told: its commit writes a marker for nothing open here.
    broker.end_txn("tx", pid, epoch, commit=True)
    assert stable_end(broker) == 4
    assert broker.describe_transactions(["tx"])["tx"].state == "CompleteCommit"


def test_a_marker_from_an_older_coordinator_or_epoch_is_refused_and_writes_nothing(broker):
    pid, epoch = open_transaction(broker)
    broker.end_txn("tx", pid, epoch, commit=True)  # the coordinator's marker, at epoch 0
    admin = KafkaAdminClient(broker=broker)
    assert admin.describe_producers([T0])[T0].active_producers[0].coordinator_epoch == 0
    end = broker.end_offsets([T0])[T0]
    with pytest.raises(TransactionCoordinatorFencedError, match="t-0: .*coordinator epoch 0"):
        admin.abort_transaction(AbortTransactionSpec(T0, pid, epoch))  # -1 by default
    pid2, epoch2 = open_transaction(broker, "tx2")
    broker.init_producer_id(transactional_id="tx2", transaction_timeout_ms=30_000)  # fences
    with pytest.raises(InvalidProducerEpochError, match="t-0"):
        admin.abort_transaction(AbortTransactionSpec(T0, pid2, epoch2, 0))
    assert broker.end_offsets([T0])[T0] == end + 2  # tx2's record and its fencing marker
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.abort_transaction(AbortTransactionSpec(TopicPartition("t", 5), pid, epoch, 0))
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.abort_transaction(AbortTransactionSpec(TopicPartition("nope", 0), pid, epoch, 0))
    assert broker.end_offsets([T0])[T0] == end + 2


def test_the_coordinator_skips_a_partition_a_newer_coordinator_epoch_ended(broker):
    pid, epoch = open_transaction(broker)
    pid, epoch = broker.init_producer_id(transactional_id="tx", transaction_timeout_ms=30_000)
    broker.add_partitions_to_txn("tx", pid, epoch, [T0, TopicPartition("t", 1)])
    broker.write_txn_marker("t", 0, pid, epoch, False, 3)  # as a coordinator of epoch 3
    end = broker.end_offsets([T0])[T0]
    broker.end_txn("tx", pid, epoch, commit=True)  # this broker's coordinator is epoch 0
    assert broker.end_offsets([T0])[T0] == end  # fenced in t-0: no marker
    assert broker.end_offsets([TopicPartition("t", 1)])[TopicPartition("t", 1)] == 1
    assert broker.describe_transactions(["tx"])["tx"].state == "CompleteCommit"


def test_a_batch_older_than_an_administrators_marker_is_refused(broker):
    pid, epoch = open_transaction(broker)
    broker.write_txn_marker("t", 0, pid, epoch + 1, False, 0)  # a marker at a newer epoch
    with pytest.raises(InvalidProducerEpochError):
        broker.append_idempotent("t", 0, [NewRecord(None, b"late")], producer_id=pid,
                                 producer_epoch=epoch, first_sequence=1, transactional=True)
    assert broker.end_offsets([T0])[T0] == 2


def test_a_marker_without_batches_is_remembered_until_the_next_expiration_check(broker):
    broker.write_txn_marker("t", 0, 99, 0, False, 5)  # a producer t-0 never knew
    with pytest.raises(TransactionCoordinatorFencedError, match="coordinator epoch 5"):
        broker.write_txn_marker("t", 0, 99, 0, False, 4)
    broker.expire_producers()
    assert broker.write_txn_marker("t", 0, 99, 0, False, 4) == 1


@pytest.mark.parametrize("spec, error", [
    ("t-0", TypeError),
    ((T0, 0, 0), TypeError),
    (AbortTransactionSpec(("t", -1), 0, 0), ValueError),
    (AbortTransactionSpec(T0, -1, 0), IllegalArgumentError),
    (AbortTransactionSpec(T0, 0, 0, -2), IllegalArgumentError),
    (AbortTransactionSpec(T0, 0, "0"), TypeError),
])
def test_a_malformed_spec_is_refused(broker, spec, error):
    with pytest.raises(error):
        KafkaAdminClient(broker=broker).abort_transaction(spec)
    assert broker.end_offsets([T0])[T0] == 0


def test_find_hanging_skips_what_the_coordinator_holds_and_what_is_recent(broker):
    admin = KafkaAdminClient(broker=broker)
    assert admin.find_hanging_transactions(max_transaction_timeout_ms=0) == []
    open_transaction(broker)  # old, but its coordinator holds t-0: it will write the marker
    pid, epoch = broker.init_producer_id(transactional_id="new", transaction_timeout_ms=30_000)
    broker.add_partitions_to_txn("new", pid, epoch, [TopicPartition("t", 1)])
    broker.append_idempotent("t", 1, [NewRecord(None, b"now")], producer_id=pid,
                             producer_epoch=epoch, first_sequence=0, transactional=True)
    assert admin.find_hanging_transactions(max_transaction_timeout_ms=0) == []
    assert admin.find_hanging_transactions(topics=["t"], broker_ids=[0]) == []
    with pytest.raises(IllegalArgumentError, match="broker 1"):
        admin.find_hanging_transactions(broker_ids=[1])
    with pytest.raises(IllegalArgumentError, match="max_transaction_timeout_ms"):
        admin.find_hanging_transactions(max_transaction_timeout_ms=-1)
    with pytest.raises(UnknownTopicOrPartitionError, match="'nope'"):
        admin.find_hanging_transactions(topics=["nope"])
    with pytest.raises(TypeError, match="must be a list"):
        admin.find_hanging_transactions(topics="t")
    assert admin.find_hanging_transactions(partitions=[TopicPartition("t", 1)]) == []
    with pytest.raises(IllegalArgumentError, match="topics or partitions, not both"):
        admin.find_hanging_transactions(topics=["t"], partitions=[TopicPartition("t", 1)])
    with pytest.raises(UnknownTopicOrPartitionError, match="'t' has no partition 9"):
        admin.find_hanging_transactions(partitions=[TopicPartition("t", 9)])
    with pytest.raises(UnknownTopicOrPartitionError, match="no topic 'nope'"):
        admin.find_hanging_transactions(partitions=[TopicPartition("nope", 0)])
    with pytest.raises(TypeError, match="TopicPartition"):
        admin.find_hanging_transactions(partitions=["t"])
