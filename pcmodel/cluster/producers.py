"""Idempotent producers on a replicated partition: sequence numbers that survive a new leader.

An idempotent producer gets a producer id once (from the controller) and numbers the records
it sends to each partition 0, 1, 2, ...; a batch carries its first sequence number. The leader
appends a batch only if it continues the producer's sequence; a retry of one of the last five
batches (its acknowledgement was lost: a timeout, a dead leader) is answered with the original
offsets and not appended again.

What makes this work across leader changes is that the producer state is *part of the log*:
each replica keeps, next to its records, the batch each producer wrote at which offset
(:class:`BatchInfo`). Followers copy that with the records, truncation drops it with them, and a
follower that becomes leader therefore knows every producer's last sequence numbers for exactly
the records it has — as a Kafka broker rebuilds its producer state from the batch headers of its
log.

A transactional producer's transaction ends in each partition with a *marker* written by the
transaction coordinator (:class:`MarkerInfo`), which carries the producer's epoch. A marker
fences the producer's older epochs in the partition: after a marker at epoch E, a batch (or
another marker) of that producer with an epoch below E is refused with
``InvalidProducerEpochError``, as a coordinator that bumped the epoch to abort a zombie's
transaction expects. Markers are part of the log too, so this holds on a follower that copied
the marker and then became leader, after a truncation (which forgets the markers it cut), and
after a restart (the journal replays them).

Each replica also forgets, by itself, a producer whose newest batch (or marker) is older than
``producer.id.expiration.ms`` (:meth:`ProducerState.expire`, run by the broker's periodic
work), unless its transaction is open there; a replica that does not know a producer takes its
next batch whatever its sequence number (KIP-360), as on a lone broker
(:mod:`pcmodel.topics.idempotence`).

Prior art: Kafka ``ProducerStateManager`` / ``ProducerAppendInfo`` (five batches per producer,
matching ``max.in.flight.requests.per.connection <= 5``; ``appendEndTxnMarker``, which
checks and updates the producer's epoch and coordinator epoch), KIP-98.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import NamedTuple

from pcmodel.topics.broker import AppendResult
from pcmodel.topics.errors import InvalidProducerEpochError, OutOfOrderSequenceNumberError
from pcmodel.topics.idempotence import fence_older_coordinator, producer_expired
from pcmodel.topics.structs import ActiveProducer

__all__ = ["BATCHES_REMEMBERED", "BatchInfo", "MarkerInfo", "ProducerState", "appended_batch"]

#: Recent batches remembered per producer (Kafka's, for up to 5 requests in flight).
BATCHES_REMEMBERED = 5


class BatchInfo(NamedTuple):
    """Producer ``producer_id`` (at ``producer_epoch``) wrote sequences ``first_sequence ..
    first_sequence + count - 1`` at offsets ``base_offset .. base_offset + count - 1``.

    ``log_append_time`` is the leader's append time on a topic that stamps records with it
    (``-1`` otherwise): a retry of the batch is answered with it, as with its offsets.
    ``max_timestamp`` is the batch's largest timestamp as stored: the producer's last
    timestamp, which DescribeProducers shows.
    """

    producer_id: int
    producer_epoch: int
    first_sequence: int
    base_offset: int
    count: int
    log_append_time: int = -1
    max_timestamp: int = -1


class MarkerInfo(NamedTuple):
    """Producer ``producer_id``'s transaction ended at ``offset`` with a marker written at
    ``producer_epoch`` by a coordinator of ``coordinator_epoch``; ``timestamp`` is the
    marker's (the producer's last activity in the partition, for its expiration)."""

    producer_id: int
    producer_epoch: int
    offset: int
    coordinator_epoch: int = 0
    timestamp: int = -1


def appended_batch(producer: tuple[int, int, int], appended: AppendResult,
                   count: int) -> BatchInfo:
    """The :class:`BatchInfo` of ``count`` records a leader appended for ``producer``
    (``(producer_id, producer_epoch, first_sequence)``), where ``appended`` says."""
    return BatchInfo(*producer, appended.base_offset, count, appended.log_append_time_ms,
                     appended.max_timestamp_ms)


class ProducerState:
    """The batches of idempotent producers in one replica's log, and the markers of
    transactional ones, in offset order."""

    def __init__(self) -> None:
        self._batches: list[BatchInfo] = []
        self._recent: dict[int, list[BatchInfo]] = defaultdict(list)
        self._markers: list[MarkerInfo] = []
        self._last_marker: dict[int, MarkerInfo] = {}

    def check(self, producer_id: int, producer_epoch: int, first_sequence: int,
              count: int) -> BatchInfo | None:
        """Decide about a new batch: ``None`` to append it, or the original batch it repeats.

        Invariant: a (producer, sequence) pair is in the log at most once, and each producer's
        sequences in the log have no gaps. A producer this replica does not know (never did,
        or forgot) starts at any sequence; a new epoch of one it knows starts at 0 (so does
        the epoch a marker brought, as Kafka's producer state starts that epoch afresh).
        Raises ``OutOfOrderSequenceNumberError`` for a gap and ``InvalidProducerEpochError``
        for an epoch older than the producer's newest, its markers' included.
        """
        self.check_epoch(producer_id, producer_epoch)
        recent = self._recent.get(producer_id, [])
        for batch in recent:
            if (batch.producer_epoch, batch.first_sequence, batch.count) == (
                    producer_epoch, first_sequence, count):
                return batch
        if recent and recent[-1].producer_epoch == producer_epoch:
            expected = recent[-1].first_sequence + recent[-1].count
        elif self.newest_epoch(producer_id) is None:
            expected = first_sequence
        else:
            expected = 0
        if first_sequence != expected:
            raise OutOfOrderSequenceNumberError(
                f"producer {producer_id} sent sequence {first_sequence}; this replica expected "
                f"{expected}")
        return None

    def newest_epoch(self, producer_id: int) -> int | None:
        """The producer's newest epoch in this log, from its batches and its markers
        (``None`` for a producer this replica does not know)."""
        recent = self._recent.get(producer_id)
        marker = self._last_marker.get(producer_id)
        epochs = ([recent[-1].producer_epoch] if recent else []) + (
            [marker.producer_epoch] if marker is not None else [])
        return max(epochs, default=None)

    def check_epoch(self, producer_id: int, producer_epoch: int) -> None:
        """Raise ``InvalidProducerEpochError`` if ``producer_epoch`` is older than the
        producer's newest here: its batches', or the epoch its last marker fenced it at (a
        leader checks every batch and every marker with this; Kafka's
        ``checkProducerEpoch``)."""
        newest = self.newest_epoch(producer_id)
        if newest is not None and producer_epoch < newest:
            raise InvalidProducerEpochError(
                f"producer {producer_id} wrote with epoch {producer_epoch}, its newest is "
                f"{newest}: a newer instance of it, or its transaction coordinator, fenced "
                "that epoch")

    def check_coordinator_epoch(self, producer_id: int, coordinator_epoch: int) -> None:
        """Raise ``TransactionCoordinatorFencedError`` if ``coordinator_epoch`` is older than
        that of the producer's last marker here: the marker comes from a deposed coordinator
        (a leader checks every marker with this; Kafka's ``checkCoordinatorEpoch``)."""
        marker = self._last_marker.get(producer_id)
        fence_older_coordinator(producer_id, None if marker is None else marker.coordinator_epoch,
                                coordinator_epoch, "here")

    def record(self, batch: BatchInfo) -> None:
        """Note a batch appended (by the leader) or copied (by a follower)."""
        self._batches.append(batch)
        recent = self._recent[batch.producer_id]
        recent.append(batch)
        del recent[:-BATCHES_REMEMBERED]

    def record_marker(self, marker: MarkerInfo) -> None:
        """Note a transaction marker appended (by the leader) or copied (by a follower):
        from now on the producer's epochs below the marker's are fenced here."""
        self._markers.append(marker)
        self._last_marker[marker.producer_id] = marker

    def active(self) -> tuple[ActiveProducer, ...]:
        """Every producer with a batch or a marker in this log, by producer id, as its newest
        ones leave it: epoch, last sequence number of that epoch (``-1`` if a marker began
        the epoch), largest timestamp and the coordinator epoch of its last marker (``-1``
        without one) (Kafka's ``ProducerStateManager.activeProducers``, which
        DescribeProducers answers)."""
        found = []
        for producer_id in sorted(self._known()):
            recent = self._recent.get(producer_id)
            last = recent[-1] if recent else None
            marker = self._last_marker.get(producer_id)
            epoch = self.newest_epoch(producer_id)
            sequence = -1 if last is None or last.producer_epoch != epoch else \
                last.first_sequence + last.count - 1
            found.append(ActiveProducer(
                producer_id, epoch, sequence, self._last_timestamp(producer_id),
                -1 if marker is None else marker.coordinator_epoch))
        return tuple(found)

    def expire(self, now_ms: int, expiration_ms: int,
               in_transaction: Collection[int] = ()) -> tuple[int, ...]:
        """Forget each producer whose newest batch (or marker) has a largest timestamp
        ``expiration_ms`` or more before ``now_ms`` (epoch ms), with its batches and markers
        (a truncation does not bring it back; a follower copying older records does not learn
        it); never one of ``in_transaction``, whose transaction is open in the log (Kafka
        keeps those until their marker). Returns their ids."""
        expired = tuple(producer_id for producer_id in sorted(self._known())
                        if producer_id not in in_transaction and producer_expired(
                            self._last_timestamp(producer_id), now_ms, expiration_ms))
        if expired:
            gone = set(expired)
            self._batches = [b for b in self._batches if b.producer_id not in gone]
            self._markers = [m for m in self._markers if m.producer_id not in gone]
            for producer_id in expired:
                self._recent.pop(producer_id, None)
                self._last_marker.pop(producer_id, None)
        return expired

    def batches_from(self, offset: int, end: int) -> tuple[BatchInfo, ...]:
        """The batches with a record in ``[offset, end)``: what a follower copies with those
        records. A batch longer than one fetch is listed with each part of it; the follower
        keeps it once it has the whole (:meth:`Replica.copy_records
        <pcmodel.cluster.replica.Replica.copy_records>`)."""
        return tuple(b for b in self._batches
                     if b.base_offset < end and b.base_offset + b.count > offset)

    def truncate(self, offset: int) -> None:
        """Forget batches and markers at or above ``offset`` (the records went), and rebuild
        the recent batches and the last marker of every producer from what is left."""
        self._batches = [b for b in self._batches if b.base_offset + b.count <= offset]
        self._recent = defaultdict(list)
        for batch in self._batches:
            recent = self._recent[batch.producer_id]
            recent.append(batch)
            del recent[:-BATCHES_REMEMBERED]
        self._markers = [m for m in self._markers if m.offset < offset]
        self._last_marker = {m.producer_id: m for m in self._markers}

    def _known(self) -> set[int]:
        """The producers with a batch or a marker remembered here."""
        return {pid for pid, recent in self._recent.items() if recent} | set(self._last_marker)

    def _last_timestamp(self, producer_id: int) -> int:
        """The largest timestamp of the producer's newest batch and last marker here."""
        recent = self._recent.get(producer_id)
        marker = self._last_marker.get(producer_id)
        return max(recent[-1].max_timestamp if recent else -1,
                   -1 if marker is None else marker.timestamp)
