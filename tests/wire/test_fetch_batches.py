"""Fetch answers the producers' batches as the log keeps them, as Kafka's does: a fetch from the
middle of a batch gets the whole batch from its base offset (the client drops the records before
its position), a compressed batch keeps its codec and is compressed once, compaction leaves a
batch its base offset, a batch DeleteRecords cut goes out whole, and transactions and
LogAppendTime still read."""

from __future__ import annotations

import pytest

import pcmodel.wire.records as wire_records
from pcmodel.topics.log_records import wall_clock_ms
from pcmodel.topics.structs import TopicPartition
from tests.wire.conftest import fetch_request, fetched_batches, fetched_records

TP = TopicPartition("t", 0)


def _batches(raw, offset, topic="t", **options):
    """``(base offset, last offset, record count, codec)`` of each batch a fetch sends."""
    part = raw.request(fetch_request({(topic, 0): offset}, **options)).responses[0].partitions[0]
    return [(b.base_offset, b.next_offset - 1, len(list(b)), b.compression_type)
            for b in fetched_batches(part)]


def _three_batches(broker):
    """100 records, then 37 compressed with gzip, then 63: three producers' batches."""
    broker.create_topic("t", 1)
    broker.append("t", 0, [(None, b"a%d" % i) for i in range(100)])
    broker.append("t", 0, [(None, b"b%d" % i) for i in range(37)], compression="gzip")
    broker.append("t", 0, [(None, b"c%d" % i) for i in range(63)])


@pytest.mark.parametrize(("offset", "expected"), [
    (0, [(0, 99, 100, 0), (100, 136, 37, 1), (137, 199, 63, 0)]),
    (50, [(0, 99, 100, 0), (100, 136, 37, 1), (137, 199, 63, 0)]),
    (120, [(100, 136, 37, 1), (137, 199, 63, 0)]),
    (199, [(137, 199, 63, 0)]),
    (200, []),
])
def test_a_fetch_answers_the_batches_holding_its_offset_as_they_were_produced(
        broker, raw, offset, expected):
    _three_batches(broker)
    assert _batches(raw, offset) == expected


def test_pcmodels_own_fetch_still_starts_at_the_position(broker):
    _three_batches(broker)
    assert broker.fetch({TP: 50})[TP].records[0].offset == 50
    assert broker.fetch({TP: 120}, whole_batches=True)[TP].records[0].offset == 100


def test_a_compressed_batch_is_compressed_once_for_every_fetch(broker, raw, monkeypatch):
    _three_batches(broker)
    first = raw.request(fetch_request({TP: 100})).responses[0].partitions[0].records
    built = []
    real = wire_records.DefaultRecordBatchBuilder

    def counting(*args, **kwargs):
        built.append(args[1])  # the codec of each batch built
        return real(*args, **kwargs)

    monkeypatch.setattr(wire_records, "DefaultRecordBatchBuilder", counting)
    again = raw.request(fetch_request({TP: 120})).responses[0].partitions[0].records
    assert again == first  # the same bytes: the gzip batch as first sent, then the last one
    assert built == [0]  # only the uncompressed batch was written again


def test_a_long_poll_over_several_reads_sends_each_record_once(broker, raw):
    _three_batches(broker)
    response = raw.request(fetch_request({TP: 50}, min_bytes=1 << 20, max_wait_ms=200))
    offsets = [r.offset for r in fetched_records(response.responses[0].partitions[0])]
    assert offsets == list(range(200))


def test_a_batch_partly_below_the_log_start_goes_out_whole(broker, raw):
    _three_batches(broker)
    before = raw.request(fetch_request({TP: 120})).responses[0].partitions[0].records
    broker.delete_records({TP: 120})
    # Kafka's fetch answers the whole batch holding the offset, records below the log start
    # included (the client drops those below its position).
    assert _batches(raw, 120) == [(100, 136, 37, 1), (137, 199, 63, 0)]
    part = raw.request(fetch_request({TP: 120})).responses[0].partitions[0]
    assert part.log_start_offset == 120
    assert [r.offset for r in fetched_records(part)][:21] == list(range(100, 121))
    assert part.records == before  # the same bytes as before the deletion
    broker.delete_records({TP: 137})  # the compressed batch is gone whole
    assert _batches(raw, 137) == [(137, 199, 63, 0)]


def test_a_compacted_batch_keeps_its_base_and_last_offsets(broker, raw):
    broker.create_topic("c", 1, configs={"cleanup.policy": "compact", "segment.ms": "1000"})
    old = wall_clock_ms() - 10_000
    broker.append("c", 0, [(b"a", b"1", (), old), (b"b", b"2", (), old), (b"a", b"3", (), old)],
                  compression="gzip")
    broker.append("c", 0, [(b"a", b"4", (), old)])
    broker.append("c", 0, [(b"d", b"5")])  # rolls the segment: the cleaner runs
    assert [r.offset for r in broker.fetch({("c", 0): 0})[("c", 0)].records] == [1, 3, 4]
    # The first batch lost its first and last records: it keeps both its offsets and its codec,
    # so that a client's next fetch starts after it.
    assert _batches(raw, 0, "c") == [(0, 2, 1, 1), (3, 3, 1, 0), (4, 4, 1, 0)]
    assert _batches(raw, 2, "c") == [(0, 2, 1, 1), (3, 3, 1, 0), (4, 4, 1, 0)]


def test_transactional_batches_and_markers_keep_their_edges(broker, raw):
    broker.create_topic("t", 1)
    pid, epoch = broker.init_producer_id(transactional_id="tx")
    for sequence, commit in ((0, False), (4, True)):
        broker.add_partitions_to_txn("tx", pid, epoch, [TP])
        broker.append_idempotent("t", 0, [(None, b"v")] * 4, producer_id=pid,
                                 producer_epoch=epoch, first_sequence=sequence,
                                 transactional=True, compression="gzip" if commit else None)
        broker.end_txn("tx", pid, epoch, commit)
    part = raw.request(fetch_request({TP: 2}, isolation_level=1)).responses[0].partitions[0]
    batches = fetched_batches(part)
    assert [(b.base_offset, b.next_offset, b.is_transactional, b.is_control_batch,
             b.compression_type) for b in batches] == [
        (0, 4, True, False, 0), (4, 5, True, True, 0), (5, 9, True, False, 1),
        (9, 10, True, True, 0)]
    assert [(a.producer_id, a.first_offset) for a in part.aborted_transactions] == [(pid, 0)]
    assert part.last_stable_offset == 10


def test_log_append_time_batches_go_out_whole_with_their_time(broker, raw):
    broker.create_topic("t", 1, configs={"message.timestamp.type": "LogAppendTime"})
    broker.append("t", 0, [(None, b"x", (), 5)] * 3, compression="gzip")
    broker.append("t", 0, [(None, b"y", (), 5)] * 2)
    stamped = [r.timestamp for r in broker.fetch({TP: 0})[TP].records]
    part = raw.request(fetch_request({TP: 1})).responses[0].partitions[0]
    assert [(b.base_offset, b.timestamp_type, b.compression_type)
            for b in fetched_batches(part)] == [(0, 1, 1), (3, 1, 0)]
    assert [(r.offset, r.timestamp) for r in fetched_records(part)] == list(
        zip(range(5), stamped))
