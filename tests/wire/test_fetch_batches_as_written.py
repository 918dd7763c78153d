"""A fetch answers each batch as its producer wrote it, and whole, as Kafka's log does.

Two of Kafka's rules for what a Fetch sends: a batch carries its idempotent producer's id,
epoch and first sequence number (Kafka's log keeps the batch as appended), and the batch
holding the fetch offset goes out whole, also when DeleteRecords moved the log start into its
middle (``LogSegment.read`` finds the batch whose last offset is at or past the offset; the
client drops the records below its position).
"""

from __future__ import annotations

import pytest
from kafka.record.memory_records import MemoryRecords

from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import OffsetOutOfRangeError
from pcmodel.topics.log import PartitionLog
from pcmodel.topics.log_records import validate_records
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.records import encode_records

TP = TopicPartition("t", 0)


def _headers(data):
    """``(base offset, record count, producer id, epoch, base sequence, transactional)`` of
    each batch in ``data``."""
    out = []
    records = MemoryRecords(bytes(data))
    while records.has_next():
        batch = records.next_batch()
        assert batch.validate_crc()
        out.append((batch.base_offset, len(list(batch)), batch.producer_id,
                    batch.producer_epoch, batch.base_sequence, batch.is_transactional))
    return out


def _fetched(log, offset):
    records, stored = log.read_batches(offset, 500)
    return _headers(encode_records(records, 1 << 20, stored=stored))


def test_an_idempotent_producers_batch_goes_out_with_its_producer_id_epoch_and_sequence():
    log = PartitionLog()
    log.append(validate_records([(None, b"a")] * 3), producer=(7, 2, 40))
    log.append(validate_records([(None, b"b")] * 2))  # a producer without idempotence
    log.append(validate_records([(None, b"c")] * 4), producer=(7, 2, 43))
    assert _fetched(log, 0) == [(0, 3, 7, 2, 40, False), (3, 2, -1, -1, -1, False),
                                (5, 4, 7, 2, 43, False)]
    # From the middle of a batch: the batch whole, its numbering as written.
    assert _fetched(log, 6) == [(5, 4, 7, 2, 43, False)]


def test_a_transactional_batch_keeps_its_sequence_and_its_marker_has_none():
    log = PartitionLog()
    log.append(validate_records([(None, b"t")] * 2), transactional=(9, 1), producer=(9, 1, 5))
    log.append_marker(9, 1, commit=True)
    records, stored = log.read_batches(0, 500)
    data = encode_records(records, 1 << 20, log.transactions.batches_in(0, 3), stored=stored)
    assert _headers(data) == [(0, 2, 9, 1, 5, True), (2, 1, 9, 1, -1, True)]


def test_a_batch_sent_as_two_numbers_the_second_from_its_first_record():
    log = PartitionLog()
    # The second record has no timestamp: the log stamps it with the append time, and a batch
    # has one timestamp type, so the producer's batch goes out as two.
    log.append(validate_records([(None, b"a", (), 1_000), (None, b"b", (), None)]),
               producer=(3, 0, 2**31 - 1))
    assert _fetched(log, 0) == [(0, 1, 3, 0, 2**31 - 1, False), (1, 1, 3, 0, 0, False)]


def test_a_batch_cut_by_delete_records_is_read_whole_from_its_first_record():
    log = PartitionLog()
    for size in (4, 10, 3):
        log.append(validate_records([(None, b"x")] * size))
    log.delete_before(9)  # into the batch 4..13; most of the log's list is now dead
    records, stored = log.read_batches(9, 500)
    assert [r.offset for r in records] == list(range(4, 17))
    assert [(b.base_offset, b.last_offset) for b in stored] == [(4, 13), (14, 16)]
    assert log.log_start_offset == 9 and log.read(9, 1)[0].offset == 9
    with pytest.raises(OffsetOutOfRangeError):
        log.read(8, 1)  # below the log start, a plain read is still out of range
    log.delete_before(14)  # the whole batch is below the start now: it goes
    assert [r.offset for r in log.read_batches(14, 500)[0]] == [14, 15, 16]


def test_a_broker_fetch_sends_a_cut_batch_whole_and_the_consumer_read_starts_at_its_offset():
    with Broker() as broker:
        broker.create_topic("t", 1)
        broker.append("t", 0, [(None, b"%d" % i) for i in range(10)])
        broker.append("t", 0, [(None, b"last")])
        broker.delete_records({TP: 8})
        whole = broker.fetch({TP: 8}, whole_batches=True)[TP]
        assert [r.offset for r in whole.records] == list(range(11))
        assert whole.log_start_offset == 8
        assert [r.offset for r in broker.fetch({TP: 8})[TP].records] == [8, 9, 10]
        assert _headers(encode_records(whole.records, 1 << 20, stored=whole.batches)) == \
            [(0, 10, -1, -1, -1, False), (10, 1, -1, -1, -1, False)]
