"""A partition's transactions: which records belong to one, which were aborted, and where the
*stable* part of the log ends.

A transactional producer's records go into the log as soon as they are sent, like any others,
and are numbered like any others. What makes them transactional is bookkeeping beside the log:

- each transactional batch is remembered as a :class:`TransactionalBatch` (its offsets and its
  producer), which is what Kafka's record batch header says;
- when the transaction ends, the coordinator writes a *marker* to every partition it touched: a
  :class:`ControlRecord` saying COMMIT or ABORT, which takes an offset of its own;
- an aborted transaction is remembered as ``(producer id, first offset, marker offset)``,
  Kafka's aborted transaction index.

The *last stable offset* (LSO) is the first offset of the oldest transaction still open (or the
high watermark if none is, whichever is lower). A ``read_committed`` consumer reads only below
it, so it never sees a record whose fate is not yet decided; below it, it drops the records of
aborted transactions with :func:`visible_records`, as Kafka's consumer does, from the aborted
transactions the fetch lists. A ``read_uncommitted`` consumer reads up to the high watermark
and sees aborted records too. Both skip the markers, which are not records of the application.

:class:`PartitionTransactions` is a plain data structure: the log calls it with the broker's
lock held.

Prior art: Kafka's ``ProducerStateManager`` (``firstUnstableOffset``), ``AbortedTxn`` and the
transaction index, ``EndTransactionMarker`` and ``ControlRecordType`` (the marker's key and
value), and the Java consumer's ``CompletedFetch`` (``abortedProducerIds``,
``isBatchAborted``), which :func:`visible_records` follows.
"""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import NamedTuple

from pcmodel.topics.errors import IllegalArgumentError
from pcmodel.topics.log_records import TIMESTAMP_CREATE_TIME, LogRecord

__all__ = [
    "ISOLATION_LEVELS",
    "AbortedTransaction",
    "ControlRecord",
    "PartitionTransactions",
    "TransactionalBatch",
    "check_isolation_level",
    "control_record",
    "visible_records",
]

#: What a consumer may read (Kafka's ``isolation.level``): every record below the high
#: watermark, or below the last stable offset and only those of committed transactions (and
#: of no transaction).
ISOLATION_LEVELS = ("read_uncommitted", "read_committed")
#: Kafka's ``ControlRecordType`` codes, in a marker's key.
ABORT_MARKER = 0
COMMIT_MARKER = 1
#: A marker's key: version 0 and the type; its value: version 0 and the coordinator epoch.
_MARKER_KEY = struct.Struct(">hh")
_MARKER_VALUE = struct.Struct(">hi")


def check_isolation_level(isolation_level: object) -> bool:
    """Whether ``isolation_level`` is ``"read_committed"``; ``IllegalArgumentError`` unless it
    is one of :data:`ISOLATION_LEVELS`."""
    if isolation_level not in ISOLATION_LEVELS:
        raise IllegalArgumentError(
            f"isolation_level must be one of {ISOLATION_LEVELS}, got {isolation_level!r}")
    return isolation_level == "read_committed"


class ControlRecord(LogRecord):
    """A transaction marker as a partition log keeps it: a record whose key and value are
    Kafka's (``ControlRecordType`` and ``EndTransactionMarker``), so that it weighs and encodes
    as Kafka's does. Consumers never return it to the application."""

    __slots__ = ()

    @property
    def commit(self) -> bool:
        """True for a COMMIT marker, False for an ABORT marker."""
        return _MARKER_KEY.unpack(self.key)[1] == COMMIT_MARKER

    @property
    def coordinator_epoch(self) -> int:
        """The epoch of the coordinator that wrote it (always 0 on a lone broker)."""
        return _MARKER_VALUE.unpack(self.value)[1]

    def __repr__(self) -> str:
        return (f"ControlRecord(offset={self.offset}, "
                f"{'COMMIT' if self.commit else 'ABORT'}, timestamp={self.timestamp})")


