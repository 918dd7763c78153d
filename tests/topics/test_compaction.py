"""Log compaction (``cleanup.policy=compact``): the latest record of each key stays, at its offset.

Every test drives the broker's wall clock by hand (``WallClock``), so segment rolls, lags and
tombstone horizons happen at exact milliseconds. Records here weigh their key and value bytes
(what ``log_stats()`` counts, and what ``segment.bytes`` and the dirty ratio weigh).
"""

from __future__ import annotations

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.compression import record_size
from pcmodel.topics.config_resources import AlterConfigOp
from pcmodel.topics.consumer import KafkaConsumer
from pcmodel.topics.errors import InvalidRecordError
from pcmodel.topics.log import LogRecord, PartitionLog
from pcmodel.topics.log_settings import log_settings
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.structs import TopicPartition
from tests.topics.conftest import WallClock, drain, wait_until

pytestmark = pytest.mark.timeout(30)

SET = AlterConfigOp.SET
T0 = 1_700_000_000_000
#: Every append made 2 ms after the last starts a new segment (see ``roll``), and every dirty byte
#: makes a cleaning due.
EVERY_APPEND_ROLLS = {"segment.ms": "1", "min.cleanable.dirty.ratio": "0"}


def compacted(wall: WallClock, **configs: str) -> PartitionLog:
    return PartitionLog(timestamp_clock=wall,
                        settings=log_settings({"cleanup.policy": "compact", **configs}))


def put(log: PartitionLog, wall: WallClock, key: bytes | None, value: bytes | None) -> int:
    """Append one record stamped now; return its offset."""
    return log.append([(key, value, (), wall.now)])[0]


def roll(log: PartitionLog, wall: WallClock, key: bytes | None, value: bytes | None) -> int:
    """Append one record stamped 2 ms after the last (a new segment, with EVERY_APPEND_ROLLS)."""
    wall.now += 2
    return put(log, wall, key, value)


def kept(log: PartitionLog) -> list[tuple[int, bytes | None, bytes | None]]:
    return [(r.offset, r.key, r.value) for r in log.read(log.log_start_offset, 10**6)]


def weighs_what_it_holds(log: PartitionLog) -> bool:
    stats = log.byte_stats()
    records = log.read(log.log_start_offset, 10**6)
    return stats.records == len(records) and stats.stored_bytes == sum(
        record_size(r.key, r.value, r.headers) for r in records)


def test_the_active_segment_is_never_cleaned():
    wall = WallClock(T0)
    log = compacted(wall)  # Kafka's segment: a gigabyte or a week
    for i in range(200):
        wall.now += 1_000
        put(log, wall, b"k", b"v%03d" % i)
    assert len(kept(log)) == 200


def test_a_rolled_segment_keeps_each_keys_latest_record_at_its_offset():
    wall = WallClock(T0)
    log = compacted(wall, **{"segment.ms": "1000"})
    for i in range(6):
        put(log, wall, b"ab"[i % 2:i % 2 + 1], b"v%d" % i)
    assert len(kept(log)) == 6  # all in the active segment
    wall.now += 1_001  # more than segment.ms after the segment's first record
    put(log, wall, b"a", b"v6")
    assert kept(log) == [(4, b"a", b"v4"), (5, b"b", b"v5"), (6, b"a", b"v6")]
    assert (log.log_start_offset, log.end_offset) == (0, 7)  # offsets never change
    assert [r.offset for r in log.read(1, 1)] == [4]  # a cleaned offset reads on from there
    assert [r.offset for r in log.read(0, 2)] == [4, 5]  # max_records counts records
    assert [r.offset for r in log.read(0, 10, upper=5)] == [4]
    assert log.byte_stats().records == 3 and weighs_what_it_holds(log)


def test_a_segment_rolls_exactly_after_segment_ms():
    wall = WallClock(T0)
    log = compacted(wall, **{"segment.ms": "1000"})
    put(log, wall, b"a", b"1")
    put(log, wall, b"a", b"2")
    wall.now += 1_000  # not more than segment.ms: the same segment
    put(log, wall, b"a", b"3")
    assert len(kept(log)) == 3
    wall.now += 1
    put(log, wall, b"a", b"4")
    assert kept(log) == [(2, b"a", b"3"), (3, b"a", b"4")]


