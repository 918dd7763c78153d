"""Where a partition log's batches begin and end: the producers' batches as they were written.

Kafka's log holds each producer's batch as it arrived (its base offset, last offset and codec),
and a fetch answers whole batches: a fetch from an offset in the middle of a batch gets that
batch from its first record, and the client drops the records before its position (Java's
``CompletedFetch``, kafka-python's ``Fetcher``). pcmodel's log keeps records by offset, so it
remembers the batches beside them: one :class:`StoredBatch` per append (a producer's batch, or
one transaction marker), in offset order, found by bisection.

Each batch keeps what its header said of its producer: the idempotent producer's id, epoch and
first sequence number (-1 for a producer without idempotence), so that a fetch answers the
batch as the producer wrote it, as Kafka's does.

What changes the records changes the batches the same way. Retention and DeleteRecords forget
the batches that end below the new log start; a batch the new start cuts stays whole here, its
records below the start with it, as Kafka keeps a batch until its whole segment goes, and a
fetch answers it whole (the client drops the records below its position):
:class:`WholeBatchesMixin` is the log's part that reads whole batches and keeps them so.
Compaction leaves the boundaries alone: a batch it emptied has no record left to send, and one
it partly cleaned keeps its base and last offsets with its remaining records, as Kafka's
cleaner writes it. A follower's truncation cuts the batch it ends inside. A follower copies its
leader's batches with their records
(:meth:`~pcmodel.topics.log_replica.ReplicaLogMixin.copy_batches`), so a new leader answers
them as the old one did; a process broker's journal keeps them too
(:meth:`StoredBatch.portable`), so that a restarted broker answers the same batches. Records of
no batch (replayed from a journal written before journals kept batches) are batched when
fetched, as consecutive records of the same kind.

Prior art: Kafka's ``FileRecords.searchForOffsetWithSize`` (the batch holding an offset) and
``MemoryRecords.filterTo`` (a partly cleaned batch keeps its base and last offsets).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import NamedTuple

from pcmodel.topics.compression import CompressedBatch
from pcmodel.topics.log_records import LogRecord

__all__ = ["LogBatches", "StoredBatch", "WholeBatchesMixin"]


class StoredBatch(NamedTuple):
    """One batch as appended: offsets ``base_offset .. last_offset``, and the
    :class:`~pcmodel.topics.compression.CompressedBatch` holding them if the producer's batch
    was compressed and is kept so (``None``: kept uncompressed). ``codec`` names its codec.

    ``producer_id``, ``producer_epoch`` and ``base_sequence`` are the idempotent producer's
    numbering of the batch as it wrote it (-1 each for a producer without idempotence, and a
    marker's batch has no sequence), which a fetch answers in the batch's header as Kafka's
    log keeps it. ``decoded_codec`` is the codec of a compressed batch whose records the log
    keeps decoded (a journal replayed it: see :meth:`portable`): it still goes out
    compressed with it."""

    base_offset: int
    last_offset: int
    compressed: CompressedBatch | None = None
    producer_id: int = -1
    producer_epoch: int = -1
    base_sequence: int = -1
    decoded_codec: str | None = None

    @property
    def codec(self) -> str | None:
        """The batch's codec (``"gzip"``, ``"snappy"``, ``"lz4"``, ``"zstd"``), or ``None``."""
        return self.decoded_codec if self.compressed is None else self.compressed.codec.name

    def portable(self) -> StoredBatch:
        """The batch without its compressed bytes, its codec kept by name: what a journal
        writes (a codec's functions do not pickle; the records are written decoded)."""
        return self._replace(compressed=None, decoded_codec=self.codec)


class LogBatches:
    """A log's :class:`StoredBatch` es in offset order; batches never overlap. Not thread-safe:
    the log calls it with the broker lock held."""

    def __init__(self) -> None:
        self._bases: list[int] = []  # the batches' base offsets, for bisection
        self._batches: list[StoredBatch] = []

    def __len__(self) -> int:
        return len(self._batches)

    def appended(self, batch: StoredBatch) -> None:
        """Remember a batch just appended (after every batch already here)."""
        self._bases.append(batch.base_offset)
        self._batches.append(batch)

    def containing(self, offset: int) -> StoredBatch | None:
        """The batch whose offsets include ``offset``, or ``None``."""
        i = bisect_right(self._bases, offset) - 1
        if i >= 0 and self._batches[i].last_offset >= offset:
            return self._batches[i]
        return None

    def overlapping(self, first: int, last: int) -> tuple[StoredBatch, ...]:
        """The batches with offsets in ``first .. last``, in offset order."""
        lo = max(0, bisect_right(self._bases, first) - 1)
        if lo < len(self._batches) and self._batches[lo].last_offset < first:
            lo += 1
        hi = bisect_right(self._bases, last)
        return tuple(self._batches[lo:hi])

    def forget_before(self, offset: int) -> None:
        """Forget the batches that end below ``offset`` (the new log start)."""
        i = bisect_right(self._bases, offset) - 1  # the last batch starting at or before it
        if i < 0:
            return
        gone = i + (self._batches[i].last_offset < offset)  # those before i end before it
        del self._bases[:gone]
        del self._batches[:gone]

    def truncate(self, offset: int) -> None:
        """Forget every offset at ``offset`` and above: later batches go, the one holding
        ``offset`` ends before it."""
        i = bisect_left(self._bases, offset)
        del self._bases[i:]
        del self._batches[i:]
        if self._batches and self._batches[-1].last_offset >= offset:
            # Its codec stays; its compressed bytes hold records cut away, which the count of
            # its records now tells (a fetch encodes what is left).
            self._batches[-1] = self._batches[-1]._replace(last_offset=offset - 1)

    def clear(self) -> None:
        """Forget every batch (a follower's log restarted empty)."""
        self._bases.clear()
        self._batches.clear()


class WholeBatchesMixin:
    """Reading whole batches, and keeping a batch the log start cuts: the part of
    :class:`~pcmodel.topics.log.PartitionLog` that answers Kafka's fetch by batch (called
    with the broker lock held, as the log is)."""

    def read_batches(
        self, offset: int, max_records: int, *, upper: int | None = None
    ) -> tuple[list[LogRecord], tuple[StoredBatch, ...]]:
        """Whole batches, as Kafka's log answers a fetch: the records from the first one of the
        batch holding ``offset``, up to ``max_records`` records and then to the end of the
        last batch begun (or to ``upper``), with the :class:`StoredBatch` es they belong to,
        each ending at ``upper - 1`` at the latest. A batch the log start cuts (DeleteRecords)
        is answered from its first record too, below the log start, as Kafka's
        ``LogSegment.read`` answers the batch holding the offset asked for. Records the log
        has no batch for (replayed from an old journal) are read from ``offset`` on. Empty if
        no record at ``offset`` or later is readable yet. Raises ``OffsetOutOfRangeError`` as
        :meth:`~pcmodel.topics.log.PartitionLog.read` does.
        """
        self.enforce_retention()
        self.check_offset(offset)
        bound = self.end_offset if upper is None else min(upper, self.end_offset)
        holding = self._batches.containing(offset) if offset < bound else None
        # From the batch's first record, which the log keeps even below its start (see below).
        start = offset if holding is None else max(holding.base_offset, self._base)
        records = self._read_kept(start, max_records, upper)
        last = self._batches.containing(records[-1].offset) if records else None
        if last is not None and last.last_offset > records[-1].offset:
            stop = min(bound, last.last_offset + 1)
            if stop > records[-1].offset + 1:
                records += self._read_kept(records[-1].offset + 1,
                                           stop - records[-1].offset - 1, stop)
        if not records or records[-1].offset < offset:
            return [], ()  # nothing new: only records the reader already has
        batches = tuple(batch if batch.last_offset < bound else
                        batch._replace(last_offset=bound - 1)
                        for batch in self._batches.overlapping(records[0].offset,
                                                               records[-1].offset))
        return records, batches

    def _drop_before(self, offset: int) -> int:
        """Move the log start to ``offset`` as
        :meth:`~pcmodel.topics.log_cleanup.LogCleanupMixin._drop_before` does, but keep the
        records below it of the batch it cuts: Kafka deletes a batch only with its whole
        segment, and :meth:`read_batches` answers it whole. Returns how many offsets went."""
        cut = self._batches.containing(offset)
        first = offset if cut is None else max(cut.base_offset, self._base)
        below = self._records[first - self._base:offset - self._base]
        freed = super()._drop_before(offset)
        if below and self._base > first:  # the list was trimmed into the batch: put them back
            self._records[:0] = below[:self._base - first]
            self._base = first
        return freed
