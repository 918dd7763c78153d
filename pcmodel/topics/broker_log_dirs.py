"""A broker's log directory, as Kafka's DescribeLogDirs describes it: where each replica's log
lives and how many bytes it takes; and AlterReplicaLogDirs, which moves a replica to another.

A Kafka broker keeps each replica's log in one of its ``log.dirs``; DescribeLogDirs lists, per
directory, the replicas in it with their size, and (v4) the total and usable bytes of the
volume. A pcmodel broker has one log directory: :data:`IN_MEMORY` for a broker that keeps its
logs in memory (a lone broker, a broker of a cluster of threads), or the directory of its
journals for a broker process (:mod:`pcmodel.cluster.journal`). A replica's size is what its
retained records take as ``retention.bytes`` counts them (keys, values and headers; a
compressed batch by its compressed bytes), not the size of Kafka's segment files, which also
hold each batch's header and index.

AlterReplicaLogDirs asks a broker to move replicas to another of its log directories. With one
directory there is never anywhere to move to, and the answers are Kafka's for that case
(``ReplicaManager.alterReplicaLogDirs``): a directory the broker does not have is
LOG_DIR_NOT_FOUND, its own directory is done at once for a replica it holds (the replica is
already there), REPLICA_NOT_AVAILABLE for a partition it does not hold, and
UNKNOWN_TOPIC_OR_PARTITION for one that does not exist.

Prior art: Kafka's ``ReplicaManager.describeLogDirs`` and the admin client's
``describeLogDirs`` (``LogDirDescription``, ``ReplicaInfo``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping

from pcmodel.topics.broker_checks import _check_mapping, _check_partitions
from pcmodel.topics.errors import (
    KafkaError,
    KafkaStorageError,
    LogDirNotFoundError,
    ReplicaNotAvailableError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import (
    LogDirDescription,
    ReplicaInfo,
    TopicPartition,
    validate_topic_partition,
)

__all__ = ["IN_MEMORY", "LogDirsMixin", "checked_targets", "describe_log_dir", "log_dir_move"]

#: The log directory of a broker that keeps its logs in memory.
IN_MEMORY = "(memory)"


def describe_log_dir(path: str, replicas: Mapping[TopicPartition, ReplicaInfo],
                     ) -> LogDirDescription:
    """``path`` holding ``replicas``, with its volume's total and usable bytes if it is a
    directory on disk (``-1`` for :data:`IN_MEMORY`); a directory that cannot be read is
    described by its ``KafkaStorageError`` alone, as Kafka describes an offline one."""
    if path == IN_MEMORY:
        return LogDirDescription(path, dict(replicas))
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return LogDirDescription(path, {}, error=KafkaStorageError(
            f"Log directory {path} is offline: {exc}"))
    return LogDirDescription(path, dict(replicas), usage.total, usage.free)


def log_dir_move(log_dir: str, tp: TopicPartition, target: str, *, hosted: bool,
                 exists: bool) -> KafkaError | None:
    """Kafka's answer to moving the replica of ``tp`` to directory ``target`` on a broker whose
    one log directory is ``log_dir`` (``None``: done, it is there); ``hosted`` says the broker
    holds a replica of ``tp``, ``exists`` that the partition exists."""
    if target != log_dir:
        return LogDirNotFoundError(f"Log dir {target} is not found in the config (this broker's "
                                   f"one log directory is {log_dir})")
    if hosted:
        return None
    if exists:
        return ReplicaNotAvailableError(f"this broker holds no replica of {tp}")
    return UnknownTopicOrPartitionError(f"no partition {tp}")


class LogDirsMixin:
    """DescribeLogDirs and AlterReplicaLogDirs (Broker part)."""

    def alter_replica_log_dirs(self, targets: Mapping[TopicPartition, str],
                               ) -> dict[TopicPartition, KafkaError | None]:
        """Kafka's AlterReplicaLogDirs: move each partition's log to the directory named.

        A lone broker has one directory, :data:`IN_MEMORY`, and holds every partition: per
        partition, ``None`` (already there) for it, ``LogDirNotFoundError`` for any other
        directory, ``UnknownTopicOrPartitionError`` for a partition it does not have (see
        the module docstring). Nothing moves. Raises only ``TypeError`` / ``ValueError`` for
        a key that is not a topic partition, ``TypeError`` for a directory that is not a
        string or ``targets`` that are not a mapping.
        """
        asked = checked_targets(targets)
        with self._lock:
            self._check_open()
            have = {name: len(topic.logs) for name, topic in self._topics.items()}
        answers = {}
        for tp, target in asked.items():
            held = tp.partition < have.get(tp.topic, 0)  # a lone broker holds all there are
            answers[tp] = log_dir_move(IN_MEMORY, tp, target, hosted=held, exists=held)
        return answers

    def describe_log_dirs(self, partitions: Iterable[TopicPartition] | None = None,
                          ) -> tuple[LogDirDescription, ...]:
        """This broker's log directories (one: :data:`IN_MEMORY`) and the replicas in them:
        those of ``partitions``, or every one for ``None``; a partition the broker does not
        have is left out, as Kafka leaves it out. Retention runs first, so sizes are of what
        is retained. Raises only ``TypeError`` / ``ValueError`` for a bare str or an entry that
        is not a topic partition."""
        return (describe_log_dir(IN_MEMORY, self.replica_infos(partitions)),)

    def replica_infos(self, partitions: Iterable[TopicPartition] | None = None,
                      ) -> dict[TopicPartition, ReplicaInfo]:
        """The size and offset lag of each local log of ``partitions`` (every one for
        ``None``) that exists, in partition order (a cluster node asks for those it hosts).
        Raises as :meth:`describe_log_dirs`."""
        asked = None if partitions is None else set(_check_partitions("partitions", partitions))
        found: dict[TopicPartition, ReplicaInfo] = {}
        with self._lock:
            self._check_open()
            for name, topic in sorted(self._topics.items()):
                for index, log in enumerate(topic.logs):
                    tp = TopicPartition(name, index)
                    if asked is None or tp in asked:  # byte_stats applies retention first
                        found[tp] = ReplicaInfo(log.byte_stats().stored_bytes,
                                                max(log.high_watermark - log.end_offset, 0))
        return found


def checked_targets(targets: Mapping[TopicPartition, str]) -> dict[TopicPartition, str]:
    """``targets`` with each key a :class:`TopicPartition`, or ``TypeError`` / ``ValueError``
    (``TypeError`` too for ``targets`` that are not a mapping)."""
    _check_mapping("targets", targets, "TopicPartition to a log directory")
    checked = {}
    for tp, target in targets.items():
        if not isinstance(target, str):
            raise TypeError(f"the log directory for {tp} must be a path string, got {target!r}")
        checked[validate_topic_partition(tp)] = target
    return checked
