"""The partition log on its own: offsets, reads, retention by count and age, block-policy space."""

from __future__ import annotations

import random
import threading

import pytest

from pcmodel.topics.compression import CompressedBatch, get_codec
from pcmodel.topics.errors import (
    IllegalArgumentError,
    KafkaTimeoutError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.log import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    LogRecord,
    NewRecord,
    PartitionLog,
    validate_new_record,
)
from pcmodel.topics.log_records import record_batch_size, record_batch_size_bound
from pcmodel.topics.log_settings import LogSettings
from tests.topics.conftest import WallClock

pytestmark = pytest.mark.timeout(10)


def records(*values: bytes) -> list[NewRecord]:
    return [NewRecord(None, v) for v in values]


def test_offsets_are_contiguous_from_zero_and_reads_return_them_in_order():
    log = PartitionLog(timestamp_clock=lambda: 42)
    assert log.append(records(b"a", b"b")) == (0, 42, 42)
    assert log.append(records(b"c")) == (2, 42, 42)
    assert (log.log_start_offset, log.end_offset, len(log)) == (0, 3, 3)
    got = log.read(0, 10)
    assert [r.offset for r in got] == [0, 1, 2]
    assert [r.value for r in got] == [b"a", b"b", b"c"]
    assert [r.offset for r in log.read(1, 1)] == [1]
    assert log.read(3, 10) == []  # at the end: nothing yet, not an error


def test_timestamps_are_create_time_when_given_else_append_time():
    log = PartitionLog(timestamp_clock=lambda: 1_000)
    # the batch's largest timestamp is the append time the second record takes
    assert log.append([NewRecord(b"k", b"v", (), 5), NewRecord(None, b"w")]) == (0, 1_000, 1_000)
    first, second = log.read(0, 2)
    assert (first.timestamp, first.timestamp_type) == (5, TIMESTAMP_CREATE_TIME)
    assert (second.timestamp, second.timestamp_type) == (1_000, TIMESTAMP_LOG_APPEND_TIME)
    assert log.offset_for_time(6) == (1, 1_000)
    assert log.offset_for_time(2_000) is None
    assert log.append([NewRecord(None, b"x", (), 3_000), NewRecord(None, b"y", (), 2_000)]) \
        == (2, 1_000, 3_000)


@pytest.mark.parametrize("offset", [-1, 4])
def test_reading_outside_the_retained_range_raises(offset):
    log = PartitionLog()
    log.append(records(b"a", b"b", b"c"))
    with pytest.raises(OffsetOutOfRangeError, match=r"\[0, 3\]"):
        log.read(offset, 1)


def test_retention_by_count_advances_log_start_offset():
    log = PartitionLog(retention_records=2)
    log.append(records(b"a", b"b", b"c", b"d", b"e"))
    assert (log.log_start_offset, log.end_offset) == (3, 5)
    assert [r.value for r in log.read(3, 10)] == [b"d", b"e"]
    with pytest.raises(OffsetOutOfRangeError):
        log.read(2, 1)
    for i in range(100):  # compaction of the dead prefix keeps offsets right
        log.append(records(bytes([i])))
    assert (log.log_start_offset, log.end_offset) == (103, 105)
    assert [r.offset for r in log.read(103, 5)] == [103, 104]


def test_retention_by_age_ages_records_by_their_timestamp_on_the_wall_clock():
    wall = WallClock(10_000)
    log = PartitionLog(retention_ms=1_000, timestamp_clock=wall)
    log.append(records(b"old"))  # stamped with the append time, 10_000
    wall.now = 10_600
    log.append(records(b"new"))
    wall.now = 11_000  # "old" is exactly 1 s old: kept (due only when older than retention_ms)
    assert [r.value for r in log.read(0, 5)] == [b"old", b"new"]
    wall.now = 11_001
    assert log.log_start_offset == 0  # retention applies lazily...
    assert [r.value for r in log.read(1, 5)] == [b"new"]  # ...on the next read
    assert log.log_start_offset == 1
    wall.now = 12_000
    log.enforce_retention()
    assert (log.log_start_offset, log.end_offset, len(log)) == (2, 2, 0)


def test_create_times_age_records_and_one_from_the_future_holds_back_the_rest():
    wall = WallClock(100_000)
    log = PartitionLog(retention_ms=1_000, timestamp_clock=wall)
    log.append([NewRecord(None, b"past", (), 50_000), NewRecord(None, b"ahead", (), 200_000),
                NewRecord(None, b"past too", (), 10_000)])
    # Deleted at the append itself: the first is 50 s old. The second's producer clock ran
    # ahead, and deletion stops there, as at a segment that is not due in Kafka.
    assert (log.log_start_offset, log.end_offset) == (1, 3)
    wall.now = 201_000
    assert log.enforce_retention() == 0  # "ahead" is exactly 1 s old
    wall.now = 201_001
    assert log.enforce_retention() == 2
    assert (log.log_start_offset, len(log)) == (3, 0)


