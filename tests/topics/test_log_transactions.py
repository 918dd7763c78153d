"""A partition log's transactions: markers, the last stable offset, the consumer's filter, and
what retention, compaction and truncation do to them."""

from __future__ import annotations

import pytest

from pcmodel.topics.compaction import CompactionSettings
from pcmodel.topics.errors import IllegalArgumentError
from pcmodel.topics.log import PartitionLog
from pcmodel.topics.log_settings import LogSettings
from pcmodel.topics.log_transactions import (
    AbortedTransaction,
    ControlRecord,
    PartitionTransactions,
    TransactionalBatch,
    check_isolation_level,
    control_record,
    visible_records,
)

pytestmark = pytest.mark.timeout(30)

P, Q = 7, 8  # two producer ids


def r(key: bytes | None, value: bytes) -> tuple:
    """A record as a log appends it (checked: no headers, stamped at the append)."""
    return (key, value, (), None)


def values(records) -> list:
    return [r.value for r in records]


def make_log(**kwargs) -> PartitionLog:
    return PartitionLog(timestamp_clock=lambda: 1_000, **kwargs)


def read_committed(log: PartitionLog, offset: int = 0) -> list:
    records = log.read(offset, 10_000, upper=log.last_stable_offset)
    end = records[-1].offset + 1 if records else offset
    txns = log.transactions
    batches = txns.batches_in(offset, end) if txns else ()
    aborted = txns.aborted_in(offset, end) if txns else ()
    return values(visible_records(records, batches, aborted, True))


def test_a_marker_is_a_control_record_with_kafkas_key_and_value():
    commit, abort = control_record(5, 99, True, 3), control_record(6, 99, False)
    assert commit.key == b"\x00\x00\x00\x01" and abort.key == b"\x00\x00\x00\x00"
    assert commit.value == b"\x00\x00\x00\x00\x00\x03"  # version 0, coordinator epoch 3
    assert commit.commit and not abort.commit and commit.coordinator_epoch == 3
    assert isinstance(commit, ControlRecord) and commit.offset == 5 and "COMMIT" in repr(commit)


def test_the_isolation_levels_are_kafkas():
    assert check_isolation_level("read_committed") is True
    assert check_isolation_level("read_uncommitted") is False
    with pytest.raises(IllegalArgumentError, match="isolation_level"):
        check_isolation_level("committed")


def test_the_last_stable_offset_is_the_first_open_transaction_or_the_high_watermark():
    log = make_log()
    log.append([r(None, b"a")])
    assert log.last_stable_offset == 1 and log.transactions is None
    log.append([r(None, b"t1"), r(None, b"t2")], transactional=(P, 0))
    log.append([r(None, b"b")])
    assert log.last_stable_offset == 1
    log.set_high_watermark(0)
    assert log.last_stable_offset == 0  # never above the high watermark
    log.set_high_watermark(5)
    assert log.append_marker(P, 0, commit=True) == 4
    assert log.last_stable_offset == 5


def test_the_filter_drops_aborted_records_of_their_producer_only_until_its_abort_marker():
    log = make_log()
    log.append([r(None, b"p1")], transactional=(P, 0))
    log.append([r(None, b"q1")], transactional=(Q, 0))
    log.append([r(None, b"plain")])
    log.append([r(None, b"p2")], transactional=(P, 0))
    log.append_marker(P, 0, commit=False)   # P's transaction aborted
    log.append([r(None, b"p3")], transactional=(P, 0))
    log.append_marker(Q, 0, commit=True)
    log.append_marker(P, 0, commit=True)    # P's next transaction committed
    assert read_committed(log) == [b"q1", b"plain", b"p3"]
    all_records = log.read(0, 100)
    txns = log.transactions
    assert values(visible_records(all_records, txns.batches_in(0, 8), (), False)) == [
        b"p1", b"q1", b"plain", b"p2", b"p3"]  # read_uncommitted: only the markers go
    assert txns.aborted_in(0, 8) == (AbortedTransaction(P, 0),)
    assert txns.aborted_in(5, 8) == ()  # the aborted transaction ended at offset 4
    assert [log.transactions.is_aborted(o) for o in range(8)] == [
        True, False, False, True, False, False, False, False]


def test_a_read_from_the_middle_of_an_aborted_transaction_still_drops_its_records():
    log = make_log()
    log.append([r(None, b"p1")], transactional=(P, 0))
    log.append([r(None, b"p2")], transactional=(P, 0))
    log.append_marker(P, 0, commit=False)
    log.append([r(None, b"after")])
    assert read_committed(log, offset=1) == [b"after"]


def test_batches_in_finds_the_batch_a_range_starts_inside():
    txns = PartitionTransactions()
    txns.appended(P, 0, 0, 9)
    txns.appended(P, 0, 12, 12)
    txns.ended(P, 0, 13, commit=True)
    assert txns.batches_in(5, 6) == (TransactionalBatch(0, 9, P, 0),)
    assert txns.batches_in(10, 12) == ()
    assert [b.base_offset for b in txns.batches_in(0, 100)] == [0, 12, 13]
    assert txns.batches_in(13, 14)[0].is_control


def test_retention_forgets_the_transactions_it_deletes_but_not_an_open_one():
    log = make_log(retention_records=2)
    log.append([r(None, b"p")], transactional=(P, 0))
    log.append_marker(P, 0, commit=False)
    log.append([r(None, b"q")], transactional=(Q, 0))
    log.append([r(None, b"x"), r(None, b"y"), r(None, b"z")])
    assert log.log_start_offset == 4
    txns = log.transactions
    assert txns.aborted_in(0, 10) == () and txns.batches_in(0, 10) == ()
    assert txns.open == {Q: 2}
    # Its first record is gone, the transaction still holds the stable offset: at the start.
    assert log.last_stable_offset == 4


