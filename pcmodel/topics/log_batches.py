"""Where a partition log's batches begin and end: the producers' batches as they were written.

Kafka's log holds each producer's batch as it arrived (its base offset, last offset and codec),
and a fetch answers whole batches: a fetch from an offset in the middle of a batch gets that
batch from its first record, and the client drops the records before its position (Java's
``CompletedFetch``, kafka-python's ``Fetcher``). pcmodel's log keeps records by offset, so it
remembers the batches beside them: one :class:`StoredBatch` per append (a producer's batch, or
one transaction marker), in offset order, found by bisection.

What changes the records changes the batches the same way. Retention and DeleteRecords forget
the batches that end below the new log start; a batch the new start cuts stays whole here, as
Kafka keeps a batch until its whole segment goes. Compaction leaves the boundaries alone: a batch
it emptied has no record left to send, and one it partly cleaned keeps its base and last offsets
with its remaining records, as Kafka's cleaner writes it. A follower's truncation cuts the
batch it ends inside. A follower copies its leader's batches with their records
(:meth:`~pcmodel.topics.log_replica.ReplicaLogMixin.copy_batches`), so a new leader answers
them as the old one did; records of no batch (a process broker's log replayed from its
journal) are batched when fetched, as consecutive records of the same kind.

Prior art: Kafka's ``FileRecords.searchForOffsetWithSize`` (the batch holding an offset) and
``MemoryRecords.filterTo`` (a partly cleaned batch keeps its base and last offsets).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import NamedTuple

from pcmodel.topics.compression import CompressedBatch

__all__ = ["LogBatches", "StoredBatch"]


class StoredBatch(NamedTuple):
    """One batch as appended: offsets ``base_offset .. last_offset``, and the
    :class:`~pcmodel.topics.compression.CompressedBatch` holding them if the producer's batch
    was compressed (``None``: kept uncompressed). ``codec`` names its codec."""

    base_offset: int
    last_offset: int
    compressed: CompressedBatch | None = None

    @property
    def codec(self) -> str | None:
        """The batch's codec (``"gzip"``, ``"snappy"``, ``"lz4"``, ``"zstd"``), or ``None``."""
        return None if self.compressed is None else self.compressed.codec.name


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