def test_segment_bytes_rolls_the_segment_an_append_would_overfill():
    wall = WallClock(T0)
    log = compacted(wall, **{"segment.bytes": str(1 << 20)})  # Kafka 4's least: 1 MiB
    third = (1 << 20) // 3 - 1  # with its key, 349,525 bytes: three make the segment less one
    for value in (bytes(third), bytes(third), bytes(third + 1)):
        put(log, wall, b"k", value)
    assert len(kept(log)) == 3  # they fill the segment exactly
    put(log, wall, b"k", b"small")  # it would overfill it: a new segment
    assert [o for o, _, _ in kept(log)] == [2, 3]


def test_cleaning_waits_until_the_dirty_bytes_are_more_than_the_ratio():
    wall = WallClock(T0)
    log = compacted(wall, **{"segment.ms": "1000"})  # min.cleanable.dirty.ratio 0.5

    def later(key: bytes, value: bytes) -> None:
        wall.now += 2_000  # every append rolls the segment
        put(log, wall, key, value)

    put(log, wall, b"a", b"a1-------")  # 10 bytes a record
    put(log, wall, b"b", b"b1-------")
    later(b"a", b"a2-------")  # cleans 0-1: nothing to remove; 20 clean bytes
    later(b"b", b"b2-------")  # 10 dirty bytes of 30
    later(b"a", b"a3-------")  # 20 dirty of 40: exactly half, not more
    assert [o for o, _, _ in kept(log)] == [0, 1, 2, 3, 4]
    later(b"b", b"b3-------")  # 30 of 50: cleaned
    assert kept(log) == [(3, b"b", b"b2-------"), (4, b"a", b"a3-------"),
                         (5, b"b", b"b3-------")]
    assert weighs_what_it_holds(log)


def test_a_tombstone_stays_delete_retention_ms_after_the_cleaning_that_kept_it():
    wall = WallClock(T0)
    log = compacted(wall, **EVERY_APPEND_ROLLS, **{"delete.retention.ms": "5000"})
    roll(log, wall, b"gone", b"value-----")
    roll(log, wall, b"gone", None)  # a tombstone
    roll(log, wall, b"other", b"value-----")  # cleans the tombstone: its horizon starts now
    first_cleaning = wall.now
    assert kept(log) == [(1, b"gone", None), (2, b"other", b"value-----")]
    wall.now = first_cleaning + 4_998
    put(log, wall, b"other", b"value-two-")
    assert kept(log)[0] == (1, b"gone", None)
    wall.now = first_cleaning + 5_000
    put(log, wall, b"other", b"value-three")
    # The tombstone went; value-two stays, value-three being in the active segment.
    assert kept(log) == [(3, b"other", b"value-two-"), (4, b"other", b"value-three")]
    assert weighs_what_it_holds(log)


def test_min_compaction_lag_keeps_records_younger_than_it():
    wall = WallClock(T0)
    log = compacted(wall, **EVERY_APPEND_ROLLS, **{"min.compaction.lag.ms": "5000"})
    for i in range(3):
        put(log, wall, b"k", b"value-%d---" % i)
        wall.now += 1_000
    assert len(kept(log)) == 3  # rolled, but younger than the lag
    wall.now = T0 + 7_000  # the records of T0 and T0+1s are old enough; T0+2s just so
    put(log, wall, b"k", b"value-3---")
    assert [o for o, _, _ in kept(log)] == [2, 3]


def test_max_compaction_lag_rolls_the_segment_and_cleans_whatever_the_ratio():
    wall = WallClock(T0)
    log = compacted(wall, **{"min.cleanable.dirty.ratio": "1"})  # the ratio never suffices
    put(log, wall, b"k", b"1")
    put(log, wall, b"k", b"2")
    wall.now += 1_500
    put(log, wall, b"k", b"3")
    assert len(kept(log)) == 3
    log.settings = log_settings({"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "1",
                                 "max.compaction.lag.ms": "1000"})
    wall.now += 1_500
    put(log, wall, b"k", b"4")  # its segment is more than 1000 ms old: it rolls
    assert kept(log) == [(2, b"k", b"3"), (3, b"k", b"4")]


