"""Fetched record batches carry the leader epoch their records were written in (KIP-101's
partitionLeaderEpoch), as Kafka's do: consumers validate their position after a leader change
with the epoch of the last record they read (KIP-320), so every batch saying "epoch 0" made
them seek back and read records twice."""

from __future__ import annotations

import struct

import pytest
from kafka.protocol.consumer import OffsetForLeaderEpochRequest
from kafka.record.memory_records import MemoryRecords

from pcmodel.cluster import Cluster
from pcmodel.cluster.epochs import LeaderEpochCache, written_epochs
from pcmodel.topics.log import LogRecord
from pcmodel.topics.log_transactions import TransactionalBatch
from pcmodel.wire.records import encode_records
from tests.conftest import wait_until
from tests.wire.conftest import (
    FAST,
    RawClient,
    fetch_request,
    fetched_batches,
    produce_request,
    record_batch,
)

pytestmark = pytest.mark.timeout(60)

NOT_LEADER = 6


def _produce(address, values, *, claimed_epoch=None):
    """Produce ``values`` (acks=all) to ``t``-0 at ``address``; ``claimed_epoch`` is written
    into the batch's own partitionLeaderEpoch field, as a producer may (the leader's wins)."""
    batch = bytearray(record_batch(values))
    if claimed_epoch is not None:
        struct.pack_into(">i", batch, 12, claimed_epoch)  # not under the CRC
    answers = []

    def produced():  # a new leader may not have heard it leads yet: NOT_LEADER, retried
        with RawClient(address) as raw:
            answers.append(raw.request(produce_request("t", 0, bytes(batch), acks=-1))
                           .responses[0].partition_responses[0])
        return answers[-1].error_code != NOT_LEADER

    wait_until(produced, timeout=20, interval=0.05)
    assert answers[-1].error_code == 0
    return answers[-1].base_offset


def _fetch_batches(address, offset=0):
    with RawClient(address) as raw:
        part = raw.request(fetch_request({("t", 0): offset})).responses[0].partitions[0]
    assert part.error_code == 0
    return part.high_watermark, fetched_batches(part)


def _end_offset_for(address, epoch):
    Topic = OffsetForLeaderEpochRequest.OffsetForLeaderTopic  # noqa: N806
    with RawClient(address) as raw:
        response = raw.request(OffsetForLeaderEpochRequest[4](replica_id=-1, topics=[Topic(
            topic="t", partitions=[Topic.OffsetForLeaderPartition(
                partition=0, current_leader_epoch=-1, leader_epoch=epoch)])]))
    answer = response.topics[0].partitions[0]
    assert answer.error_code == 0
    return answer.leader_epoch, answer.end_offset


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_each_batch_carries_the_epoch_its_records_were_written_in(mode):
    with Cluster(3, mode=mode, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=3)
        wait_until(lambda: len(cluster.isr("t", 0)) == 3, timeout=30)
        written = []  # (leader epoch, values) of each leader's writes
        for term in range(3):
            if term:  # a controlled shutdown: a new leader at once, epoch + 1
                cluster.stop(cluster.leader("t", 0))
            state = cluster.metadata()[("t", 0)]
            values = [b"%d-%d" % (term, i) for i in range(3)]
            # A producer's own partitionLeaderEpoch (here a bogus 42) is the leader's to set.
            _produce(listeners.addresses[state.leader], values, claimed_epoch=42)
            written.append((state.leader_epoch, values))
        assert [epoch for epoch, _ in written] == [0, 1, 2]

        leader = listeners.addresses[cluster.leader("t", 0)]
        high_watermark, batches = _fetch_batches(leader)
        assert high_watermark == 9  # acks=all: the survivor's HW is past every write
        # One batch per epoch (each leader stored one producer's batch, and the survivor
        # copied them), each with the epoch its records were written in (kafka-python:
        # ``leader_epoch``).
        assert [(b.base_offset, b.leader_epoch, [r.value for r in b])
                for b in batches] == [(3 * term, epoch, values)
                                      for term, (epoch, values) in enumerate(written)]
        # A fetch that starts inside a batch, and one inside the latest: each batch comes
        # whole, from its base offset, as Kafka sends it.
        assert [(b.base_offset, b.leader_epoch) for b in _fetch_batches(leader, 4)[1]] \
            == [(3, 1), (6, 2)]
        assert [(b.base_offset, b.leader_epoch) for b in _fetch_batches(leader, 7)[1]] \
            == [(6, 2)]
        # What a consumer validating its position asks then agrees with the batches: the
        # epoch of each batch ends where the next batch begins.
        assert [_end_offset_for(leader, epoch) for epoch in (0, 1, 2)] == [(0, 3), (1, 6), (2, 9)]