def control_record(offset: int, timestamp: int, commit: bool,
                   coordinator_epoch: int = 0) -> ControlRecord:
    """The marker at ``offset`` that commits (or aborts) a transaction."""
    key = _MARKER_KEY.pack(0, COMMIT_MARKER if commit else ABORT_MARKER)
    value = _MARKER_VALUE.pack(0, coordinator_epoch)
    return ControlRecord(offset, timestamp, TIMESTAMP_CREATE_TIME, key, value, ())


class TransactionalBatch(NamedTuple):
    """Offsets ``base_offset`` to ``last_offset`` were appended by one transactional producer
    in one batch, or are its marker (``is_control``): what a Kafka batch header says."""

    base_offset: int
    last_offset: int
    producer_id: int
    producer_epoch: int
    is_control: bool = False


class AbortedTransaction(NamedTuple):
    """A transaction that was aborted, as a fetch lists it: its producer and its first offset
    in the partition (Kafka's ``FetchResponse.AbortedTransaction``)."""

    producer_id: int
    first_offset: int


class PartitionTransactions:
    """The transactions of one partition log: their batches, the open ones, the aborted ones.

    Invariants: :attr:`open` maps each producer with a transaction open here to the offset of
    its first record in it; ``_batches`` are ordered by offset and never overlap; ``_aborted``
    holds ``(last_offset, producer_id, first_offset)`` per aborted transaction, ordered by its
    marker's offset (``last_offset``).
    """

    def __init__(self) -> None:
        self.open: dict[int, int] = {}
        self._batches: list[TransactionalBatch] = []
        self._bases: list[int] = []  # the batches' base offsets, for bisecting
        self._aborted: list[tuple[int, int, int]] = []

    def __repr__(self) -> str:
        return (f"<PartitionTransactions open={self.open} batches={len(self._batches)} "
                f"aborted={len(self._aborted)}>")

    def appended(self, producer_id: int, producer_epoch: int, base: int, last: int) -> None:
        """Records ``base..last`` of a transactional producer were appended: its transaction
        here is open from its first such record on."""
        self.open.setdefault(producer_id, base)
        self._add(TransactionalBatch(base, last, producer_id, producer_epoch))

    def ended(self, producer_id: int, producer_epoch: int, marker_offset: int,
              commit: bool) -> None:
        """The producer's marker went to ``marker_offset``: its transaction here is over."""
        first = self.open.pop(producer_id, None)
        self._add(TransactionalBatch(marker_offset, marker_offset, producer_id, producer_epoch,
                                     True))
        if not commit and first is not None:
            self._aborted.append((marker_offset, producer_id, first))

    def first_unstable_offset(self) -> int | None:
        """The first offset of the oldest transaction still open here, or ``None``."""
        return min(self.open.values(), default=None)

    def batches_in(self, first: int, end: int) -> tuple[TransactionalBatch, ...]:
        """The transactional batches with an offset in ``[first, end)``, in order."""
        i = max(0, bisect_right(self._bases, first) - 1)
        j = bisect_left(self._bases, end)
        return tuple(b for b in self._batches[i:j] if b.last_offset >= first)

    def aborted_in(self, first: int, end: int) -> tuple[AbortedTransaction, ...]:
        """The aborted transactions with a record in ``[first, end)``, by first offset (what
        Kafka's ``collectAbortedTransactions`` lists for a fetch of that range)."""
        i = bisect_left(self._aborted, (first,))
        found = [AbortedTransaction(pid, start) for _, pid, start in self._aborted[i:]
                 if start < end]
        return tuple(sorted(found, key=lambda a: (a.first_offset, a.producer_id)))

    def is_aborted(self, offset: int) -> bool:
        """Whether the record at ``offset`` belongs to an aborted transaction (the cleaner of a
        compacted topic removes such records, as Kafka's does)."""
        i = bisect_right(self._bases, offset) - 1
        if i < 0:
            return False
        batch = self._batches[i]
        if batch.is_control or batch.last_offset < offset:
            return False
        j = bisect_left(self._aborted, (offset,))
        return any(pid == batch.producer_id and start <= offset
                   for _, pid, start in self._aborted[j:])

    def forget_before(self, start: int) -> None:
        """Records below ``start`` are gone (retention): forget their batches and the aborted
        transactions that ended below it. Open transactions stay open."""
        i = bisect_right(self._bases, start) - 1
        if i < 0 or self._batches[i].last_offset >= start:
            i = max(i, 0)
        else:
            i += 1
        del self._batches[:i]
        del self._bases[:i]
        del self._aborted[:bisect_left(self._aborted, (start,))]

    def transaction_batches(self) -> dict[int, list[TransactionalBatch]]:
        """Each ended transaction's data batches still listed here, by its marker's offset
        (what the cleaner asks before it removes a marker)."""
        since: dict[int, list[TransactionalBatch]] = {}
        ended: dict[int, list[TransactionalBatch]] = {}
        for batch in self._batches:
            if batch.is_control:
                ended[batch.base_offset] = since.pop(batch.producer_id, [])
            else:
                since.setdefault(batch.producer_id, []).append(batch)
        return ended

    def forget_ended(self, ended: dict[int, list[TransactionalBatch]]) -> None:
        """The cleaner removed the markers at the offsets ``ended`` maps, their transactions'
        records (the batches it maps them to, from :meth:`transaction_batches`) being gone:
        forget the markers, those batches and, for an aborted transaction, its entry (Kafka's
        cleaner leaves it out of the cleaned transaction index)."""
        gone = set(ended)
        gone.update(b.base_offset for batches in ended.values() for b in batches)
        kept = [b for b in self._batches if b.base_offset not in gone]
        self._batches, self._bases = [], []
        for batch in kept:
            self._add(batch)
        self._aborted = [entry for entry in self._aborted if entry[0] not in ended]

    def truncate(self, end: int) -> None:
        """Records from ``end`` on are gone (a replica truncated its log). A transaction whose
        marker went is open again, from its first record after its producer's previous
        marker; one that began at or after ``end`` is forgotten."""
        kept = self._batches[:bisect_left(self._bases, end)]
        still_open = {pid: first for pid, first in self.open.items() if first < end}
        self._batches, self._bases, self.open = [], [], {}
        for batch in kept:
            self._add(batch)
            if batch.is_control:
                self.open.pop(batch.producer_id, None)
            else:
                self.open.setdefault(batch.producer_id, batch.base_offset)
        # Open before, with a record below end: still open, from the same first record (its
        # first batches may have been forgotten by retention).
        self.open.update(still_open)
        self._aborted = [entry for entry in self._aborted if entry[0] < end]

    def _add(self, batch: TransactionalBatch) -> None:
        self._batches.append(batch)
        self._bases.append(batch.base_offset)


