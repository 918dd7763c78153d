"""The consumer reports the leader epoch each record was written in, and commits it.

Kafka's fetched batches carry the epoch of the leader that wrote their records (KIP-101), the
Java ``KafkaConsumer`` hands it out as ``ConsumerRecord.leaderEpoch()``, and a commit of its
positions carries the epoch of the last record consumed (KIP-320: ``FetchPosition.offsetEpoch``),
so that a consumer resuming from it can detect a truncated log. A lone broker's records are all
of epoch 0 (as its Kafka listener answers); a cluster's, of the epoch their leader wrote them in.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from tests.conftest import wait_until
from tests.topics.conftest import FAST, drain

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)


def _produce(broker, values, **config):
    producer = KafkaProducer(broker=broker, **config)
    for value in values:
        producer.send("t", value)
    producer.flush()
    producer.close()


def test_a_lone_brokers_records_and_commits_carry_epoch_0(broker):
    broker.create_topic("t", 1)
    _produce(broker, [b"a", b"b", b"c"])
    consumer = KafkaConsumer(broker=broker, group_id="g", enable_auto_commit=False,
                             auto_offset_reset="earliest", **FAST)
    consumer.assign([TP])
    assert [r.leader_epoch for r in drain(consumer, 3, 20)] == [0, 0, 0]
    consumer.commit()
    assert consumer.committed(TP, metadata=True).leader_epoch == 0
    # A seek forgets the epoch: the position's record is unknown until one is read.
    consumer.seek(TP, 1)
    consumer.commit()
    assert consumer.committed(TP, metadata=True) == (1, "", -1)
    # A lookup by time answers with the epoch of the record found, as ListOffsets does.
    assert consumer.offsets_for_times({TP: 0})[TP].leader_epoch == 0
    consumer.close()


def test_a_position_from_a_committed_offset_keeps_its_epoch(broker):
    broker.create_topic("t", 1)
    _produce(broker, [b"a", b"b"])
    first = KafkaConsumer(broker=broker, group_id="g", enable_auto_commit=False, **FAST)
    first.commit({TP: OffsetAndMetadata(1, "", 7)})
    first.close()
    second = KafkaConsumer(broker=broker, group_id="g", enable_auto_commit=False, **FAST)
    second.assign([TP])
    assert second.position(TP) == 1
    second.commit()  # nothing read since: the committed epoch stays
    assert second.committed(TP, metadata=True) == (1, "", 7)
    assert [r.leader_epoch for r in drain(second, 1, 20)] == [0]
    second.close()  # auto-commit is off; commit the position read up to by hand
    third = KafkaConsumer(broker=broker, group_id="g", auto_offset_reset="earliest", **FAST)
    third.assign([TP])
    assert [r.value for r in drain(third, 1, 20)] == [b"b"]
    third.close()  # auto-commit on close: the last record's epoch
    check = KafkaConsumer(broker=broker, group_id="g", **FAST)
    assert check.committed(TP, metadata=True) == (2, "", 0)
    check.close()


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_a_clusters_records_carry_the_epoch_of_the_leader_that_wrote_them(mode):
    with Cluster(3, mode=mode, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                 tick_ms=10) as cluster:
        cluster.create_topic("t", 1, replication_factor=3)
        wait_until(lambda: len(cluster.isr("t", 0)) == 3, timeout=30)
        epochs, stopped = [], []
        for term in range(3):
            if term:  # a controlled shutdown: a new leader at once, in the next epoch
                stopped.append(cluster.leader("t", 0))
                cluster.stop(stopped[-1])
            epochs.append(cluster.metadata()[("t", 0)].leader_epoch)
            _produce(cluster, [b"%d-%d" % (term, i) for i in range(3)], acks="all")
        assert epochs == [0, 1, 2]
        for broker in stopped:  # back, so that the group's offsets have their replicas
            cluster.restart(broker)
        wait_until(lambda: all(len(state.isr) == 3 for state in cluster.metadata().values()),
                   timeout=30)
        consumer = KafkaConsumer(broker=cluster, group_id="g", enable_auto_commit=False,
                                 auto_offset_reset="earliest", **FAST)
        try:
            consumer.assign([TP])
            records = drain(consumer, 9, 20)
            assert [(r.offset, r.leader_epoch) for r in records] == [
                (offset, offset // 3) for offset in range(9)]
            consumer.commit()
            assert consumer.committed(TP, metadata=True) == (9, "", 2)
            # A fetch that starts inside an older epoch.
            consumer.seek(TP, 4)
            assert [r.leader_epoch for r in drain(consumer, 5, 20)] == [1, 1, 2, 2, 2]
            assert consumer.offsets_for_times({TP: 0})[TP].leader_epoch == 0
            assert cluster.connect().written_epochs(TP, 2, 7) == [(0, 2), (1, 3), (2, 6)]
        finally:
            consumer.close()


def test_the_position_keeps_the_epoch_of_the_last_record_consumed():
    from pcmodel.topics.partition_state import PartitionState, leader_epoch_at

    state = PartitionState(1)
    state.move_to(10, 3)
    assert state.position_epoch == 3
    state.pending_leader_epochs[:] = [(3, 8), (4, 12), (6, 15)]
    state.moved_on(14)  # consumed 10..13: the last in epoch 4
    assert (state.position, state.position_epoch) == (14, 4)
    assert state.pending_leader_epochs == [(4, 12), (6, 15)]
    assert [leader_epoch_at([(4, 12), (6, 15)], o) for o in (11, 12, 14, 15, 99)] == [
        -1, 4, 4, 6, 6]
