"""What retention deletes from the front of a partition log: Kafka's limits, record by record.

Kafka's log (``UnifiedLog.deleteOldSegments``) deletes whole *segments*, files of up to a
gigabyte or a week of records, from the oldest on, and stops at the first segment that may
stay. pcmodel's log has no segments: it applies the same tests to each record, and to a
compressed batch as a whole (Kafka keeps a batch in one segment). So its records leave as soon
as they are due, where Kafka's usually outlive their limit a while.

``retention.ms`` (:func:`first_kept_by_age`)
    A record is due once the broker's wall clock is *more* than ``retention.ms`` past the
    record's timestamp (a batch's: its largest): the producer's create time, or the append time
    on a topic that stamps append times, never the moment it arrived. Deletion stops at the
    first record not due, so one record whose producer's clock ran ahead holds back every
    record after it, as its segment would in Kafka. A record timed below 0 (a Kafka client's
    -1, no timestamp) goes with the next record that has a time, and stays if none follows.
    ``0`` deletes every record from the millisecond after its timestamp.

``retention.bytes`` (:func:`first_kept_by_size`)
    Once the log's stored bytes (:func:`stored_bytes`: each record's key, value and headers, a
    compressed batch's compressed bytes, as ``Broker.log_stats()`` reports them) reach
    ``retention.bytes``, records are deleted from the front for as long as what stays still
    weighs at least ``retention.bytes``: the log stays within one record of the limit (Kafka's:
    within one segment). Kafka weighs its segment files, which add a batch header of 61 bytes
    and a few bytes of framing per record to the same keys, values and headers.

``retention_records`` (pcmodel's own: Kafka has no such config)
    At most that many records stay.

The log applies the three in turn, count, size, then age (Kafka checks size before age), each
from where the one before stopped, whenever it is appended to or read or its high watermark
moves, as Kafka's cleaner does every ``log.retention.check.interval.ms``. None deletes a record
at or above the high watermark (one its followers have not all copied): the log start never
passes it.

Prior art: Kafka's ``UnifiedLog.deleteRetentionMsBreachedSegments`` and
``deleteRetentionSizeBreachedSegments``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pcmodel.topics.compression import CompressedBatch, record_size
from pcmodel.topics.log_records import LogRecord

__all__ = ["first_kept_by_age", "first_kept_by_size", "stored_bytes", "timestamp_of"]

#: What a partition log holds at each offset: a record, the compressed batch it is part of
#: (the same object at each of the batch's offsets), or ``None`` where compaction removed it.
Entry = LogRecord | CompressedBatch | None


def timestamp_of(entry: Entry) -> int:
    """A record's timestamp, or a compressed batch's largest one (the batch goes whole)."""
    return entry.max_timestamp if type(entry) is CompressedBatch else entry[1]


def stored_bytes(entries: Sequence[Entry]) -> int:
    """Bytes ``entries`` take in the log: each record's key, value and headers, and each
    compressed batch's compressed bytes once (its offsets are contiguous)."""
    total = 0
    batch = None
    for entry in entries:
        if entry is None:
            continue
        if type(entry) is CompressedBatch:
            if entry is not batch:
                batch = entry
                total += entry.stored_size
        else:
            total += record_size(entry.key, entry.value, entry.headers)
    return total


def first_kept_by_age(entries: Sequence[Entry], i: int, end: int, oldest_kept_ms: int) -> int:
    """The index of the first of ``entries[i:end]`` that ``retention.ms`` keeps: the first
    whose timestamp is not below ``oldest_kept_ms`` (now minus ``retention.ms``).

    A record timed below 0 (a Kafka client's -1, no timestamp, or an earlier one) is judged
    with the next record that has a time, and kept if none follows: Kafka judges a segment by
    its largest timestamp, and one with none by its file's last change.
    """
    while i < end:
        entry = entries[i]
        if entry is None:
            i += 1
            continue
        if timestamp_of(entry) >= 0:
            if timestamp_of(entry) >= oldest_kept_ms:
                return i
            i += 1
            continue
        timed = i + 1
        while timed < end and (entries[timed] is None or timestamp_of(entries[timed]) < 0):
            timed += 1
        if timed == end or timestamp_of(entries[timed]) >= oldest_kept_ms:
            return i
        i = timed
    return i


def first_kept_by_size(entries: Sequence[Entry], i: int, end: int, excess: int) -> int:
    """The index of the first of ``entries[i:end]`` that ``retention.bytes`` keeps, given that
    the log weighs ``excess`` bytes more than ``retention.bytes`` (at least 0): records go
    from the front while what stays still weighs at least the limit."""
    while i < end:
        entry = entries[i]
        after = i + 1
        if entry is None:  # compacted away: weighs nothing
            i = after
            continue
        if type(entry) is CompressedBatch:
            while after < end and entries[after] is entry:
                after += 1
            weight = entry.stored_size
        else:
            weight = record_size(entry.key, entry.value, entry.headers)
        if weight > excess:
            break
        excess -= weight
        i = after
    return i