def test_truncation_reopens_a_transaction_whose_marker_went():
    log = make_log()
    log.append([r(None, b"a")], transactional=(P, 0))
    log.append([r(None, b"b")], transactional=(Q, 0))
    log.append_marker(P, 0, commit=False)
    log.append_marker(Q, 0, commit=True)
    log.append([r(None, b"c")], transactional=(P, 0))
    log.truncate_to(3)
    txns = log.transactions
    assert txns.open == {Q: 1}  # P's marker stayed, Q's went; P's later batch went too
    assert txns.aborted_in(0, 3) == (AbortedTransaction(P, 0),)
    log.truncate_to(2)
    assert txns.open == {P: 0, Q: 1} and txns.aborted_in(0, 3) == ()
    assert log.last_stable_offset == 0


def compacted_log() -> PartitionLog:
    settings = CompactionSettings(segment_bytes=1, segment_ms=10**12, min_cleanable_ratio=0.0,
                                  min_lag_ms=0, max_lag_ms=2**63 - 1,
                                  delete_retention_ms=10**9)
    return make_log(settings=LogSettings(compaction=settings))


def test_compaction_removes_aborted_records_and_keeps_markers_and_the_committed_value():
    log = compacted_log()
    log.append([r(b"k", b"committed")])
    log.append([r(b"k", b"aborted")], transactional=(P, 0))
    log.append_marker(P, 0, commit=False)
    log.append([r(b"other", b"x")])
    log.append([r(b"other", b"y")])  # rolls the segment: everything before it may be cleaned
    log.enforce_retention()
    kept = log.read(0, 100)
    assert [(r.offset, r.value) for r in kept if type(r) is not ControlRecord] == [
        (0, b"committed"), (3, b"x"), (4, b"y")]  # "y" is in the active segment
    assert [r.offset for r in kept if type(r) is ControlRecord] == [2]


def test_compaction_removes_a_marker_once_its_transaction_is_gone_and_its_horizon_passed():
    now = [1_000]
    settings = CompactionSettings(segment_bytes=1, segment_ms=10**12, min_cleanable_ratio=0.0,
                                  min_lag_ms=0, max_lag_ms=2**63 - 1, delete_retention_ms=500)
    log = PartitionLog(timestamp_clock=lambda: now[0], settings=LogSettings(compaction=settings))

    def offsets() -> list[tuple[int, str]]:
        return [(r.offset, "marker" if type(r) is ControlRecord else r.value.decode())
                for r in log.read(0, 100)]

    # Each append rolls the segment and cleans everything below it.
    log.append([r(b"k", b"aborted")], transactional=(P, 0))
    log.append_marker(P, 0, commit=False)  # the aborted record goes at once
    assert offsets() == [(1, "marker")]
    log.append([r(b"c", b"committed")], transactional=(Q, 0))
    # This cleaning found P's transaction without records: its marker gets a horizon.
    log.append_marker(Q, 0, commit=True)
    log.append([r(b"c", b"newer")])
    log.append([r(b"z", b"1")])  # "committed" goes: a newer record of its key came
    assert offsets() == [(1, "marker"), (3, "marker"), (4, "newer"), (5, "1")]
    now[0] = 1_499  # P's marker's horizon: 1_500; Q's marker gets 1_999 now
    log.append([r(b"z", b"2")])
    assert [o for o, v in offsets() if v == "marker"] == [1, 3]
    assert log.transactions.aborted_in(0, 10) == (AbortedTransaction(P, 0),)
    now[0] = 1_500
    log.append([r(b"z", b"3")])
    assert [o for o, v in offsets() if v == "marker"] == [3]
    assert log.transactions.aborted_in(0, 10) == ()  # forgotten with its marker
    now[0] = 1_999
    log.append([r(b"z", b"4")])
    assert offsets() == [(4, "newer"), (7, "3"), (8, "4")]
    assert log.transactions.batches_in(0, 10) == ()
    assert read_committed(log) == [b"newer", b"3", b"4"]
    log.transactions.truncate(log.end_offset)  # replaying what is left reopens nothing
    assert log.transactions.open == {} and log.last_stable_offset == log.high_watermark


def test_compaction_stops_at_the_last_stable_offset():
    log = compacted_log()
    log.append([r(b"k", b"old")])
    log.append([r(b"k", b"pending")], transactional=(P, 0))
    log.append([r(b"k", b"newer")])
    log.append([r(b"z", b"roll")])
    log.enforce_retention()
    # The open transaction holds the stable offset at 1: nothing from it on is cleaned, and
    # "old" has no newer record of its key below it.
    assert values(log.read(0, 100)) == [b"old", b"pending", b"newer", b"roll"]
    log.append_marker(P, 0, commit=True)
    log.append([r(b"z", b"roll again")])
    log.enforce_retention()
    assert [r.value for r in log.read(0, 100) if type(r) is not ControlRecord] == [
        b"newer", b"roll", b"roll again"]


def test_a_committed_record_is_not_aborted_by_its_producers_later_aborted_transaction():
    txns = PartitionTransactions()
    txns.appended(P, 0, 0, 1)
    txns.ended(P, 0, 2, commit=True)
    txns.appended(P, 0, 3, 3)
    txns.ended(P, 0, 4, commit=False)
    assert [txns.is_aborted(o) for o in range(5)] == [False, False, False, True, False]


def test_truncation_keeps_an_open_transaction_whose_first_batches_retention_forgot():
    txns = PartitionTransactions()
    txns.appended(P, 0, 0, 0)
    txns.appended(P, 0, 5, 5)
    txns.forget_before(3)
    txns.truncate(10)
    assert txns.open == {P: 0}
