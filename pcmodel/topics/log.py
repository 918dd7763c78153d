"""One partition of a topic: an append-only log of records, numbered by offset.

Unlike a bounded buffer, reading a log does not remove anything: every consumer group keeps its
own position, and records leave only by *retention*. Two retention policies exist:

``"delete"`` (Kafka's ``cleanup.policy=delete``)
    Records whose timestamp is more than ``retention_ms`` behind the broker's wall clock, those
    that take the log beyond ``retention_bytes``, and those beyond the newest
    ``retention_records`` are dropped from the front and ``log_start_offset`` advances; never a
    record at or above the high watermark. :mod:`~pcmodel.topics.retention` has the rules, and
    how they follow Kafka's. Appends never wait. A reader whose position fell below
    ``log_start_offset`` gets ``OffsetOutOfRangeError``.

``"block"`` (not in Kafka: the log turned back into a bounded buffer)
    The log holds at most ``retention_records`` records that the slowest consumer group has not yet
    committed: an append first reserves their space, waiting while the partition is full, and a
    group committing past records frees it (:mod:`~pcmodel.topics.log_space`, where a layer-1
    bounded buffer of that capacity does the waiting).

A topic whose ``cleanup.policy`` has ``compact`` (``"delete"`` policy only) is also compacted:
its log keeps the latest record of each key, leaving gaps between offsets
(:mod:`~pcmodel.topics.compaction`).

Thread safety: :class:`PartitionLog` is a plain data structure, like the storage hooks of
``queue.Queue`` ("only called with appropriate locks held"): the broker calls every method with
its lock held, except :meth:`reserve`, :meth:`cancel_reservation` and :meth:`close`, which touch
only the token buffer (it has its own lock) and are called *without* the broker lock, because
:meth:`reserve` may block.

Compressed batches (a producer's ``compression_type``): the log keeps a
:class:`~pcmodel.topics.compression.CompressedBatch` in place of each of its records (one shared
object, referenced once per offset), and :meth:`PartitionLog.read` decompresses it, caching the
last batch decoded. Decompressing happens with the broker lock held; compressing does not (the
broker builds the batch before taking the lock). Follower copies (replication) are stored
decoded. :meth:`PartitionLog.byte_stats` reports stored against uncompressed bytes.

Batches: the log remembers where each append's batch begins and ends, and the idempotent
producer's id, epoch and first sequence number it carried (:mod:`~pcmodel.topics.log_batches`),
so that :meth:`~pcmodel.topics.log_batches.WholeBatchesMixin.read_batches` answers whole
batches as Kafka's log does, from the first record of the batch holding the offset asked for,
also when that record is below the log start (a batch DeleteRecords cut in two).

The records themselves (what an append takes, what a read returns, and their checks) are in
:mod:`~pcmodel.topics.log_records`; their names stay importable from here. What replication
does to a log (its high watermark, a follower's copy) is in :mod:`~pcmodel.topics.log_replica`,
and what takes records away from it (retention, DeleteRecords, compaction) in
:mod:`~pcmodel.topics.log_cleanup`.
A log that holds transactional records keeps them, their markers and its *last stable offset*
with :mod:`~pcmodel.topics.log_transactions` (``transactions`` is ``None`` until the first
one): retention forgets what it deletes there, and compaction stops at the last stable offset,
removes the records of aborted transactions, and removes a marker once its transaction's
records are gone and ``delete.retention.ms`` has passed.

Prior art: Kafka's ``kafka.log.UnifiedLog`` (``logStartOffset``, ``logEndOffset``, retention by
size and time), and CPython's ``Lib/queue.py`` for the split between storage and locking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from pcmodel.topics.compaction import Cleaner
from pcmodel.topics.compression import CompressedBatch, record_size
from pcmodel.topics.errors import OffsetOutOfRangeError
from pcmodel.topics.log_batches import LogBatches, StoredBatch, WholeBatchesMixin
from pcmodel.topics.log_cleanup import LogCleanupMixin, RetentionPolicy
from pcmodel.topics.log_records import (
    NO_TIMESTAMP,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    LogRecord,
    NewRecord,
    validate_new_record,
    validate_records,
    wall_clock_ms,
)
from pcmodel.topics.log_replica import ReplicaLogMixin
from pcmodel.topics.log_settings import LogSettings
from pcmodel.topics.log_space import PartitionSpace
from pcmodel.topics.log_transactions import PartitionTransactions, control_record
from pcmodel.topics.retention import stored_bytes

# The record types and checks are re-exported: they were defined here first.
__all__ = [
    "TIMESTAMP_CREATE_TIME",
    "TIMESTAMP_LOG_APPEND_TIME",
    "LogBytes",
    "LogRecord",
    "NewRecord",
    "PartitionLog",
    "RetentionPolicy",
    "validate_new_record",
    "validate_records",
    "wall_clock_ms",
]


_TIMESTAMP = itemgetter(1)  # of a LogRecord


class LogBytes(NamedTuple):
    """What a partition's retained records take: stored bytes against uncompressed bytes.

    Bytes are those of keys, values and headers (uncompressed), or of the compressed batches
    (stored); ``compressed_batches`` counts the batches kept compressed.
    """

    records: int
    stored_bytes: int
    uncompressed_bytes: int
    compressed_batches: int


class PartitionLog(WholeBatchesMixin, ReplicaLogMixin, LogCleanupMixin):
    """The records of one partition, numbered by offset from 0, with retention and compaction.

    ``log_start_offset`` is the first retained offset, ``end_offset`` the offset the next append
    gets (Kafka's high watermark: there is no replication, so every appended record is committed).
    Invariant: ``log_start_offset <= end_offset`` and the retained records are at offsets in
    ``[log_start_offset, end_offset)``: every one of them, unless compaction cleaned some away.
    """

    def __init__(
        self,
        *,
        retention_records: int | None = None,
        retention_ms: int | None = None,
        retention_bytes: int | None = None,
        policy: RetentionPolicy | str = RetentionPolicy.DELETE,
        variant: str = "condition",
        instrument: str = "off",
        timestamp_clock: Callable[[], int] = wall_clock_ms,
        settings: LogSettings | None = None,
    ) -> None:
        self.policy = RetentionPolicy(policy)
        self.retention_records = retention_records
        self.retention_ms = retention_ms
        self.variant = variant
        self._timestamp_clock = timestamp_clock
        # _records[i] has offset _base + i; offsets below _start are deleted but not yet compacted
        # away (compacting on every deletion would make retention O(n) per append).
        self._records: list[LogRecord] = []
        self._base = 0
        self._start = 0
        # Where each append's batch begins and ends (log_batches), as Kafka's log keeps them.
        self._batches = LogBatches()
        # What the retained records weigh (retention.stored_bytes): kept up to date only while
        # a retention_bytes limit or compaction needs it, so that other logs pay nothing for it.
        self._stored_bytes: int | None = None
        self._retention_bytes = retention_bytes
        # Set while the topic is compacted (settings.compaction); None entries in _records are
        # offsets compaction removed, and _has_holes says whether there may be any.
        self._cleaner: Cleaner | None = None
        self._has_holes = False
        # The topic's configs that act at an append (timestamps, the largest batch, the codec)
        # and its cleanup policy; setting them weighs the records if needed.
        self.settings = settings or LogSettings()
        # Whether any entry of _records is a CompressedBatch; the last one decoded, by identity.
        self._has_compressed = False
        self._decoded: tuple[CompressedBatch | None, list[LogRecord]] = (None, [])
        # Set only on a replicated partition (pcmodel.cluster): the offset below which every
        # in-sync replica has the record. None means "no replication": everything is committed.
        self._high_watermark: int | None = None
        #: The log's transactions (see log_transactions), made at its first transactional append.
        self.transactions: PartitionTransactions | None = None
        self._space = None
        if self.policy is RetentionPolicy.BLOCK:
            self._space = PartitionSpace(retention_records or 0, variant=variant,
                                         instrument=instrument)

    # --- observers ---------------------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        """The first offset still retained (equal to ``end_offset`` when the log is empty)."""
        return self._start

    @property
    def end_offset(self) -> int:
        """The offset the next appended record will get."""
        return self._base + len(self._records)

    @property
    def high_watermark(self) -> int:
        """The offset below which records are committed: what consumers may read up to.

        Without replication it is ``end_offset``. On a replicated partition the replica sets it
        (see :meth:`set_high_watermark`); it never exceeds ``end_offset``.
        """
        end = self.end_offset
        return end if self._high_watermark is None else min(self._high_watermark, end)

    @property
    def last_stable_offset(self) -> int:
        """The offset below which every record's transaction is decided: the first offset of
        the oldest transaction still open, or the high watermark if that is lower (or none is
        open); never below ``log_start_offset``. What a ``read_committed`` consumer reads up to.
        """
        high_watermark = self.high_watermark
        if self.transactions is None:
            return high_watermark
        first_open = self.transactions.first_unstable_offset()
        if first_open is None or first_open >= high_watermark:
            return high_watermark
        return max(self._start, first_open)

    def __len__(self) -> int:
        """The offsets retained (compaction's gaps included: ``byte_stats()`` counts records)."""
        return self.end_offset - self._start

    def __repr__(self) -> str:
        return (
            f"<PartitionLog [{self._start}, {self.end_offset}) policy={self.policy.value}"
            f" retention_records={self.retention_records} retention_ms={self.retention_ms}"
            f" retention_bytes={self.retention_bytes}>"
        )

    @property
    def retention_bytes(self) -> int | None:
        """``retention.bytes`` (``None``: no limit). Setting it weighs the records here."""
        return self._retention_bytes

    @retention_bytes.setter
    def retention_bytes(self, limit: int | None) -> None:
        self._retention_bytes = limit
        self._weigh()

    @property
    def settings(self) -> LogSettings:
        """What the topic's configs ask of this log (see :class:`LogSettings`). Setting them
        starts or stops compaction as ``settings.compaction`` says; retention and compaction
        apply to the records already there at the log's next retention check."""
        return self._settings

    @settings.setter
    def settings(self, settings: LogSettings) -> None:
        self._settings = settings
        if settings.compaction is None:
            self._cleaner = None
        elif self._cleaner is None:
            self._cleaner = Cleaner(settings.compaction, self._records, self._base, self._start,
                                    self.end_offset)
        else:
            self._cleaner.settings = settings.compaction
        self._weigh()

    def _weigh(self) -> None:
        """Weigh the retained records if a size limit or compaction needs it, else stop."""
        needed = self._retention_bytes is not None or self._cleaner is not None
        if not needed:
            self._stored_bytes = None
        elif self._stored_bytes is None:
            self._stored_bytes = stored_bytes(self._retained())

    def _retained(self) -> list:
        """The entries at the retained offsets (a copy: the caller may hold it)."""
        return self._records[self._start - self._base :]

    # --- block policy: space (called without the broker lock; see log_space) ----------------

    def reserve(self, count: int, timeout: float | None) -> None:
        """Wait until ``count`` more records fit (block policy; a no-op for delete), as
        :meth:`PartitionSpace.reserve <pcmodel.topics.log_space.PartitionSpace.reserve>`."""
        if self._space is not None:
            self._space.reserve(count, timeout)

    def cancel_reservation(self, count: int) -> None:
        """Give back the space :meth:`reserve` took for ``count`` records never appended."""
        if self._space is not None:
            self._space.free(count)

    def space_stats(self) -> Any:
        """The block policy's token buffer's ``BufferStats`` (its "blocked on full" time is how
        long appenders waited for the slowest group), or ``None`` for delete."""
        return None if self._space is None else self._space.stats()

    def close(self) -> None:
        """Wake appenders waiting for space with ``UnknownTopicOrPartitionError``; idempotent."""
        if self._space is not None:
            self._space.close()

    # --- data (called with the broker lock held) ---------------------------------------------

    def append(
        self, records: Sequence[tuple], *, compressed: CompressedBatch | None = None,
        transactional: tuple[int, int] | None = None,
        producer: tuple[int, int, int] | None = None,
    ) -> tuple[int, int, int]:
        """Append records checked by :func:`validate_records`; return ``(base, append_time_ms,
        max_timestamp_ms)``, the last being the largest timestamp of the records as stored
        (Kafka's ``LogAppendInfo.maxTimestamp``).

        ``compressed`` is the same records as one compressed batch: the log keeps only that.
        A record without a timestamp, or every record on a topic whose settings say
        ``log_append_time``, takes the append time as its timestamp (``timestamp_type`` 1).
        With the block policy the caller must have reserved space for them first.
        ``transactional`` is ``(producer_id, producer_epoch)`` for a transactional producer's
        batch: its transaction here is open from its first record on, until its marker.
        ``producer`` is ``(producer_id, producer_epoch, first_sequence)`` of an idempotent
        producer's batch, kept for a fetch to answer (a transactional one's defaults to
        ``transactional`` with sequence -1).
        """
        base = self.end_offset
        append_time = self._timestamp_clock()
        log_append = self.settings.log_append_time
        make = tuple.__new__  # LogRecord(...) without the keyword-handling constructor
        max_timestamp = append_time if log_append else max(
            append_time if ts is None else ts for _, _, _, ts in records)
        if compressed is not None:
            compressed.base_offset, compressed.append_time = base, append_time
            compressed.log_append_time = log_append
            compressed.max_timestamp = max_timestamp
            self._records.extend([compressed] * len(records))
            self._has_compressed = True
        elif log_append:
            self._records.extend(
                make(LogRecord,
                     (base + i, append_time, TIMESTAMP_LOG_APPEND_TIME, key, value, headers))
                for i, (key, value, headers, _) in enumerate(records)
            )
        else:
            self._records.extend(
                make(LogRecord,
                     (base + i, append_time, TIMESTAMP_LOG_APPEND_TIME, key, value, headers))
                if ts is None else
                make(LogRecord, (base + i, ts, TIMESTAMP_CREATE_TIME, key, value, headers))
                for i, (key, value, headers, ts) in enumerate(records)
            )
        if transactional is not None:
            if self.transactions is None:
                self.transactions = PartitionTransactions()
            self.transactions.appended(*transactional, base, self.end_offset - 1)
        producer = producer or (() if transactional is None else (*transactional, -1))
        self._batches.appended(StoredBatch(base, self.end_offset - 1, compressed, *producer))
        if self._stored_bytes is not None:
            weight = compressed.stored_size if compressed is not None else sum(
                record_size(key, value, headers) for key, value, headers, _ in records)
            self._weighed(base, weight, max(map(_TIMESTAMP, self._records[base - self._base:]))
                          if compressed is None else compressed.max_timestamp)
        self.enforce_retention()
        return base, append_time, max_timestamp

    def append_marker(self, producer_id: int, producer_epoch: int, commit: bool,
                      coordinator_epoch: int = 0) -> int:
        """Append the marker that ends ``producer_id``'s transaction here (a COMMIT or ABORT
        :class:`~pcmodel.topics.log_transactions.ControlRecord`, stamped with the append time);
        return its offset. A "block" log holds it beyond its capacity (the transaction's
        coordinator cannot wait for space)."""
        if self.transactions is None:
            self.transactions = PartitionTransactions()
        offset = self.end_offset
        marker = control_record(offset, self._timestamp_clock(), commit, coordinator_epoch)
        self._records.append(marker)
        self._batches.appended(StoredBatch(offset, offset))  # a marker is a batch of its own
        self.transactions.ended(producer_id, producer_epoch, offset, commit)
        if self._stored_bytes is not None:
            self._weighed(offset, record_size(marker.key, marker.value, ()), marker.timestamp)
        self.enforce_retention()
        return offset

    def _weighed(self, base: int, weight: int, max_timestamp: int) -> None:
        """Records weighing ``weight`` were appended at ``base``: count them for retention by
        size and for compaction (which may roll its active segment)."""
        self._stored_bytes += weight
        if self._cleaner is not None:
            self._cleaner.appended(base, weight, max_timestamp)

    def read(
        self, offset: int, max_records: int, *, upper: int | None = None
    ) -> list[LogRecord]:
        """Return up to ``max_records`` records from ``offset`` on (empty at the end of the log).

        ``upper`` (exclusive) bounds what is returned, as the high watermark bounds a consumer's
        read; ``None`` reads up to ``end_offset``. Raises ``OffsetOutOfRangeError`` if ``offset``
        is below ``log_start_offset`` or beyond ``end_offset``.
        """
        self.enforce_retention()
        self.check_offset(offset)
        return self._read_kept(offset, max_records, upper)

    def _read_kept(self, offset: int, max_records: int, upper: int | None) -> list[LogRecord]:
        """:meth:`read` from any offset still kept: also below the log start, in a batch it cuts."""
        lo = offset - self._base
        if not self._has_holes:
            hi = lo + max_records
            if upper is not None:
                hi = min(hi, upper - self._base)
        else:  # compacted: skip the offsets cleaned away, still returning max_records records
            stop = len(self._records) if upper is None else min(len(self._records),
                                                                upper - self._base)
            hi, found = lo, 0
            while hi < stop and found < max_records:
                found += self._records[hi] is not None
                hi += 1
        return self._materialize(self._records[lo:hi], offset) if hi > lo else []

    def _materialize(self, entries: list, first_offset: int) -> list[LogRecord]:
        """``entries`` (from ``first_offset`` on) as records: compressed batches decoded, the
        offsets compaction removed left out."""
        if not self._has_compressed:
            return [e for e in entries if e is not None] if self._has_holes else entries
        out = []
        for i, entry in enumerate(entries):
            if entry is None:
                continue
            if type(entry) is CompressedBatch:
                batch, decoded = self._decoded
                if batch is not entry:
                    make = tuple.__new__
                    decoded = [make(LogRecord, rec) for rec in entry.decode()]
                    self._decoded = (entry, decoded)
                entry = decoded[first_offset + i - entry.base_offset]
            out.append(entry)
        return out

    def byte_stats(self) -> LogBytes:
        """Stored against uncompressed bytes of the retained records (see :class:`LogBytes`)."""
        self.enforce_retention()
        uncompressed = 0
        batches: set[int] = set()
        retained = self._retained()
        records = 0
        for entry in retained:
            if entry is None:
                continue
            records += 1
            if type(entry) is CompressedBatch:
                if id(entry) not in batches:
                    batches.add(id(entry))
                    uncompressed += entry.uncompressed_size
            else:
                uncompressed += record_size(entry.key, entry.value, entry.headers)
        stored = stored_bytes(retained) if self._stored_bytes is None else self._stored_bytes
        return LogBytes(records, stored, uncompressed, len(batches))

    def check_offset(self, offset: int) -> None:
        """Raise ``OffsetOutOfRangeError`` unless ``log_start_offset <= offset <= end_offset``."""
        if not self._start <= offset <= self.end_offset:
            raise OffsetOutOfRangeError(
                f"offset {offset} is outside the retained range "
                f"[{self._start}, {self.end_offset}] of this partition"
            )

    def max_timestamp(self) -> tuple[int, int] | None:
        """The ``(offset, timestamp)`` of the first retained record with the largest timestamp
        (Kafka's ListOffsets ``MAX_TIMESTAMP``); ``None`` if the log is empty.

        As Kafka's: a segment's largest timestamp starts at ``NO_TIMESTAMP`` (-1) and only a
        larger one replaces it (``LogSegment.maxTimestampSoFar``), so in a log whose records
        all carry negative timestamps (from Kafka clients) the answer is the first record with
        -1, and ``None`` if none has -1 (every timestamp below it)."""
        self.enforce_retention()
        best = None
        for rec in self._materialize(self._retained(), self._start):
            if rec.timestamp >= NO_TIMESTAMP and (best is None or rec.timestamp > best[1]):
                best = (rec.offset, rec.timestamp)
        return best

    def offset_for_time(self, timestamp_ms: int) -> tuple[int, int] | None:
        """The first retained ``(offset, timestamp)`` with a timestamp >= ``timestamp_ms``."""
        self.enforce_retention()
        for rec in self._materialize(self._retained(), self._start):
            if rec.timestamp >= timestamp_ms:
                return rec.offset, rec.timestamp
        return None