def test_the_high_watermark_bounds_what_is_cleaned():
    wall = WallClock(T0)
    log = compacted(wall, **EVERY_APPEND_ROLLS)
    log.set_high_watermark(0)
    for i in range(4):
        roll(log, wall, b"k", b"value-%d---" % i)
    assert len(kept(log)) == 4
    log.set_high_watermark(2)  # what followers have: the cleaner stops there
    assert [o for o, _, _ in kept(log)] == [1, 2, 3]
    log.set_high_watermark(4)  # then at the active segment, offset 3
    assert [o for o, _, _ in kept(log)] == [2, 3]


def test_a_follower_copies_a_compacted_leader_offset_for_offset():
    wall = WallClock(T0)
    leader = compacted(wall, **EVERY_APPEND_ROLLS)
    for i in range(6):
        roll(leader, wall, b"k%d" % (i % 2), b"value-%d---" % i)
    follower = compacted(wall, **EVERY_APPEND_ROLLS)
    follower.append_copy(leader.read(0, 100))
    assert kept(follower) == kept(leader) == [
        (3, b"k1", b"value-3---"), (4, b"k0", b"value-4---"), (5, b"k1", b"value-5---")]
    assert follower.end_offset == leader.end_offset == 6
    roll(leader, wall, b"k0", b"value-6---")
    follower.append_copy(leader.read(follower.end_offset, 100))
    # Each copy cleans its own log, by the same rules.
    assert kept(follower) == kept(leader) == [
        (4, b"k0", b"value-4---"), (5, b"k1", b"value-5---"), (6, b"k0", b"value-6---")]
    assert follower.end_offset == 7 and weighs_what_it_holds(follower)
    with pytest.raises(ValueError, match="continues at offset 7"):
        follower.append_copy(leader.read(4, 100))
    assert follower.truncate_to(5) == 2
    assert kept(follower) == [(4, b"k0", b"value-4---")] and weighs_what_it_holds(follower)
    roll(follower, wall, b"k0", b"value-5'--")  # the cleaner starts again on what is left
    roll(follower, wall, b"k0", b"value-6'--")
    assert kept(follower) == [(5, b"k0", b"value-5'--"), (6, b"k0", b"value-6'--")]
    assert weighs_what_it_holds(follower)


def test_compacted_topic_refuses_a_record_without_a_key_and_appends_nothing():
    with Broker() as broker:
        broker.create_topic("table", configs={"cleanup.policy": "compact"})
        with pytest.raises(InvalidRecordError, match="Compacted topic cannot accept message "
                                                     "without key .*index 1"):
            broker.append("table", 0, [(b"k", b"v"), (None, b"v")])
        broker.append("table", 0, [(b"k", None), (b"", b"an empty key is a key")])
        with KafkaProducer(broker=broker) as producer:
            with pytest.raises(InvalidRecordError):
                producer.send("table", value=b"no key").get(timeout=10)
            assert producer.send("table", key=b"k", value=b"v").get(timeout=10).offset == 2


def test_a_topic_made_compacted_cleans_what_it_held_and_drops_records_without_keys():
    wall = WallClock(T0)
    tp = TopicPartition("t", 0)
    with Broker(timestamp_clock=wall) as broker:
        broker.create_topic("t", configs={"retention.ms": "1000"})
        broker.append("t", 0, [(None, b"no key"), (b"k", b"old"), (b"k", b"new")])
        broker.alter_topic_configs("t", [("cleanup.policy", SET, "compact"),
                                         ("segment.ms", SET, "100")])
        wall.now += 10_000  # older than retention.ms, which compact alone does not apply
        assert broker.beginning_offsets([tp]) == {tp: 0}
        broker.append("t", 0, [(b"k", b"newest")])  # rolls: what was there is cleaned
        fetched = broker.fetch({tp: 0}, max_records=10)[tp].records
        assert [(r.offset, r.value) for r in fetched] == [(2, b"new"), (3, b"newest")]
        broker.alter_topic_configs("t", [("cleanup.policy", SET, "compact,delete")])
        assert broker.beginning_offsets([tp]) == {tp: 3}  # retention applies again
        broker.alter_topic_configs("t", [("cleanup.policy", SET, "delete"),
                                         ("retention.ms", SET, "-1")])
        broker.append("t", 0, [(None, b"keys are optional again")] * 3)
        wall.now += 10_000
        broker.append("t", 0, [(None, b"and nothing is cleaned")])
        assert broker.log_stats("t")[0].records == 5


