"""A partition log remembers its producers' batches and reads whole ones
(``PartitionLog.read_batches``), through retention, DeleteRecords, truncation and a high
watermark inside a batch."""

from __future__ import annotations

from pcmodel.topics.compression import CompressedBatch, get_codec
from pcmodel.topics.log import PartitionLog
from pcmodel.topics.log_batches import LogBatches, StoredBatch
from pcmodel.topics.log_records import validate_records


def _log(*sizes: int, compressed_at: int | None = None) -> PartitionLog:
    log = PartitionLog()
    for n, size in enumerate(sizes):
        records = validate_records([(None, b"%d" % i) for i in range(size)])
        batch = CompressedBatch.build(get_codec("gzip"), records) if n == compressed_at else None
        log.append(records, compressed=batch)
    return log


def _edges(batches):
    return [(b.base_offset, b.last_offset, b.codec) for b in batches]


def _read(log, offset, max_records=500, upper=None):
    records, batches = log.read_batches(offset, max_records, upper=upper)
    return [r.offset for r in records], _edges(batches)


def test_a_read_starts_at_the_batch_holding_the_offset_and_ends_a_batch_it_began():
    log = _log(10, 5, 7, compressed_at=1)
    assert _read(log, 3) == (list(range(22)), [(0, 9, None), (10, 14, "gzip"), (15, 21, None)])
    assert _read(log, 12, max_records=1) == (list(range(10, 15)), [(10, 14, "gzip")])
    assert _read(log, 22) == ([], [])
    assert log.read(12, 2)[0].offset == 12  # a plain read still starts at its offset


def test_a_high_watermark_inside_a_batch_ends_the_read_and_the_batch_there():
    log = _log(10, 5)
    assert _read(log, 3, upper=12) == (list(range(12)), [(0, 9, None), (10, 11, None)])
    # At the bound nothing new is readable: no records, not the batch already read again.
    assert _read(log, 12, upper=12) == ([], [])


def test_retention_and_delete_records_forget_whole_batches_only():
    log = _log(10, 5, 7)
    log.delete_before(12)
    # The batch the new start cuts is read whole, its records below the start included.
    assert _read(log, 12) == (list(range(10, 22)), [(10, 14, None), (15, 21, None)])
    log.delete_before(15)
    assert _read(log, 15) == (list(range(15, 22)), [(15, 21, None)])


def test_truncation_cuts_the_batch_it_ends_inside_and_later_appends_are_batches():
    log = _log(10, 5, 7, compressed_at=1)
    log.truncate_to(12)
    assert _read(log, 0) == (list(range(12)), [(0, 9, None), (10, 11, "gzip")])
    log.append(validate_records([(None, b"x")] * 3))
    assert _read(log, 13)[1] == [(12, 14, None)]
    log.restart_at(40)
    assert _read(log, 40) == ([], [])


def test_log_batches_find_and_forget_by_offset():
    batches = LogBatches()
    for base, last in ((0, 4), (5, 5), (8, 9)):  # 6 and 7: a follower's copy, no batch
        batches.appended(StoredBatch(base, last))
    assert batches.containing(4) == StoredBatch(0, 4)
    assert batches.containing(6) is None and batches.containing(10) is None
    assert _edges(batches.overlapping(3, 8)) == [(0, 4, None), (5, 5, None), (8, 9, None)]
    assert _edges(batches.overlapping(6, 7)) == []
    batches.forget_before(5)
    assert _edges(batches.overlapping(0, 9)) == [(5, 5, None), (8, 9, None)]
    batches.forget_before(9)
    assert len(batches) == 1
    batches.truncate(9)
    assert _edges(batches.overlapping(0, 9)) == [(8, 8, None)]
