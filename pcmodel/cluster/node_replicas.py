"""What a cluster node tells of the replicas it hosts, leader or follower (a mixin of
:class:`~pcmodel.cluster.node.ClusterNode`): their producers, their log directory, their
offsets and records, read from the local broker as they are, with no leadership check.

Called with the cluster lock held; nothing here blocks.

Prior art: Kafka ``ReplicaManager`` (``activeProducerState``, ``describeLogDirs``,
``alterReplicaLogDirs``) and the broker's ``ProducerStateManager`` expiration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pcmodel.topics.broker_log_dirs import describe_log_dir, log_dir_move
from pcmodel.topics.errors import KafkaError
from pcmodel.topics.log import LogRecord
from pcmodel.topics.structs import ActiveProducer, LogDirDescription, TopicPartition

__all__ = ["LocalReplicas"]


class LocalReplicas:
    """The node's answers about its own replicas. Needs ``node_id``, ``broker``, ``log_dir``,
    ``replicas``, ``producer_id_expiration_ms`` and ``_local_replica(tp)``."""

    node_id: int
    broker: Any
    log_dir: str
    replicas: dict[TopicPartition, Any]
    producer_id_expiration_ms: int
    timestamp_clock: Callable[[], int]

    def describe_producers(self, tp: TopicPartition) -> tuple[ActiveProducer, ...]:
        """The idempotent producers this broker's replica of ``tp`` remembers, leader or
        follower (Kafka's ``Partition.activeProducerState``): a follower copies the producer
        batches with the records, so it knows what the leader knows up to its log end. Each
        with where its transaction open there began (``-1`` if none is).
        Raises ``NotLeaderForPartitionError`` if this broker holds no replica of ``tp``,
        ``UnknownTopicOrPartitionError`` if it knows no such topic."""
        replica = self._local_replica(tp)
        open_at = replica.open_transactions
        return tuple(p._replace(current_transaction_start_offset=open_at.get(p.producer_id, -1))
                     for p in replica.producers.active())

    def expire_producers(self, now_ms: int | None = None) -> dict[TopicPartition, tuple[int, ...]]:
        """Every replica here forgets the producers expired at ``now_ms`` (epoch ms; default:
        the broker's wall clock, which it stamps records with; see
        :meth:`~pcmodel.cluster.producers.ProducerState.expire`); returns their ids, per
        partition (those with any)."""
        if now_ms is None:
            now_ms = self.timestamp_clock()
        forgotten = {}
        for tp, replica in sorted(self.replicas.items()):
            expired = replica.producers.expire(now_ms, self.producer_id_expiration_ms,
                                               replica.open_transactions)
            if expired:
                forgotten[tp] = expired
        return forgotten

    def describe_log_dirs(self, partitions: Iterable[TopicPartition] | None = None,
                          ) -> tuple[LogDirDescription, ...]:
        """This broker's log directory and the replicas it hosts in it (of ``partitions``, or
        all for ``None``), as Kafka's DescribeLogDirs answers: sizes of what each replica
        retains, the volume's bytes for a directory on disk."""
        asked = None if partitions is None else set(map(TopicPartition._make, partitions))
        hosted = [tp for tp in sorted(self.replicas) if asked is None or tp in asked]
        return (describe_log_dir(self.log_dir, self.broker.replica_infos(hosted)),)

    def alter_replica_log_dirs(self, targets: Mapping[TopicPartition, str],
                               existing: Iterable[TopicPartition],
                               ) -> dict[TopicPartition, KafkaError | None]:
        """AlterReplicaLogDirs on this broker, which has one log directory: nothing moves (see
        :func:`~pcmodel.topics.broker_log_dirs.log_dir_move`); ``existing`` are the partitions
        the controller has."""
        known = set(existing)
        return {tp: log_dir_move(self.log_dir, tp, target, hosted=tp in self.replicas,
                                 exists=tp in known)
                for tp, target in targets.items()}

    def local_offsets(self, tp: TopicPartition) -> tuple[int, int, int]:
        """``(log_start_offset, log_end_offset, high_watermark)`` of the local replica of
        ``tp``; zeros while there is none yet (a reassignment added this broker, which was
        down or has not heard of it)."""
        replica = self.replicas.get(tp)
        return (0, 0, 0) if replica is None else replica.offsets

    def local_records(self, tp: TopicPartition) -> list[LogRecord]:
        """Every record of the local replica of ``tp``, committed or not (for checks and
        lessons); ``[]`` while there is none."""
        start, leo, _ = self.local_offsets(tp)
        if leo == start:
            return []
        return list(self.broker.fetch({tp: start}, max_records=leo - start,
                                      replica_id=self.node_id)[tp].records)