def test_an_empty_cleanup_policy_keeps_every_record():
    # Kafka 4.2 (KIP-1161): no policy, no cleanup: neither retention nor compaction.
    wall = WallClock(T0)
    tp = TopicPartition("t", 0)
    with Broker(timestamp_clock=wall) as broker:
        broker.create_topic("t", configs={"cleanup.policy": "", "retention.ms": "1000",
                                          "segment.ms": "100"})
        policy = {e.name: e.value for e in broker.describe_topic_configs("t")}["cleanup.policy"]
        assert policy == ""
        broker.append("t", 0, [(b"k", b"old"), (None, b"no key")])
        wall.now += 10_000  # past retention.ms, and past segment.ms
        broker.append("t", 0, [(b"k", b"new")])
        assert broker.beginning_offsets([tp]) == {tp: 0}
        assert broker.log_stats("t")[0].records == 3
        broker.alter_topic_configs("t", [("cleanup.policy", SET, "delete")])
        assert broker.beginning_offsets([tp]) == {tp: 2}  # retention applies at once


def test_a_compressed_batch_losing_records_keeps_the_rest_uncompressed():
    wall = WallClock(T0)
    tp = TopicPartition("t", 0)
    with Broker(timestamp_clock=wall) as broker:
        broker.create_topic("t", configs={"cleanup.policy": "compact", "segment.ms": "100"})
        broker.append("t", 0, [(b"a", b"1"), (b"b", b"1"), (b"a", b"2")], compression="gzip")
        broker.append("t", 0, [(b"c", b"1"), (b"d", b"1")], compression="gzip")
        wall.now += 1_000
        broker.append("t", 0, [(b"e", b"1")])
        fetched = broker.fetch({tp: 0}, max_records=10)[tp].records
        assert [(r.offset, r.key, r.value) for r in fetched] == [
            (1, b"b", b"1"), (2, b"a", b"2"), (3, b"c", b"1"), (4, b"d", b"1"), (5, b"e", b"1")]
        stats = broker.log_stats("t")[0]
        assert (stats.records, stats.compressed_batches) == (5, 1)  # c and d's batch, whole


def test_a_consumer_reads_every_keys_latest_value_across_the_gaps(make_consumer):
    wall = WallClock(T0)
    with Broker(timestamp_clock=wall) as broker:
        broker.create_topic("prices", configs={"cleanup.policy": "compact",
                                               "segment.ms": "100"})
        for i in range(30):
            broker.append("prices", 0, [(b"item-%d" % (i % 3), b"%d" % i)])
        wall.now += 1_000
        broker.append("prices", 0, [(b"item-0", b"final")])
        consumer = make_consumer("prices", broker=broker, group_id="table",
                                 auto_offset_reset="earliest")
        records = drain(consumer, 4)
        # 27 stays: "final" is in the active segment, which the cleaner does not read.
        assert [(r.offset, r.key, r.value) for r in records] == [
            (27, b"item-0", b"27"), (28, b"item-1", b"28"), (29, b"item-2", b"29"),
            (30, b"item-0", b"final")]
        tp = TopicPartition("prices", 0)
        assert consumer.position(tp) == 31
        consumer.seek(tp, 5)  # a cleaned offset: the next record comes
        assert [r.offset for r in drain(consumer, 4)] == [27, 28, 29, 30]
        consumer.close()


