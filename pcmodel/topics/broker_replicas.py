"""The broker's replica calls: what :mod:`pcmodel.cluster` does to a local partition log.

:class:`ReplicaLogsMixin` is the part of :class:`~pcmodel.topics.broker.Broker` a cluster node
uses to keep a follower's log a copy of the leader's: read its offsets, append the leader's
records at the leader's offsets and keep the leader's batches over them, truncate or restart
it, move its start (DeleteRecords), and move the high watermark that consumers read up to
(waking their long polls). These are not client methods
(:data:`~pcmodel.topics.broker.CLIENT_METHODS`): clients never call them.

A partition's leader appends producers' batches and transaction markers here too
(:meth:`ReplicaLogsMixin.append_as_leader`, :meth:`ReplicaLogsMixin.append_marker_as_leader`):
through the broker's own checks of a batch (size, timestamps, keys, codec), except that a
transactional batch is not checked against this broker's transaction coordinator. A
cluster's coordinator is elsewhere, and checked that the partition is in the transaction
before it let the producer send the batch.

Prior art: Kafka's ``Partition`` / ``Log`` replica operations
(``appendRecordsToLeader``, ``appendRecordsToFollowerOrFutureReplica``, ``truncateTo``,
``truncateFullyAndStartAt``, ``maybeIncrementLogStartOffset``, ``maybeIncrementLeaderHW``);
``ReplicaManager.appendRecords`` with ``AppendOrigin.COORDINATOR`` for the markers
(WriteTxnMarkers).
"""

from __future__ import annotations

from collections.abc import Sequence

from pcmodel.topics.broker_checks import _check_flag
from pcmodel.topics.broker_results import AppendResult
from pcmodel.topics.errors import IllegalArgumentError
from pcmodel.topics.log_batches import StoredBatch
from pcmodel.topics.log_records import LogRecord, NewRecord
from pcmodel.topics.log_transactions import TransactionalBatch
from pcmodel.topics.structs import validate_topic_partition

__all__ = ["ReplicaLogsMixin"]


class ReplicaLogsMixin:
    """Replica log operations for :mod:`pcmodel.cluster` (Broker part; not client methods)."""

    def replica_offsets(self, topic: str, partition: int) -> tuple[int, int, int]:
        """``(log_start_offset, log_end_offset, high_watermark)`` of one local partition log."""
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            log = self._log(tp)
            return log.log_start_offset, log.end_offset, log.high_watermark

    def replica_open_transactions(self, topic: str, partition: int) -> dict[int, int]:
        """The transactions open in one local log: ``{producer_id: first offset}`` (the
        first offset of the oldest one is what holds the last stable offset)."""
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            transactions = self._log(tp).transactions
            return {} if transactions is None else dict(transactions.open)

    def append_as_leader(
        self,
        topic: str,
        partition: int,
        records: Sequence[NewRecord | tuple],
        *,
        compression: str | None = None,
        batch_bytes: int | None = None,
        producer: tuple[int, int, int] | None = None,
        transactional: bool = False,
    ) -> AppendResult:
        """Append a producer's batch to the local log of a partition this broker leads.

        Checked and stored as :meth:`append` does (``compression``, ``batch_bytes``), but
        never waiting: a replicated topic has no ``"block"`` policy. ``producer`` is
        ``(producer_id, producer_epoch, first_sequence)`` of an idempotent producer's batch
        (stored for a fetch to send as written; checking the sequence numbers is the replica's
        business, :mod:`pcmodel.cluster.producers`). With ``transactional`` the
        batch opens (or continues) the producer's transaction here, which holds the last stable
        offset until its marker; this broker's own coordinator is not asked (the cluster's
        coordinator checked the partition is in the transaction). A plain batch of a producer
        whose transaction is open here is refused with ``InvalidTxnStateError``. Raises what
        :meth:`append` raises, and ``IllegalArgumentError`` for a transactional batch without
        a producer; nothing is appended then.
        """
        _check_flag("transactional", transactional)
        if transactional and producer is None:
            raise IllegalArgumentError("a transactional batch needs its producer "
                                       "(producer_id, producer_epoch)")
        return self._append(topic, partition, records, None, compression, batch_bytes,
                            None if producer is None else (*producer[:2], transactional),
                            coordinator_check=False,
                            first_sequence=-1 if producer is None else producer[2])

    def append_marker_as_leader(self, topic: str, partition: int, producer_id: int,
                                producer_epoch: int, commit: bool,
                                coordinator_epoch: int = 0) -> AppendResult:
        """Append the COMMIT (or ABORT) marker of ``producer_id``'s transaction to the local
        log of a partition this broker leads (Kafka's WriteTxnMarkers at the leader): the
        transaction is over here, and the last stable offset passes it once the marker is
        below the high watermark. Returns where the marker went (``base_offset``) and its
        timestamp (``max_timestamp_ms``). Raises ``UnknownTopicOrPartitionError``.
        """
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            self._check_open()
            log = self._log(tp)
            offset = log.append_marker(producer_id, producer_epoch, commit, coordinator_epoch)
            self._data_arrived.notify_all()
            marker = log.read(offset, 1)[0]
            return AppendResult(offset, log.log_start_offset, -1, marker.timestamp)

    def append_replica(
        self, topic: str, partition: int, records: Sequence[LogRecord],
        transactional_batches: Sequence[TransactionalBatch] = (),
    ) -> int:
        """Copy a leader's records into this broker's log at the leader's offsets, with the
        leader's transactional batches and markers among them (as its fetch lists them).

        Returns the new log end offset. Raises ``ValueError`` unless the batch continues the
        log exactly (truncate first), ``UnknownTopicOrPartitionError`` for an unknown partition.
        """
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            log = self._log(tp)
            log.append_copy(records, transactional_batches)
            return log.end_offset

    def copy_replica_batches(self, topic: str, partition: int,
                             batches: Sequence[StoredBatch]) -> None:
        """Keep the leader's producers' ``batches`` (its fetch's ``batches``) over the records
        :meth:`append_replica` just copied, so that a fetch of this log answers the leader's
        batches (see :meth:`PartitionLog.copy_batches
        <pcmodel.topics.log_replica.ReplicaLogMixin.copy_batches>`). Raises
        ``UnknownTopicOrPartitionError`` for an unknown partition."""
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            self._log(tp).copy_batches(batches)

    def truncate_replica(self, topic: str, partition: int, offset: int) -> int:
        """Remove the records at ``offset`` and above from one local log; return how many."""
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            return self._log(tp).truncate_to(offset)

    def restart_replica_at(self, topic: str, partition: int, offset: int) -> None:
        """Empty one local log and start it at ``offset`` (a follower behind the leader's start)."""
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            self._log(tp).restart_at(offset)
            self._data_arrived.notify_all()

    def advance_replica_start(self, topic: str, partition: int, offset: int) -> int:
        """Delete one local log's records below ``offset`` (never past its end): a leader's
        DeleteRecords, or a follower taking its leader's log start. Returns the log start."""
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            log = self._log(tp)
            log.delete_before(offset)
            return log.log_start_offset

    def set_high_watermark(self, topic: str, partition: int, offset: int) -> None:
        """Make the records below ``offset`` of one local log visible to consumers.

        Wakes consumers long-polling for them: on a replicated partition data becomes readable
        when it is committed, not when it is appended.
        """
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            self._log(tp).set_high_watermark(offset)
            self._data_arrived.notify_all()