def test_a_topic_stamping_append_times_ages_records_from_their_append():
    wall = WallClock(100_000)
    log = PartitionLog(retention_ms=1_000, timestamp_clock=wall,
                       settings=LogSettings(log_append_time=True))
    log.append([NewRecord(None, b"v", (), 5)])  # its create time is long past: ignored
    assert [(r.timestamp, r.timestamp_type) for r in log.read(0, 1)] == [
        (100_000, TIMESTAMP_LOG_APPEND_TIME)]
    wall.now = 101_001
    assert log.enforce_retention() == 1


def test_a_compressed_batch_is_deleted_whole_by_its_largest_timestamp():
    wall = WallClock(5_500)
    log = PartitionLog(retention_ms=1_000, timestamp_clock=wall)
    batch = [(None, b"a", (), 1_000), (None, b"b", (), 5_000), (None, b"c", (), 2_000)]
    log.append(batch, compressed=CompressedBatch.build(get_codec("gzip"), batch))
    log.append([NewRecord(None, b"d", (), 1_000)])  # old, but behind the batch
    assert log.log_start_offset == 0  # "a" is 4.5 s old, but the batch's newest only 0.5 s
    wall.now = 6_001
    assert log.enforce_retention() == 4
    assert log.byte_stats().compressed_batches == 0


def test_retention_never_deletes_at_or_above_the_high_watermark():
    wall = WallClock(100_000)
    log = PartitionLog(retention_ms=1_000, retention_records=1, timestamp_clock=wall)
    log.set_high_watermark(0)  # a leader whose followers have copied nothing yet
    log.append([NewRecord(None, bytes([i]), (), 0) for i in range(3)])
    assert (log.log_start_offset, log.end_offset) == (0, 3)
    log.set_high_watermark(2)  # what it held back goes as it moves
    assert log.log_start_offset == 2 == log.high_watermark
    log.set_high_watermark(3)
    assert (log.log_start_offset, len(log)) == (3, 0)


def test_zero_retention_keeps_only_records_not_older_than_now():
    wall = WallClock(100_000)
    log = PartitionLog(retention_ms=0, timestamp_clock=wall)
    log.append([NewRecord(None, b"a", (), 99_999), NewRecord(None, b"b", (), 100_000)])
    assert (log.log_start_offset, log.end_offset) == (1, 2)
    wall.now = 100_001
    assert log.enforce_retention() == 1


def test_retention_by_size_deletes_while_what_stays_is_at_least_the_limit():
    log = PartitionLog(retention_bytes=300)
    log.append([NewRecord(b"k", bytes(99)) for _ in range(3)])  # 100 bytes each
    assert (log.log_start_offset, log.byte_stats().stored_bytes) == (0, 300)
    log.append([NewRecord(None, bytes(150))])
    assert (log.log_start_offset, log.byte_stats().stored_bytes) == (1, 350)
    log.append([NewRecord(None, bytes(60))])  # 410: one more of 100 goes, 310 stay
    assert (log.log_start_offset, log.byte_stats().stored_bytes) == (2, 310)
    log.retention_bytes = 0
    assert log.enforce_retention() == 3
    assert (len(log), log.byte_stats().stored_bytes) == (0, 0)


def test_a_compressed_batch_weighs_its_compressed_bytes_until_its_last_record_goes():
    log = PartitionLog(retention_bytes=100_000)
    batch = [(None, bytes(1000), (), None)] * 4
    compressed = CompressedBatch.build(get_codec("gzip"), batch)
    log.append(batch, compressed=compressed)
    log.append([NewRecord(None, bytes(10))])
    assert log.byte_stats().stored_bytes == compressed.stored_size + 10
    log.delete_before(2)  # DeleteRecords cuts the batch in two: it stays whole in the log
    assert log.byte_stats().stored_bytes == compressed.stored_size + 10
    log.retention_bytes = 10
    assert log.enforce_retention() == 2  # its last two records go with it
    assert (log.log_start_offset, log.byte_stats().stored_bytes) == (4, 10)


def test_the_size_follows_truncation_and_a_restart():
    log = PartitionLog(retention_bytes=10_000)  # a limit: the log keeps its size up to date
    log.append([NewRecord(None, bytes(n)) for n in (10, 20, 30)])
    assert log.truncate_to(1) == 2
    assert log.byte_stats().stored_bytes == 10
    log.restart_at(7)
    log.append_copy([LogRecord(7, 5, TIMESTAMP_CREATE_TIME, None, bytes(40), ())])
    assert (log.log_start_offset, log.byte_stats().stored_bytes) == (7, 40)


def test_retention_by_size_then_by_age_each_from_where_the_other_stopped():
    wall = WallClock(100_000)
    log = PartitionLog(retention_bytes=200, retention_ms=1_000, timestamp_clock=wall)
    log.set_high_watermark(0)
    log.append([NewRecord(None, bytes(100), (), ts) for ts in (99_500, 50_000, 99_500, 99_500)])
    assert log.log_start_offset == 0  # nothing above the high watermark goes
    # Size deletes the first two; age then deletes nothing more: the third is young.
    log.set_high_watermark(4)
    assert (log.log_start_offset, log.byte_stats().stored_bytes) == (2, 200)


