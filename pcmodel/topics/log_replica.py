"""What replication does to a partition log: a leader's high watermark, a follower's copy.

:mod:`pcmodel.cluster` keeps a partition's replicas in the brokers' own partition logs. A
leader's log learns its *high watermark* (the offset below which every in-sync replica has the
records: consumers read up to it, and retention and compaction never pass it); a follower's log
copies its leader's records at the leader's offsets, cuts what the leader does not have
(truncation after a leader change), and starts again at the leader's log start when it fell
behind it. These are the methods of :class:`~pcmodel.topics.log.PartitionLog` for that, called
with the broker lock held; a lone broker never calls them.

Prior art: Kafka's ``UnifiedLog.appendAsFollower``, ``truncateTo`` and
``truncateFullyAndStartAt``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pcmodel.topics.compression import record_size
from pcmodel.topics.log_records import LogRecord
from pcmodel.topics.retention import stored_bytes

__all__ = ["ReplicaLogMixin"]


class ReplicaLogMixin:
    """The replication part of :class:`~pcmodel.topics.log.PartitionLog` (see the module)."""

    def set_high_watermark(self, offset: int) -> None:
        """Mark records below ``offset`` as committed (replicated partitions only), and apply
        retention to those it held back."""
        self._high_watermark = offset
        self.enforce_retention()

    def append_copy(self, records: Sequence[LogRecord]) -> None:
        """Append a leader's records to this follower copy at the leader's offsets.

        The records keep their offsets and timestamps; a compacted leader's may skip offsets
        (those it cleaned away), which stay empty here. Raises ``ValueError`` unless the first
        one is at ``end_offset`` or beyond it: a follower first truncates to where it agrees
        with the leader, then copies.
        """
        if not records:
            return
        end = self.end_offset
        if records[0].offset < end:
            raise ValueError(
                f"a follower copy continues at offset {end}, "
                f"got a batch starting at {records[0].offset}"
            )
        if records[-1].offset - end + 1 == len(records):
            self._records.extend(records)
        else:
            self._has_holes = True
            for rec in records:
                self._records.extend([None] * (rec.offset - self._base - len(self._records)))
                self._records.append(rec)
        if self._stored_bytes is not None:
            weights = [record_size(rec.key, rec.value, rec.headers) for rec in records]
            self._stored_bytes += sum(weights)
            if self._cleaner is not None:
                # A follower rolls its own segments; not knowing the leader's batches, at a
                # record.
                for rec, weight in zip(records, weights):
                    self._cleaner.appended(rec.offset, weight, rec.timestamp)
        self.enforce_retention()

    def truncate_to(self, offset: int) -> int:
        """Remove every record at ``offset`` or above; return how many went.

        A follower does this when it holds records the new leader does not have (Kafka's
        leader-epoch truncation). Truncating below ``log_start_offset`` empties the log and
        restarts it at ``offset``. The high watermark never stays above the new end.
        """
        if offset >= self.end_offset:
            return 0
        removed = self.end_offset - max(offset, self._start)
        if offset <= self._start:
            self._records.clear()
            self._base = self._start = offset
        else:
            del self._records[offset - self._base :]
        if self._stored_bytes is not None:
            self._stored_bytes = stored_bytes(self._retained())
        if self._high_watermark is not None:
            self._high_watermark = min(self._high_watermark, offset)
        if self.transactions is not None:
            self.transactions.truncate(offset)
        if self._cleaner is not None:
            self._cleaner.restart(self._records, self._base, self._start, self.end_offset)
        return removed

    def restart_at(self, offset: int) -> None:
        """Empty the log and make ``offset`` its start (a follower behind the leader's start)."""
        self._records.clear()
        self._base = self._start = offset
        if self._stored_bytes is not None:
            self._stored_bytes = 0
        if self._high_watermark is not None:
            self._high_watermark = min(self._high_watermark, offset)
        self.transactions = None  # nothing of the log is left: nor of its transactions
        if self._cleaner is not None:
            self._cleaner.restart(self._records, self._base, offset, offset)
