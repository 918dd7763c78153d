"""The admin client's transaction calls, with kafka-python 3's shapes (its answers through the
Kafka listener are compared in tests/interop)."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.admin_transactions import TransactionDescription
from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import IllegalArgumentError, TransactionalIdNotFoundError
from pcmodel.topics.structs import TopicPartition
from pcmodel.topics.transactions import TransactionListing

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def broker():
    with Broker() as b:
        b.create_topic("t", 2)
        yield b


def begin(broker: Broker, transactional_id: str, *partitions: int) -> tuple[int, int]:
    pid, epoch = broker.init_producer_id(transactional_id=transactional_id,
                                         transaction_timeout_ms=30_000)
    if partitions:
        broker.add_partitions_to_txn(transactional_id, pid, epoch,
                                     [TopicPartition("t", p) for p in partitions])
    return pid, epoch


def test_describe_transactions_answers_kafka_pythons_shape(broker):
    pid, epoch = begin(broker, "orders", 1, 0)
    admin = KafkaAdminClient(broker=broker)
    described = admin.describe_transactions(["orders"])["orders"]
    assert isinstance(described, TransactionDescription)
    assert described[:6] == (0, "Ongoing", pid, epoch, 30_000, described.transaction_start_time_ms)
    assert described.transaction_start_time_ms > 0
    assert described.topic_partitions == {TopicPartition("t", 0), TopicPartition("t", 1)}
    with pytest.raises(TransactionalIdNotFoundError, match="'nobody'"):
        admin.describe_transactions(["orders", "nobody"])
    with pytest.raises(TypeError, match="must be a list"):
        admin.describe_transactions("orders")


def test_list_transactions_filters_as_kafka_does(broker):
    first, _ = begin(broker, "orders-1", 0)
    second, _ = begin(broker, "orders-2")
    begin(broker, "audit")
    admin = KafkaAdminClient(broker=broker)
    everything = admin.list_transactions()
    assert list(everything) == [0]
    assert [row.transactional_id for row in everything[0]] == ["audit", "orders-1", "orders-2"]
    assert admin.list_transactions(state_filters=["Ongoing"]) == {
        0: [TransactionListing("orders-1", first, "Ongoing")]}
    assert [r.producer_id for r in admin.list_transactions(producer_id_filters=[second])[0]] \
        == [second]
    assert [r.transactional_id for r in
            admin.list_transactions(transactional_id_pattern=r"^orders-\d")[0]] == [
        "orders-1", "orders-2"]
    assert [r.transactional_id for r in admin.list_transactions(duration_filter_ms=60_000)[0]] \
        == ["audit", "orders-2"]  # never began a transaction: as old as can be
    with pytest.raises(IllegalArgumentError, match="regular expression"):
        admin.list_transactions(transactional_id_pattern="(")
    with pytest.raises(IllegalArgumentError, match="unknown transaction states"):
        admin.list_transactions(state_filters=["Running"])
    with pytest.raises(IllegalArgumentError, match=r"the brokers are \[0\]"):
        admin.list_transactions(broker_ids=[1])


def test_on_a_cluster_each_broker_lists_the_ids_it_coordinates():
    with Cluster(brokers=3, mode="steps",
                 transaction_settings={"partitions": 3}) as cluster:
        cluster.create_topic("t", 1, replication_factor=3)
        admin = KafkaAdminClient(broker=cluster)
        assert admin.list_transactions() == {0: [], 1: [], 2: []}  # before any transaction
        with pytest.raises(TransactionalIdNotFoundError):
            admin.describe_transactions(["orders"])
        conn = cluster.connect()
        ids = [f"orders-{i}" for i in range(6)]
        for tid in ids:
            conn.init_producer_id(transactional_id=tid)
        log = cluster.transaction_log()
        listed = admin.list_transactions()
        assert sorted(listed) == [0, 1, 2]
        for broker, rows in listed.items():
            assert [r.transactional_id for r in rows] == \
                [tid for tid in ids if log.coordinator(tid) == broker]
        assert sum(len(rows) for rows in listed.values()) == 6
        assert len({log.coordinator(tid) for tid in ids}) > 1  # several coordinators
        described = admin.describe_transactions(ids)
        assert [d.coordinator_id for d in described.values()] == \
            [log.coordinator(tid) for tid in ids]
        assert list(admin.list_transactions(broker_ids=[1])) == [1]
        assert admin.list_transactions(broker_ids=[]) == {}  # none asked, as kafka-python's
        with pytest.raises(IllegalArgumentError, match="the brokers are"):
            admin.list_transactions(broker_ids=[3])


def test_list_partition_offsets_read_committed_stops_at_the_last_stable_offset(broker):
    from pcmodel.topics.structs import OffsetSpec

    t0 = TopicPartition("t", 0)
    broker.append("t", 0, [(None, b"before", (), 1_000)])
    pid, epoch = begin(broker, "orders", 0)
    broker.append_idempotent("t", 0, [(None, b"open", (), 5_000)], producer_id=pid,
                             producer_epoch=epoch, first_sequence=0, transactional=True)
    admin = KafkaAdminClient(broker=broker)
    specs = {t0: OffsetSpec.LATEST}
    assert admin.list_partition_offsets(specs)[t0].offset == 2
    assert admin.list_partition_offsets(specs, isolation_level=1)[t0].offset == 1
    newest = {t0: OffsetSpec.MAX_TIMESTAMP}
    assert admin.list_partition_offsets(newest)[t0].offset == 1
    assert admin.list_partition_offsets(newest, isolation_level=1)[t0].offset == -1
    assert admin.list_partition_offsets({t0: 2_000}, isolation_level=1)[t0].offset == -1
    assert admin.list_partition_offsets({t0: 500}, isolation_level=1)[t0].offset == 0
    broker.end_txn("orders", pid, epoch, True)
    assert admin.list_partition_offsets({t0: 2_000}, isolation_level=1)[t0].offset == 1
    # The COMMIT marker at offset 2 is stamped when it was written: the newest timestamp now,
    # as in Kafka, whose time index holds markers too.
    assert admin.list_partition_offsets(newest, isolation_level=1)[t0].offset == 2
