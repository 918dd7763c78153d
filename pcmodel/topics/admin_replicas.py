"""The replica half of :class:`~pcmodel.topics.admin.KafkaAdminClient`: what each replica's
broker holds of it, the idempotent producers it remembers and the log directory it lives in.

``describe_producers`` (Kafka's DescribeProducers), ``describe_log_dirs`` and
``alter_replica_log_dirs`` (DescribeLogDirs, AlterReplicaLogDirs), with kafka-python 3's
arguments, results and errors. Each is asked of one broker: a partition's leader, or the
broker named, as the Java admin client asks.

Prior art: kafka-python's ``kafka/admin/_cluster.py`` and ``kafka/admin/_transactions.py``,
and the Java ``Admin`` interface (``describeProducers``, ``describeLogDirs``,
``alterReplicaLogDirs``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pcmodel.topics.broker_checks import _check_mapping, _check_partitions
from pcmodel.topics.errors import IllegalArgumentError, KafkaError
from pcmodel.topics.errors.base import error_detail
from pcmodel.topics.structs import (
    LogDirDescription,
    PartitionProducers,
    TopicPartition,
    TopicPartitionReplica,
)

__all__ = ["ReplicaAdminMixin"]


def _log_dir_dict(described: LogDirDescription) -> dict[str, Any]:
    """A log directory as kafka-python 3 hands out DescribeLogDirs' result."""
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for tp, info in described.replicas.items():
        by_topic.setdefault(tp.topic, []).append({
            "partition_index": tp.partition, "partition_size": info.size,
            "offset_lag": info.offset_lag, "is_future_key": info.is_future})
    return {"error_code": 0 if described.error is None else described.error.errno,
            "log_dir": described.path,
            "topics": [{"name": name, "partitions": partitions}
                       for name, partitions in by_topic.items()],
            "total_bytes": described.total_bytes, "usable_bytes": described.usable_bytes,
            "is_cordoned": False}