def test_the_cleaner_counts_what_retention_deletes_out_of_its_clean_and_dirty_bytes():
    from pcmodel.topics.compaction import Cleaner

    cleaner = Cleaner(log_settings({"cleanup.policy": "compact"}).compaction, [], 0, 0, 0)
    cleaner.cleaned(10, [1, 3, 5, 9], kept_bytes=100)  # [0, 10) clean, 100 bytes
    cleaner.dirty_bytes, cleaner.counted_to = 60, 16  # [10, 16) dirty, 60 bytes
    cleaner.horizons = {3: 1, 12: 1}
    cleaner.dropped(4, gone_bytes=40)  # within the clean part
    assert (cleaner.first_dirty, cleaner.clean_bytes, cleaner.dirty_bytes) == (10, 60, 60)
    assert (cleaner.clean_offsets, cleaner.horizons) == ([5, 9], {12: 1})
    cleaner.dropped(13, gone_bytes=90)  # the clean part, and 30 dirty bytes
    assert (cleaner.first_dirty, cleaner.clean_bytes, cleaner.dirty_bytes) == (13, 0, 30)
    assert (cleaner.clean_offsets, cleaner.horizons) == ([], {})
    cleaner.dropped(20, gone_bytes=30)  # everything counted, and more
    assert (cleaner.first_dirty, cleaner.counted_to, cleaner.clean_bytes,
            cleaner.dirty_bytes, cleaner.active_base) == (20, 20, 0, 0, 20)


def test_fetches_beyond_offsets_cleaned_away_join_the_records_not_yet_polled():
    wall = WallClock(T0)
    tp = TopicPartition("t", 0)
    with Broker(timestamp_clock=wall) as broker:
        broker.create_topic("t", configs={"cleanup.policy": "compact", "segment.ms": "100"})
        for key in (b"a", b"b", b"a", b"c", b"a"):
            broker.append("t", 0, [(key, b"v")])
        wall.now += 1_000
        broker.append("t", 0, [(b"d", b"v")])  # rolls: offsets 0 and 2 are cleaned away
        consumer = KafkaConsumer(broker=broker, fetch_max_wait_ms=20)
        try:
            consumer.assign([tp])
            consumer.seek(tp, 0)
            # Two fetches wait in the fetch buffer: 1, 3, 4, 5, then 6 appended after it.
            wait_until(lambda: consumer._buffer.qsize() == 1)  # noqa: SLF001
            broker.append("t", 0, [(b"e", b"v")])
            wait_until(lambda: consumer._buffer.qsize() == 2)  # noqa: SLF001
            assert [r.offset for r in drain(consumer, 5)] == [1, 3, 4, 5, 6]
        finally:
            consumer.close()


def test_records_deleted_from_the_front_move_the_cleaner_on_with_the_log_start():
    wall = WallClock(T0)
    log = compacted(wall, **EVERY_APPEND_ROLLS, **{"cleanup.policy": "compact,delete"})
    for i in range(6):
        roll(log, wall, b"k%d" % i, b"value-----")
    assert log.delete_before(6) == 6  # DeleteRecords: every record
    for value in (b"value-1---", b"value-2---", b"value-3---"):
        roll(log, wall, b"a", value)
    assert kept(log) == [(7, b"a", b"value-2---"), (8, b"a", b"value-3---")]
    assert weighs_what_it_holds(log)


def test_a_follower_restarted_at_its_leaders_start_cleans_from_there():
    wall = WallClock(T0)
    follower = compacted(wall, **EVERY_APPEND_ROLLS)
    for i in range(4):
        roll(follower, wall, b"k", b"value-%d---" % i)
    follower.restart_at(100)  # the leader's log starts at 100 now
    follower.append_copy([LogRecord(100 + i, wall.now + 2 * i, 0, b"k", b"value-%d---" % i, ())
                          for i in range(3)])
    assert kept(follower) == [(101, b"k", b"value-1---"), (102, b"k", b"value-2---")]
    assert weighs_what_it_holds(follower)


def test_the_dirty_ratio_leaves_out_what_delete_records_removed():
    wall = WallClock(T0)
    log = compacted(wall, **{"segment.ms": "1000"})  # min.cleanable.dirty.ratio 0.5

    def later(key: bytes) -> None:
        wall.now += 2_000  # every append rolls the segment
        put(log, wall, key, b"%s-value--" % key)

    for key in (b"a", b"b", b"c", b"d"):  # 10 bytes each
        put(log, wall, key, b"%s-value--" % key)
    later(b"e")  # cleans 0-3, removing nothing: 40 clean bytes
    log.delete_before(4)  # no clean bytes left
    later(b"e")  # cleans e at 4 (10 dirty bytes of 10), keeping it
    later(b"f")  # 10 dirty bytes of 20: not cleaned
    later(b"g")  # 20 of 30: the first e goes
    assert [o for o, _, _ in kept(log)] == [5, 6, 7]
