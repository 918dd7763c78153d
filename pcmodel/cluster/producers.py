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

Each replica also forgets, by itself, a producer whose newest batch is older than
``producer.id.expiration.ms`` (:meth:`ProducerState.expire`, run by the broker's periodic
work); a replica that does not know a producer takes its next batch whatever its sequence
number (KIP-360), as on a lone broker (:mod:`pcmodel.topics.idempotence`).

Prior art: Kafka ``ProducerStateManager`` / ``ProducerAppendInfo`` (five batches per producer,
matching ``max.in.flight.requests.per.connection <= 5``), KIP-98.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from pcmodel.topics.broker import AppendResult
from pcmodel.topics.errors import InvalidProducerEpochError, OutOfOrderSequenceNumberError
from pcmodel.topics.idempotence import producer_expired
from pcmodel.topics.structs import ActiveProducer

__all__ = ["BATCHES_REMEMBERED", "BatchInfo", "ProducerState", "appended_batch"]

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


def appended_batch(producer: tuple[int, int, int], appended: AppendResult,
                   count: int) -> BatchInfo:
    """The :class:`BatchInfo` of ``count`` records a leader appended for ``producer``
    (``(producer_id, producer_epoch, first_sequence)``), where ``appended`` says."""
    return BatchInfo(*producer, appended.base_offset, count, appended.log_append_time_ms,
                     appended.max_timestamp_ms)


class ProducerState:
    """The batches of idempotent producers in one replica's log, in offset order."""

    def __init__(self) -> None:
        self._batches: list[BatchInfo] = []
        self._recent: dict[int, list[BatchInfo]] = defaultdict(list)

    def check(self, producer_id: int, producer_epoch: int, first_sequence: int,
              count: int) -> BatchInfo | None:
        """Decide about a new batch: ``None`` to append it, or the original batch it repeats.

        Invariant: a (producer, sequence) pair is in the log at most once, and each producer's
        sequences in the log have no gaps. A producer this replica does not know (never did,
        or forgot) starts at any sequence; a new epoch of one it knows starts at 0. Raises
        ``OutOfOrderSequenceNumberError`` for a gap and ``InvalidProducerEpochError`` for an
        epoch older than the producer's newest.
        """
        recent = self._recent.get(producer_id, [])
        if recent and producer_epoch < recent[-1].producer_epoch:
            raise InvalidProducerEpochError(
                f"producer {producer_id} wrote with epoch {producer_epoch}, its newest is "
                f"{recent[-1].producer_epoch}")
        for batch in recent:
            if (batch.producer_epoch, batch.first_sequence, batch.count) == (
                    producer_epoch, first_sequence, count):
                return batch
        if not recent:
            expected = first_sequence
        elif recent[-1].producer_epoch == producer_epoch:
            expected = recent[-1].first_sequence + recent[-1].count
        else:
            expected = 0
        if first_sequence != expected:
            raise OutOfOrderSequenceNumberError(
                f"producer {producer_id} sent sequence {first_sequence}; this replica expected "
                f"{expected}")
        return None

    def record(self, batch: BatchInfo) -> None:
        """Note a batch appended (by the leader) or copied (by a follower)."""
        self._batches.append(batch)
        recent = self._recent[batch.producer_id]
        recent.append(batch)
        del recent[:-BATCHES_REMEMBERED]

    def active(self) -> tuple[ActiveProducer, ...]:
        """Every producer with a batch in this log, by producer id, as its newest batch
        leaves it: epoch, last sequence number and largest timestamp (Kafka's
        ``ProducerStateManager.activeProducers``, which DescribeProducers answers)."""
        return tuple(
            ActiveProducer(producer_id, last.producer_epoch,
                           last.first_sequence + last.count - 1, last.max_timestamp)
            for producer_id, recent in sorted(self._recent.items()) if recent
            for last in (recent[-1],))

    def expire(self, now_ms: int, expiration_ms: int) -> tuple[int, ...]:
        """Forget each producer whose newest batch has a largest timestamp ``expiration_ms``
        or more before ``now_ms`` (epoch ms), with its batches (a truncation does not bring it
        back; a follower copying older records does not learn it). Returns their ids."""
        expired = tuple(producer_id for producer_id, recent in sorted(self._recent.items())
                        if recent and producer_expired(recent[-1].max_timestamp, now_ms,
                                                       expiration_ms))
        if expired:
            gone = set(expired)
            self._batches = [b for b in self._batches if b.producer_id not in gone]
            for producer_id in expired:
                del self._recent[producer_id]
        return expired

    def batches_from(self, offset: int, end: int) -> tuple[BatchInfo, ...]:
        """The batches with a record in ``[offset, end)``: what a follower copies with those
        records. A batch longer than one fetch is listed with each part of it; the follower
        keeps it once it has the whole."""
        return tuple(b for b in self._batches
                     if b.base_offset < end and b.base_offset + b.count > offset)

    def truncate(self, offset: int) -> None:
        """Forget batches at or above ``offset`` (the records went), and rebuild the recent
        batches of every producer from what is left."""
        self._batches = [b for b in self._batches if b.base_offset + b.count <= offset]
        self._recent = defaultdict(list)
        for batch in self._batches:
            recent = self._recent[batch.producer_id]
            recent.append(batch)
            del recent[:-BATCHES_REMEMBERED]