class ReplicaAdminMixin:
    """Replica administration (KafkaAdminClient part: the client provides ``_conn``,
    ``_check_open()``, ``_replicated()``, ``_check_broker_ids()``, ``_live_brokers()`` and
    ``_partitions_named()``)."""

    def describe_producers(
        self, partitions: Iterable[TopicPartition], broker_id: int | None = None,
    ) -> dict[TopicPartition, PartitionProducers]:
        """The idempotent producers each partition remembers (Kafka's DescribeProducers).

        ``partitions``: :class:`~pcmodel.topics.structs.TopicPartition` entries. Each is asked
        of its leader, or of broker ``broker_id`` (a follower's replica answers too: it copies
        the producers' batches with the records). Returns ``{partition: PartitionProducers}``
        in the order asked; ``.active_producers`` lists one
        :class:`~pcmodel.topics.structs.ActiveProducer` per producer id that wrote there (its
        epoch, last sequence number, last timestamp), as kafka-python 3's
        ``PartitionProducerState`` does. Raises as kafka-python does, the first failed
        partition's error: ``UnknownTopicOrPartitionError``, ``NotLeaderForPartitionError``
        from a broker that holds no replica of it; ``IllegalArgumentError`` for a
        ``broker_id`` that is not a broker (a lone broker is broker 0); ``TypeError`` for
        ``partitions`` that are not a list (a bare str, a mapping, a single partition) or an
        entry that is not a ``TopicPartition``, before any broker is asked.
        """
        self._check_open()
        asked = _check_partitions("partitions", partitions)
        if self._replicated():
            answers = self._conn.describe_producers(asked, broker_id)
        elif broker_id is None or (broker_id == 0 and not isinstance(broker_id, bool)):
            answers = self._conn.describe_producers(asked)
        else:
            raise IllegalArgumentError(
                f"broker_id {broker_id!r} is not a broker here; a lone broker is broker 0")
        for tp, answer in answers.items():
            if answer.error is not None:
                error = answer.error
                raise type(error)(f"DescribeProducers failed for {tp.topic}-{tp.partition}: "
                                  f"{error_detail(error)}")
        return answers

    def describe_log_dirs(
        self, topic_partitions: Mapping[str, Iterable[int]] | Iterable[str] | None = None,
        brokers: Iterable[int] | None = None,
    ) -> list[dict[str, Any]]:
        """Each broker's log directory and the replicas in it (Kafka's DescribeLogDirs).

        ``topic_partitions``: ``{topic: [partition ids]}``, a list of topics (all their
        partitions), or ``None`` for every partition, as in kafka-python; ``brokers``: the
        broker ids to ask, or ``None`` for every live one. Returns kafka-python 3's answer:
        ``[{"broker": id, "log_dirs": [{"error_code", "log_dir", "topics": [{"name",
        "partitions": [{"partition_index", "partition_size", "offset_lag",
        "is_future_key"}]}], "total_bytes", "usable_bytes", "is_cordoned"}]}]``. A broker
        has one log directory, never cordoned: ``"(memory)"`` for a lone broker and the
        brokers of a cluster of threads (``total_bytes`` and ``usable_bytes`` are then -1),
        the directory of its journals for a broker process; ``partition_size`` counts the
        bytes a replica retains as ``retention.bytes`` counts them (see
        :mod:`pcmodel.topics.broker_log_dirs`). A partition a broker does not host is left
        out. Raises, before any broker is asked, ``UnknownTopicOrPartitionError`` for an
        unknown topic in a list of topics, ``IllegalArgumentError`` for an id that is not one
        of the brokers, alive or not (a lone broker is broker 0), ``TypeError`` for
        ``brokers`` that are not a list (a bare str, a mapping); ``KafkaConnectionError`` for
        a broker that is down.
        """
        self._check_open()
        asked = self._partitions_named(topic_partitions)
        ids = self._live_brokers() if brokers is None else self._check_broker_ids(
            brokers, "brokers")
        if self._replicated():
            answers = [(b, self._conn.describe_log_dirs(asked, b)) for b in ids]
        else:
            answers = [(0, self._conn.describe_log_dirs(asked)) for _ in ids]
        return [{"broker": b, "log_dirs": [_log_dir_dict(d) for d in dirs]}
                for b, dirs in answers]

    def alter_replica_log_dirs(
        self, replica_assignments: Mapping[TopicPartitionReplica | tuple, str],
    ) -> dict[TopicPartitionReplica, KafkaError | None]:
        """Move replicas to other log directories of their brokers (Kafka's
        AlterReplicaLogDirs): ``{TopicPartitionReplica(topic, partition, broker_id): path}``.

        A broker has one log directory (see :meth:`describe_log_dirs`), so nothing moves.
        Returns, per replica, ``None`` where it already is in the directory named, else the
        error its broker answers: ``LogDirNotFoundError`` for another directory,
        ``ReplicaNotAvailableError`` where the broker holds no replica of the partition,
        ``UnknownTopicOrPartitionError`` for a partition that does not exist. kafka-python 3
        gives error classes (``NoError`` for success); pcmodel gives ``None`` or the error,
        as its other per-partition answers do. Raises ``IllegalArgumentError`` for a broker
        id that is not a broker (a lone broker is broker 0), before any broker is asked;
        ``KafkaConnectionError`` for one that is down; ``TypeError`` / ``ValueError`` for a
        key that is not a replica or a path that is not a string, ``TypeError`` for
        ``replica_assignments`` that are not a mapping.
        """
        self._check_open()
        # Each broker's call checks its partitions and paths (nothing moves: no half-done work).
        by_broker: dict[int, dict[tuple, str]] = {}
        for key, path in _check_mapping("replica_assignments", replica_assignments,
                                        "TopicPartitionReplica to a log directory").items():
            if not isinstance(key, tuple) or len(key) != 3:
                raise TypeError(f"expected TopicPartitionReplica(topic, partition, broker_id), "
                                f"got {key!r}")
            topic, partition, broker_id = key
            by_broker.setdefault(broker_id, {})[(topic, partition)] = path
        brokers = self._conn.broker_ids() if self._replicated() else (0,)
        for broker_id in by_broker:
            if isinstance(broker_id, bool) or broker_id not in brokers:
                raise IllegalArgumentError(f"broker {broker_id!r} is not a broker here; the "
                                           f"brokers are {list(brokers)}")
        results: dict[TopicPartitionReplica, KafkaError | None] = {}
        for broker_id, targets in by_broker.items():
            answers = self._conn.alter_replica_log_dirs(targets, broker_id) \
                if self._replicated() else self._conn.alter_replica_log_dirs(targets)
            for tp, error in answers.items():
                results[TopicPartitionReplica(tp.topic, tp.partition, broker_id)] = error
        return results