def test_max_timestamp_is_the_first_record_with_the_largest_timestamp():
    log = PartitionLog()
    assert log.max_timestamp() is None
    batch = [(None, b"a", (), 700), (None, b"b", (), 900), (None, b"c", (), 900)]
    log.append([NewRecord(None, b"x", (), 100)])
    log.append(batch, compressed=CompressedBatch.build(get_codec("gzip"), batch))
    log.append([NewRecord(None, b"y", (), 900), NewRecord(None, b"z", (), 50)])
    assert log.max_timestamp() == (2, 900)
    log.delete_before(3)
    assert log.max_timestamp() == (3, 900)


def test_block_policy_needs_a_capacity():
    with pytest.raises(IllegalArgumentError, match="retention_records"):
        PartitionLog(policy="block")


@pytest.mark.parametrize("variant", ["condition", "semaphore", "queue"])
def test_block_policy_reserve_waits_until_the_floor_advances(variant):
    log = PartitionLog(retention_records=2, policy="block", variant=variant)
    try:
        log.reserve(2, timeout=1)
        log.append(records(b"a", b"b"))
        with pytest.raises(KafkaTimeoutError, match="capacity 2"):
            log.reserve(1, timeout=0.01)
        started, done = threading.Event(), threading.Event()

        def appender():
            started.set()
            log.reserve(1, timeout=10)
            done.set()

        thread = threading.Thread(target=appender)
        thread.start()
        assert started.wait(5)
        # Full: the appender cannot get space until the floor moves (no sleep needed to know).
        assert not done.is_set()
        assert log.delete_before(1) == 1
        assert done.wait(5)
        thread.join(5)
        assert log.log_start_offset == 1
    finally:
        log.close()


def test_block_policy_timeout_gives_back_partial_reservations():
    log = PartitionLog(retention_records=3, policy="block")
    try:
        log.reserve(2, timeout=1)
        with pytest.raises(KafkaTimeoutError):
            log.reserve(2, timeout=0.01)  # one token fits, the second times out
        log.cancel_reservation(2)
        log.reserve(3, timeout=0.01)  # all three free again: nothing leaked
        with pytest.raises(IllegalArgumentError, match="can never fit"):
            log.reserve(4, timeout=0)
    finally:
        log.close()


def test_closing_a_block_log_wakes_waiting_appenders():
    log = PartitionLog(retention_records=1, policy="block")
    log.reserve(1, timeout=1)
    errors = []
    started = threading.Event()

    def appender():
        started.set()
        try:
            log.reserve(1, timeout=10)
        except UnknownTopicOrPartitionError as exc:
            errors.append(exc)

    thread = threading.Thread(target=appender)
    thread.start()
    assert started.wait(5)
    log.close()
    thread.join(5)
    assert not thread.is_alive()
    # Either it was already waiting (woken with the error) or it arrived after the shutdown.
    assert len(errors) == 1


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("not a tuple", TypeError),
        ((None,), TypeError),
        ((None, "str value"), TypeError),
        (("str key", b"v"), TypeError),
        ((None, b"v", [("h", "not bytes")]), TypeError),
        ((None, b"v", (), -5), IllegalArgumentError),
        ((None, b"v", (), 1.5), TypeError),
    ],
)
def test_malformed_records_are_rejected(record, error):
    with pytest.raises(error):
        validate_new_record(record)


def test_well_formed_records_are_normalised():
    rec = validate_new_record((b"k", b"v", [("h", b"1")]))
    assert rec == NewRecord(b"k", b"v", (("h", b"1"),), None)


@pytest.mark.timeout(60)  # 30 batches built twice: 3 s on a busy machine
def test_a_batch_weighs_what_kafkas_record_format_encodes():
    builder_module = pytest.importorskip("kafka.record.default_records",
                                         reason="needs kafka-python's record writer")
    rng = random.Random(7)
    for _ in range(30):
        builder = builder_module.DefaultRecordBatchBuilder(
            magic=2, compression_type=0, is_transactional=False, producer_id=-1,
            producer_epoch=-1, base_sequence=-1, batch_size=2**30)
        first = rng.randrange(2**41)
        records = []
        for offset in range(rng.choice([1, 7, 64, 65, 100])):  # 64 up: a 2-byte delta
            key = rng.choice([None, b"", b"k" * 63, b"k" * 64, b"k" * 9000])
            value = rng.choice([None, b"", b"v" * 63, b"v" * 64, b"v" * 300])
            headers = tuple((rng.choice(["h", "", "é" * 40]), b"x" * rng.choice([0, 70]))
                            for _ in range(rng.choice([0, 0, 1, 3])))
            timestamp = first + rng.choice([0, rng.randint(-64, 63), rng.randint(-10**7, 10**7)])
            records.append((key, value, headers, timestamp))
            builder.append(offset, timestamp, key, value, list(headers))
        size = record_batch_size(records)
        assert size == len(builder.build())
        headless = [(key, value, (), timestamp) for key, value, _, timestamp in records]
        assert record_batch_size_bound(headless) >= record_batch_size(headless)
        assert record_batch_size_bound(records) >= size