def visible_records(records: Sequence[LogRecord], batches: Sequence[TransactionalBatch],
                    aborted: Sequence[AbortedTransaction],
                    read_committed: bool) -> list[LogRecord]:
    """The records of a fetch that a consumer hands to the application.

    Markers never are. With ``read_committed`` the records of aborted transactions are dropped
    too, as Kafka's consumer drops them: walking the records in order, a producer becomes
    *aborting* at the first offset of one of its aborted transactions (from ``aborted``, the
    fetch's list) and stops being so at its ABORT marker; its transactional records in between
    are dropped. ``batches`` are the transactional batches of the fetched range.
    """
    if not batches:
        return list(records)
    pending = sorted(aborted, key=lambda a: a.first_offset)
    aborting: set[int] = set()
    out = []
    b = 0
    for record in records:
        while b < len(batches) and batches[b].last_offset < record.offset:
            b += 1
        batch = batches[b] if b < len(batches) and batches[b].base_offset <= record.offset \
            else None
        if batch is None:
            out.append(record)
            continue
        if batch.is_control:
            if read_committed and not record.commit:
                aborting.discard(batch.producer_id)
            continue
        if read_committed:
            while pending and pending[0].first_offset <= record.offset:
                aborting.add(pending.pop(0).producer_id)
            if batch.producer_id in aborting:
                continue
        out.append(record)
    return out
