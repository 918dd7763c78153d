"""What takes records away from a partition log: retention, DeleteRecords and compaction.

The delete policy's limits (``retention_records``, ``retention_bytes``, ``retention_ms``) drop
records from the front of the log, each limit from where the one before stopped, as
:mod:`~pcmodel.topics.retention` tells; DeleteRecords moves the log start by hand; a compacted
topic's cleaner removes the records a newer record of their key replaced
(:mod:`~pcmodel.topics.compaction`). None of them ever passes the high watermark, and
compaction stops at the last stable offset (no record of an undecided transaction is cleaned).
These are the methods of :class:`~pcmodel.topics.log.PartitionLog` for that, called with the
broker lock held.

Prior art: Kafka's ``UnifiedLog.deleteOldSegments`` / ``deletableSegments`` and
``maybeIncrementLogStartOffset``.
"""

from __future__ import annotations

import enum

from pcmodel.topics.compaction import compact
from pcmodel.topics.compression import CompressedBatch
from pcmodel.topics.retention import first_kept_by_age, first_kept_by_size, stored_bytes

__all__ = ["LogCleanupMixin", "RetentionPolicy"]


class RetentionPolicy(str, enum.Enum):
    """What happens when a partition is full: drop the oldest records, or make appends wait."""

    DELETE = "delete"
    BLOCK = "block"


class LogCleanupMixin:
    """The retention and compaction part of :class:`~pcmodel.topics.log.PartitionLog`."""

    def enforce_retention(self) -> int:
        """Apply the delete policy's count, size and age limits, each from where the one before
        stopped, as :mod:`~pcmodel.topics.retention` tells, then compact the log if it is
        compacted and due (:mod:`~pcmodel.topics.compaction`); return how many offsets
        retention deleted.

        Never deletes at or above the high watermark (Kafka's ``UnifiedLog.deletableSegments``).
        """
        if self.policy is not RetentionPolicy.DELETE:
            return 0
        deleted = 0
        if self._settings.delete:
            records, base, end = self._records, self._base, len(self._records)
            new_start = self._start
            if self.retention_records is not None:
                new_start = max(new_start, self.end_offset - self.retention_records)
            if self._retention_bytes is not None and self._stored_bytes >= self._retention_bytes:
                kept = first_kept_by_size(records, self._start - base, end,
                                          self._stored_bytes - self._retention_bytes)
                new_start = max(new_start, base + kept)
            if self.retention_ms is not None:
                oldest_kept_ms = self._timestamp_clock() - self.retention_ms
                new_start = base + first_kept_by_age(records, new_start - base, end,
                                                     oldest_kept_ms)
            deleted = self._drop_before(min(new_start, self.high_watermark))
        if self._cleaner is not None:
            self._clean_if_due()
        return deleted

    def delete_before(self, offset: int) -> int:
        """Drop every record below ``offset`` (never beyond ``end_offset``) and make it the log
        start; nothing happens if it is not above the start. Returns how many records went.

        Kafka's DeleteRecords (``maybeIncrementLogStartOffset``), a follower following its
        leader's start, and the "block" policy's floor: every tracking group committed up to
        ``offset``. A "block" log frees the records' space (takes their tokens), which wakes
        appenders waiting for it.
        """
        freed = self._drop_before(min(offset, self.end_offset))
        if self._space is not None:
            self._space.free(freed)
        return freed

    def _clean_if_due(self) -> None:
        """Compact the log up to its first uncleanable offset if the cleaner says it is due:
        visiting the records kept by the last cleaning and the dirty ones, not the holes."""
        cleaner, base, records = self._cleaner, self._base, self._records
        now = self._timestamp_clock()
        end = cleaner.due(records, base, self.last_stable_offset, now)
        if end is None:
            return
        dirty = cleaner.first_dirty - base
        indices = [offset - base for offset in cleaner.clean_offsets]
        indices += [i for i in range(dirty, end - base) if records[i] is not None]
        before = cleaner.clean_bytes + cleaner.dirty_bytes  # what the records at indices weigh
        changes, kept = compact(records, indices, base, dirty=dirty, now_ms=now,
                                delete_retention_ms=cleaner.settings.delete_retention_ms,
                                horizons=cleaner.horizons, transactions=self.transactions)
        for i, entry in changes.items():
            records[i] = entry
            self._has_holes = self._has_holes or entry is None
        kept_bytes = stored_bytes([records[i] for i in kept])
        self._stored_bytes -= before - kept_bytes
        cleaner.cleaned(end, [base + i for i in kept], kept_bytes)

    def _drop_before(self, offset: int) -> int:
        if offset <= self._start:
            return 0
        if self._stored_bytes is not None:
            first, kept = self._start - self._base, offset - self._base
            gone = stored_bytes(self._records[first:kept])
            if kept < len(self._records) and type(self._records[kept]) is CompressedBatch \
                    and self._records[kept] is self._records[kept - 1]:
                gone -= self._records[kept].stored_size  # a batch cut in two stays whole
            self._stored_bytes -= gone
            if self._cleaner is not None:
                self._cleaner.dropped(offset, gone)
        freed = offset - self._start
        self._start = offset
        if self.transactions is not None:
            self.transactions.forget_before(offset)
        self._batches.forget_before(offset)
        dead = self._start - self._base
        if dead > len(self._records) // 2:
            del self._records[:dead]
            self._base = self._start
        return freed

