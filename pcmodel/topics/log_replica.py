"""What replication does to a partition log: a leader's high watermark, a follower's copy.

:mod:`pcmodel.cluster` keeps a partition's replicas in the brokers' own partition logs. A
leader's log learns its *high watermark* (the offset below which every in-sync replica has the
records: consumers read up to it, and retention and compaction never pass it); a follower's log
copies its leader's records at the leader's offsets, cuts what the leader does not have
(truncation after a leader change), and starts again at the leader's log start when it fell
behind it. These are the methods of :class:`~pcmodel.topics.log.PartitionLog` for that, called
with the broker lock held; a lone broker never calls them.

A follower copies the leader's transactional batches and markers with the records
(:func:`copied_transactions`), so that its open transactions, last stable offset and aborted
transactions are the leader's, and stay so when it becomes the leader. Truncation reopens a
transaction whose marker it cut (:meth:`PartitionTransactions.truncate
<pcmodel.topics.log_transactions.PartitionTransactions.truncate>`).

A follower's copy also holds its leader's batches (:mod:`~pcmodel.topics.log_batches`): the
leader's fetch lists the producers' batches of the records it sends, and the follower keeps
their edges and codecs (:meth:`ReplicaLogMixin.copy_batches`), as Kafka's follower appends the
leader's batches byte for byte, so that once it leads it answers the batches the old leader
did. Truncation cuts the log's batches with its records.

Prior art: Kafka's ``UnifiedLog.appendAsFollower``, ``truncateTo`` and
``truncateFullyAndStartAt``; a Kafka follower learns the transactions from the batch headers
it copies (``ProducerStateManager`` on the follower), as this one does from the batches the
leader's fetch lists.
"""

from __future__ import annotations

from collections.abc import Sequence

from pcmodel.topics.compression import record_size
from pcmodel.topics.log_batches import StoredBatch
from pcmodel.topics.log_records import LogRecord
from pcmodel.topics.log_transactions import (
    ControlRecord,
    PartitionTransactions,
    TransactionalBatch,
)
from pcmodel.topics.retention import stored_bytes

__all__ = ["ReplicaLogMixin", "copied_transactions"]


def copied_transactions(
    records: Sequence[LogRecord], batches: Sequence[TransactionalBatch],
) -> list[tuple[TransactionalBatch, ControlRecord | None]]:
    """The leader's transactional ``batches`` as a copy of ``records`` holds them: each cut to
    the offsets copied (a fetch may end inside a batch, or begin inside one whose start an
    earlier fetch copied: the copy then keeps it as two pieces, which mean the same), with its
    marker record for a marker. Batches outside the records are left out."""
    if not records or not batches:
        return []
    first, last = records[0].offset, records[-1].offset
    markers = {r.offset: r for r in records if isinstance(r, ControlRecord)} \
        if any(b.is_control for b in batches) else {}
    out = []
    for batch in batches:
        base, end = max(batch.base_offset, first), min(batch.last_offset, last)
        if base > end:
            continue
        if batch.is_control:
            marker = markers.get(batch.base_offset)
            if marker is not None:  # a marker is never cut; without its record, not copied
                out.append((batch, marker))
        else:
            out.append((batch._replace(base_offset=base, last_offset=end), None))
    return out


class ReplicaLogMixin:
    """The replication part of :class:`~pcmodel.topics.log.PartitionLog` (see the module)."""

    def set_high_watermark(self, offset: int) -> None:
        """Mark records below ``offset`` as committed (replicated partitions only), and apply
        retention to those it held back."""
        self._high_watermark = offset
        self.enforce_retention()

    def append_copy(self, records: Sequence[LogRecord],
                    transactional_batches: Sequence[TransactionalBatch] = ()) -> None:
        """Append a leader's records to this follower copy at the leader's offsets.

        The records keep their offsets and timestamps; a compacted leader's may skip offsets
        (those it cleaned away), which stay empty here. ``transactional_batches`` are the
        leader's for these records (its fetch lists them): the copy's transactions open and
        end as the leader's did (see :func:`copied_transactions`). Raises ``ValueError``
        unless the first record is at ``end_offset`` or beyond it: a follower first truncates
        to where it agrees with the leader, then copies.
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
        for batch, marker in copied_transactions(records, transactional_batches):
            if self.transactions is None:
                self.transactions = PartitionTransactions()
            if marker is None:
                self.transactions.appended(batch.producer_id, batch.producer_epoch,
                                           batch.base_offset, batch.last_offset)
            else:
                self.transactions.ended(batch.producer_id, batch.producer_epoch,
                                        batch.base_offset, marker.commit)
        self.enforce_retention()

    def copy_batches(self, batches: Sequence[StoredBatch]) -> None:
        """Remember the leader's ``batches`` (in offset order, as its fetch listed them) over
        the records this copy just took with :meth:`append_copy`.

        Each keeps the leader's last offset and codec, and its base offset unless this copy
        already holds the batch's first offsets (a fetch that began inside a batch whose start
        an earlier fetch copied, or that truncation cut): the rest is then a batch of its own,
        starting after the batches held. Batches all below the log start (retention) or
        already held are left out.
        """
        for batch in batches:
            held = self._batches.overlapping(batch.base_offset, batch.last_offset)
            base = batch.base_offset if not held else held[-1].last_offset + 1
            if batch.last_offset < max(base, self._start):
                continue  # all of it is held already, or gone below the log start
            self._batches.appended(batch if base == batch.base_offset else
                                   batch._replace(base_offset=base))

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
            self._batches.clear()
            self._base = self._start = offset
        else:
            del self._records[offset - self._base :]
        self._batches.truncate(offset)
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
        self._batches.clear()
        self._base = self._start = offset
        if self._stored_bytes is not None:
            self._stored_bytes = 0
        if self._high_watermark is not None:
            self._high_watermark = min(self._high_watermark, offset)
        self.transactions = None  # nothing of the log is left: nor of its transactions
        if self._cleaner is not None:
            self._cleaner.restart(self._records, self._base, offset, offset)
