"""The broker's replica calls: what :mod:`pcmodel.cluster` does to a local partition log.

:class:`ReplicaLogsMixin` is the part of :class:`~pcmodel.topics.broker.Broker` a cluster node
uses to keep a follower's log a copy of the leader's: read its offsets, append the leader's
records at the leader's offsets, truncate or restart it, move its start (DeleteRecords), and
move the high watermark that consumers read up to (waking their long polls). These are not
client methods (:data:`~pcmodel.topics.broker.CLIENT_METHODS`): clients never call them.

Prior art: Kafka's ``Partition`` / ``Log`` replica operations
(``appendRecordsToFollowerOrFutureReplica``, ``truncateTo``, ``truncateFullyAndStartAt``,
``maybeIncrementLogStartOffset``, ``maybeIncrementLeaderHW``).
"""

from __future__ import annotations

from collections.abc import Sequence

from pcmodel.topics.log_records import LogRecord
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

    def append_replica(self, topic: str, partition: int, records: Sequence[LogRecord]) -> int:
        """Copy a leader's records into this broker's log at the leader's offsets.

        Returns the new log end offset. Raises ``ValueError`` unless the batch continues the
        log exactly (truncate first), ``UnknownTopicOrPartitionError`` for an unknown partition.
        """
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            log = self._log(tp)
            log.append_copy(records)
            return log.end_offset

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
