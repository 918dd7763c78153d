"""A broker's log directory, as Kafka's DescribeLogDirs describes it: where each replica's log
lives and how many bytes it takes.

A Kafka broker keeps each replica's log in one of its ``log.dirs``; DescribeLogDirs lists, per
directory, the replicas in it with their size, and (v4) the total and usable bytes of the
volume. A pcmodel broker has one log directory: :data:`IN_MEMORY` for a broker that keeps its
logs in memory (a lone broker, a broker of a cluster of threads), or the directory of its
journals for a broker process (:mod:`pcmodel.cluster.journal`). A replica's size is what its
retained records take as ``retention.bytes`` counts them (keys, values and headers; a
compressed batch by its compressed bytes), not the size of Kafka's segment files, which also
hold each batch's header and index.

Prior art: Kafka's ``ReplicaManager.describeLogDirs`` and the admin client's
``describeLogDirs`` (``LogDirDescription``, ``ReplicaInfo``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping

from pcmodel.topics.errors import KafkaStorageError
from pcmodel.topics.structs import (
    LogDirDescription,
    ReplicaInfo,
    TopicPartition,
    validate_topic_partition,
)

__all__ = ["IN_MEMORY", "LogDirsMixin", "describe_log_dir"]

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


class LogDirsMixin:
    """DescribeLogDirs (Broker part)."""

    def describe_log_dirs(self, partitions: Iterable[TopicPartition] | None = None,
                          ) -> tuple[LogDirDescription, ...]:
        """This broker's log directories (one: :data:`IN_MEMORY`) and the replicas in them:
        those of ``partitions``, or every one for ``None``; a partition the broker does not
        have is left out, as Kafka leaves it out. Retention runs first, so sizes are of what
        is retained. Raises only ``TypeError`` / ``ValueError`` for an entry that is not a
        topic partition."""
        return (describe_log_dir(IN_MEMORY, self.replica_infos(partitions)),)

    def replica_infos(self, partitions: Iterable[TopicPartition] | None = None,
                      ) -> dict[TopicPartition, ReplicaInfo]:
        """The size and offset lag of each local log of ``partitions`` (every one for
        ``None``) that exists, in partition order (a cluster node asks for those it hosts)."""
        asked = None if partitions is None else {validate_topic_partition(tp)
                                                  for tp in partitions}
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
