"""Log compaction: a topic that keeps the latest record of every key (``cleanup.policy=compact``).

A compacted topic is a table written as a log: each record says "key K now has value V", and a
record whose value is ``None`` (a *tombstone*) says "K is gone". Kafka's log cleaner rewrites
the old part of such a log so that only the latest record of each key stays; offsets never
change, so a compacted partition has gaps between its offsets, and a consumer reading it from
the start still ends with every key's latest value. Kafka's own ``__consumer_offsets`` is such
a topic.

pcmodel's log has no segment files, but compaction only makes sense with Kafka's segments, so a
compacted log keeps the one fact about them the cleaner needs: where its *active segment* (the
one appends go to) begins. The rules, record by record where Kafka's go segment by segment:

Rolling (Kafka's ``LogSegment.shouldRoll``)
    An append starts a new active segment when the batch would take the current one past
    ``segment.bytes`` (weighed as ``log_stats()`` weighs records), or when the batch's largest
    timestamp is more than ``segment.ms`` (or ``max.compaction.lag.ms``, if smaller) past the
    first batch's of the current segment. Only an append rolls a segment: records in the active
    segment stay as they are however old they are, until the next append. With Kafka's defaults
    (a gigabyte, a week) a small topic is never compacted: set ``segment.ms`` low (or
    ``segment.bytes``, at least a megabyte since Kafka 4) to watch it happen. Kafka may roll a
    segment up to ``segment.jitter.ms`` early, at random; pcmodel never does.

What may be cleaned (``LogCleanerManager.cleanableOffsets``)
    The records below the first *uncleanable* offset: the start of the active segment, the last
    stable offset (the high watermark, or the first record of a transaction still open), and
    (with ``min.compaction.lag.ms``) the first record whose timestamp is less than that long
    ago, whichever comes first. The records from the cleaner's checkpoint (where the last
    cleaning ended) to that offset are *dirty*.

When (``LogCleanerManager.grabFilthiestCompactedLog``)
    When the dirty bytes are more than ``min.cleanable.dirty.ratio`` of the bytes below the
    uncleanable offset, or when the first dirty record is more than ``max.compaction.lag.ms``
    old. Kafka's cleaner threads look every 15 seconds; pcmodel's log looks whenever it is
    appended to or read or its high watermark moves, as it applies retention, and cleans with
    the broker's lock held (appends and reads wait), where Kafka's cleaner copies segments
    beside them.

What goes (``Cleaner.shouldRetainRecord``)
    Among the records below the uncleanable offset, every record with a newer record of the same
    key in the dirty part, every record without a key, and every tombstone whose *delete
    horizon* has passed. A tombstone gets its horizon, ``delete.retention.ms`` after the
    cleaning, from the first cleaning that keeps it (Kafka's KIP-534, which dates each batch):
    consumers get that long to see that the key was deleted. A compressed batch that loses
    records keeps the rest as separate records (Kafka compresses them again, as a new batch).
    The records of aborted transactions go too, and never count as their key's latest. A
    transaction marker goes last: a cleaning that finds none of its transaction's records left
    (all cleaned away before: an aborted transaction's at the first cleaning, a committed one's
    once newer records of their keys came) gives it a delete horizon, ``delete.retention.ms``
    later, as a tombstone's, and a cleaning once that has passed removes it (Kafka's
    ``CleanedTransactionMetadata``), so that a reader has that long to see the transaction
    end.

A compacted topic refuses a record without a key (Kafka's "Compacted topic cannot accept
message without key"). ``cleanup.policy=compact,delete`` applies retention as well; its
deletions also take the offsets cleaned away in front of the first record they keep, so the log
start is that record's offset, where Kafka's stays at its first segment's.

Each offset cleaned away keeps an empty slot in the log's list (8 bytes), so that offsets stay
arithmetic; a cleaning visits the records the last one kept and the dirty ones, never the empty
slots, and a read walks over those it meets.

Prior art: Kafka's ``kafka.log.LogCleaner`` and ``LogCleanerManager``, and ``LogConfig``
(``maxSegmentMs``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import NamedTuple

from pcmodel.topics.broker_checks import INT64_MAX
from pcmodel.topics.compression import CompressedBatch
from pcmodel.topics.log_records import LogRecord
from pcmodel.topics.log_transactions import (
    ControlRecord,
    PartitionTransactions,
    TransactionalBatch,
)
from pcmodel.topics.retention import stored_bytes, timestamp_of

__all__ = ["Cleaner", "CompactionSettings", "compact"]

#: max.compaction.lag.ms's default, Long.MAX_VALUE in Kafka's LogConfig: no lag forces a
#: cleaning (Kafka computes ``now - lag`` and finds nothing older; this skips the search).
_NO_LIMIT = INT64_MAX


class CompactionSettings(NamedTuple):
    """A compacted topic's configs, as its logs use them.

    ``segment_bytes`` and ``segment_ms``: when an append starts a new active segment
    (``segment_ms`` is Kafka's ``maxSegmentMs``: ``segment.ms``, or ``max.compaction.lag.ms``
    if that is smaller). ``min_cleanable_ratio``, ``min_lag_ms``, ``max_lag_ms``: when records
    may and must be cleaned. ``delete_retention_ms``: how long a cleaned tombstone stays.
    :func:`~pcmodel.topics.log_settings.log_settings` makes it from a topic's configs.
    """

    segment_bytes: int
    segment_ms: int
    min_cleanable_ratio: float
    min_lag_ms: int
    max_lag_ms: int
    delete_retention_ms: int


def _records_at(entries: list, indices: list[int], base: int) -> dict[int, LogRecord]:
    """The records at ``indices`` of ``entries`` (offset ``base + i``), compressed batches
    decoded, by index."""
    records = {}
    batch, decoded = None, []
    for i in indices:
        entry = entries[i]
        if type(entry) is CompressedBatch:
            if entry is not batch:
                batch = entry
                decoded = [LogRecord(*rec) for rec in entry.decode()]
            entry = decoded[base + i - entry.base_offset]
        records[i] = entry
    return records


def compact(entries: list, indices: list[int], base: int, *, dirty: int, now_ms: int,
            delete_retention_ms: int, horizons: dict[int, int],
            transactions: PartitionTransactions | None = None,
            ) -> tuple[dict[int, LogRecord | None], list[int]]:
    """Clean the records at ``indices`` of ``entries`` (in order, every record from the log
    start to the first uncleanable offset; those from index ``dirty`` on are the dirty part) as
    Kafka's cleaner does. ``entries[i]`` is at offset ``base + i``.

    Returns ``(changes, kept)``: what to put at the indices that change (``None`` for a record
    cleaned away, a record alone for one kept from a compressed batch that lost others) and the
    indices kept, in order. ``horizons`` maps a tombstone's offset to its delete horizon: a
    tombstone kept without one gets ``now_ms + delete_retention_ms``; one cleaned away is
    forgotten.

    With ``transactions`` (the log's, if it has any), the records of aborted transactions go
    and take no part in choosing each key's latest record; a marker whose transaction had no
    record among ``indices`` gets a delete horizon in ``horizons`` (``now_ms +
    delete_retention_ms``) and goes once it has passed, and ``transactions`` forgets it with
    its transaction.
    """
    records = _records_at(entries, indices, base)
    aborted = set()
    if transactions is not None:
        aborted = {i for i in indices if type(records[i]) is not ControlRecord
                   and transactions.is_aborted(base + i)}
    latest: dict[bytes, int] = {}  # the dirty part's offset map (Kafka's OffsetMap)
    for i in indices:
        if i >= dirty and records[i].key is not None and i not in aborted \
                and type(records[i]) is not ControlRecord:
            latest[records[i].key] = i

    ended = transactions.transaction_batches() if transactions is not None else {}
    # The markers whose transactions had no record left when this cleaning began.
    emptied = {i for i in indices if type(records[i]) is ControlRecord
               and not _has_records(ended.get(base + i, ()), indices, base)}

    def keeps(i: int, record: LogRecord) -> bool:
        if type(record) is ControlRecord:
            horizon = horizons.get(base + i)
            return i not in emptied or horizon is None or now_ms < horizon
        if i in aborted or record.key is None or latest.get(record.key, i) > i:
            return False  # no key, or a newer record of its key came later
        horizon = horizons.get(base + i)
        return record.value is not None or horizon is None or now_ms < horizon

    kept = [i for i in indices if keeps(i, records[i])]
    gone = sorted(set(indices).difference(kept))
    changes: dict[int, LogRecord | None] = dict.fromkeys(gone)
    broken = {id(entries[i]) for i in gone if type(entries[i]) is CompressedBatch}
    changes.update((i, records[i]) for i in kept
                   if type(entries[i]) is CompressedBatch and id(entries[i]) in broken)
    for i in gone:
        horizons.pop(base + i, None)
    for i in kept:
        # A tombstone kept, or a marker whose transaction is gone: it goes once its horizon
        # passed.
        if records[i].value is None or i in emptied:
            horizons.setdefault(base + i, now_ms + delete_retention_ms)
    markers_gone = {base + i: ended.get(base + i, []) for i in gone
                    if type(records[i]) is ControlRecord}
    if markers_gone and transactions is not None:
        transactions.forget_ended(markers_gone)
    return changes, kept


def _has_records(batches: Sequence[TransactionalBatch], indices: list[int], base: int) -> bool:
    """Whether one of ``indices`` (sorted) holds a record of one of ``batches``."""
    for batch in batches:
        i = bisect_left(indices, batch.base_offset - base)
        if i < len(indices) and indices[i] <= batch.last_offset - base:
            return True
    return False


class Cleaner:
    """One compacted log's cleaning state: its active segment, the checkpoint, the dirty bytes.

    The log calls it with its lock held: :meth:`appended` at every append (which may roll the
    segment), :meth:`due` to ask whether to clean (and where up to), :meth:`cleaned` after
    cleaning, :meth:`dropped` when retention or DeleteRecords moves the log start, and
    :meth:`restart` when the log is truncated or emptied. ``entries`` and ``base`` are the
    log's: ``entries[i]`` is at offset ``base + i`` (a record, a compressed batch, or ``None``
    where a record was cleaned away).
    """

    def __init__(self, settings: CompactionSettings, entries: list, base: int, start: int,
                 end: int) -> None:
        self.settings = settings
        #: Tombstones' and markers' delete horizons (wall-clock ms), by offset.
        self.horizons: dict[int, int] = {}
        self.restart(entries, base, start, end)

    def restart(self, entries: list, base: int, start: int, end: int) -> None:
        """Start again on ``entries``: records in ``[start, end)`` form one active segment and
        none is clean (the topic just became compacted, or its log was truncated)."""
        retained = entries[start - base:end - base]
        self.active_base = start
        self.active_bytes = stored_bytes(retained)
        self.active_first_timestamp = next(
            (timestamp_of(e) for e in retained if e is not None), None)
        self.first_dirty = self.counted_to = self.old_until = start
        self.clean_bytes = self.dirty_bytes = 0
        #: The offsets of the records below ``first_dirty``: a cleaning visits them and the
        #: dirty part, never the offsets cleaned away.
        self.clean_offsets: list[int] = []
        self.horizons = {o: h for o, h in self.horizons.items() if start <= o < end}

    def appended(self, base: int, batch_bytes: int, max_timestamp: int) -> None:
        """A batch of ``batch_bytes`` whose largest timestamp is ``max_timestamp`` is appended
        at offset ``base``: roll the active segment first if it must (see the module)."""
        if self.active_bytes > 0 and (
                self.active_bytes > self.settings.segment_bytes - batch_bytes
                or (self.active_first_timestamp is not None
                    and max_timestamp - self.active_first_timestamp > self.settings.segment_ms)):
            self.active_base, self.active_bytes = base, 0
            self.active_first_timestamp = None
        self.active_bytes += batch_bytes
        if self.active_first_timestamp is None:
            self.active_first_timestamp = max_timestamp

    def due(self, entries: list, base: int, high_watermark: int, now_ms: int) -> int | None:
        """The first uncleanable offset if the log should be cleaned now, else ``None``."""
        s = self.settings
        end = min(self.active_base, high_watermark)
        if s.min_lag_ms > 0:
            end = min(end, self._first_too_young(entries, base, end, now_ms - s.min_lag_ms))
        # A compressed batch is cleaned whole: the end never cuts one.
        while end > self.first_dirty and end - base < len(entries) \
                and type(entries[end - base]) is CompressedBatch \
                and entries[end - 1 - base] is entries[end - base]:
            end -= 1
        if end <= self.first_dirty:
            return None
        if end < self.counted_to:  # the end moved back (the log was truncated): count again
            self.counted_to, self.dirty_bytes = self.first_dirty, 0
        self.dirty_bytes += stored_bytes(entries[self.counted_to - base:end - base])
        self.counted_to = end
        if self.dirty_bytes <= 0:
            return None
        if self.dirty_bytes > s.min_cleanable_ratio * (self.clean_bytes + self.dirty_bytes):
            return end
        if s.max_lag_ms >= _NO_LIMIT:
            return None
        i = self.first_dirty - base  # the first dirty record: is it older than the lag?
        while entries[i] is None:
            i += 1
        return end if timestamp_of(entries[i]) < now_ms - s.max_lag_ms else None

    def _first_too_young(self, entries: list, base: int, end: int, newest_ms: int) -> int:
        """The first offset below ``end`` from the checkpoint on whose record is newer than
        ``newest_ms``, or ``end``. Records found old enough stay so: the search resumes there."""
        i = max(self.old_until, self.first_dirty)
        while i < end:
            entry = entries[i - base]
            if entry is not None and timestamp_of(entry) > newest_ms:
                break
            i += 1
        self.old_until = i
        return i

    def cleaned(self, end: int, kept_offsets: list[int], kept_bytes: int) -> None:
        """The log was cleaned up to ``end``: it kept the records at ``kept_offsets``, which
        weigh ``kept_bytes``."""
        self.first_dirty = self.counted_to = end
        self.clean_offsets = kept_offsets
        self.clean_bytes, self.dirty_bytes = kept_bytes, 0

    def dropped(self, start: int, gone_bytes: int) -> None:
        """Records below ``start`` (the new log start), weighing ``gone_bytes``, were deleted."""
        if start <= self.first_dirty:
            self.clean_bytes = max(0, self.clean_bytes - gone_bytes)
        elif start < self.counted_to:
            self.dirty_bytes = max(0, self.dirty_bytes - (gone_bytes - self.clean_bytes))
            self.clean_bytes, self.first_dirty = 0, start
        else:
            self.clean_bytes = self.dirty_bytes = 0
            self.first_dirty = self.counted_to = start
        if start > self.active_base:  # retention took records of the active segment too
            self.active_base = start
        del self.clean_offsets[:bisect_left(self.clean_offsets, start)]
        for offset in [o for o in self.horizons if o < start]:
            del self.horizons[offset]