def test_a_lone_brokers_batches_are_all_in_epoch_0(broker, raw):
    broker.create_topic("t-lone", 1)
    for values in ([b"a", b"b"], [b"c"]):
        batch = bytearray(record_batch(values))
        struct.pack_into(">i", batch, 12, 7)  # a producer's claim, not kept
        raw.request(produce_request("t-lone", 0, bytes(batch), acks=-1))
    part = raw.request(fetch_request({("t-lone", 0): 0})).responses[0].partitions[0]
    # The producers' two batches, as the log keeps them, both in the lone broker's epoch.
    assert [(b.base_offset, b.leader_epoch) for b in fetched_batches(part)] == [(0, 0), (2, 0)]


def _encoded(records, max_bytes=1 << 20, batches=(), epochs=()):
    data = MemoryRecords(encode_records(records, max_bytes, batches, epochs))
    found = []
    while data.has_next():
        batch = data.next_batch()
        assert batch.validate_crc()  # the epoch is not under the CRC; the rest is intact
        found.append((batch.base_offset, batch.leader_epoch, batch.is_transactional,
                      [r.offset for r in batch]))
    return found


def test_the_encoder_splits_batches_where_the_epoch_changes():
    records = [LogRecord(i, 1000 + i, 0, None, b"v%d" % i, ()) for i in range(10, 20)]
    # Epochs 1 from 10 (and before), 4 from 13, 6 from 17: three batches.
    assert _encoded(records, epochs=[(0, 0), (1, 5), (4, 13), (6, 17)]) == [
        (10, 1, False, [10, 11, 12]), (13, 4, False, [13, 14, 15, 16]),
        (17, 6, False, [17, 18, 19])]
    # A transactional batch inside an epoch is still a batch of its own, in that epoch.
    txn = TransactionalBatch(14, 15, 7, 0)
    assert _encoded(records, batches=[txn], epochs=[(1, 10), (4, 13)]) == [
        (10, 1, False, [10, 11, 12]), (13, 4, False, [13]), (14, 4, True, [14, 15]),
        (16, 4, False, [16, 17, 18, 19])]
    # Records before every epoch known (-1: Kafka's NO_PARTITION_LEADER_EPOCH), and without
    # epochs (a lone broker) everything in epoch 0.
    assert _encoded(records, epochs=[(-1, 10), (3, 12)]) == [
        (10, -1, False, [10, 11]), (12, 3, False, list(range(12, 20)))]
    assert _encoded(records) == [(10, 0, False, list(range(10, 20)))]
    # A size limit still cuts the batches (the first record always goes).
    one = len(encode_records(records[:1], 1 << 20))
    assert _encoded(records[3:], one, epochs=[(1, 10), (4, 13)]) == [(13, 4, False, [13])]


class _Leader:
    """A leader's epoch cache, counting the questions ``written_epochs`` asks of it."""

    def __init__(self, entries, leader_epoch, log_end):
        self.epochs = LeaderEpochCache()
        for epoch, start in entries:
            self.epochs.assign(epoch, start)
        self.leader_epoch, self.log_end, self.questions = leader_epoch, log_end, 0

    def written_epochs(self, first, last):
        def epoch_at(offset):
            self.questions += 1
            return self.epochs.epoch_at(offset)

        def end_offset_for(epoch):
            self.questions += 1
            return self.epochs.end_offset_for(epoch, self.log_end)

        return written_epochs(epoch_at, end_offset_for, self.leader_epoch, first, last)


@pytest.mark.parametrize("first, last, expected, questions", [
    (20, 29, [(5, 20)], 1),                      # the current epoch: one question
    (0, 29, [(0, 0), (2, 10), (5, 20)], 5),      # two per older epoch
    (12, 21, [(2, 12), (5, 20)], 3),
    (3, 9, [(0, 3)], 2),                          # inside an older epoch
])
def test_the_epochs_of_a_fetch_come_from_the_leaders_epoch_cache(first, last, expected,
                                                                 questions):
    leader = _Leader([(0, 0), (2, 10), (5, 20)], 5, 30)
    assert leader.written_epochs(first, last) == expected
    assert leader.questions == questions


def test_records_below_every_epoch_kept_have_no_epoch():
    leader = _Leader([(3, 0), (4, 8)], 4, 12)
    leader.epochs.truncate_from_start(6)  # retention, after the fetch read offset 2 on
    assert leader.written_epochs(2, 11) == [(-1, 2), (3, 6), (4, 8)]
