"""Committed offsets stored in a replicated internal topic, as Kafka's ``__consumer_offsets``.

A commit is a record ``key = group/topic/partition``, ``value = offset`` produced with
``acks="all"`` to the group's partition of the offsets topic. Because the topic is replicated
like any other, committed offsets survive the loss of any one broker, and the *group
coordinator* is simply the leader of that partition: when the leader moves, the coordinator
moves with it.

As in Kafka, the coordinator answers offset fetches from a cache: a commit enters it once it
is acknowledged (replicated to the ISR), and a broker that becomes coordinator loads the cache
from its replica of the partition, reading to the *log end* — a new leader's high watermark
may still lag the old leader's for a moment, but everything in its log will be committed.

Prior art: Kafka ``GroupMetadataManager`` (offset commit records, ``partitionFor(groupId)``,
``offsets.topic.replication.factor`` 3 and commits with ``acks=all``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping

from pcmodel.cluster.cluster import Cluster
from pcmodel.cluster.errors import LeaderNotAvailableError
from pcmodel.cluster.purgatory import ProduceFuture
from pcmodel.topics.structs import TopicPartition

__all__ = ["OFFSETS_TOPIC", "OffsetsTopic"]

OFFSETS_TOPIC = "__consumer_offsets"


def _key(group: str, tp: TopicPartition) -> bytes:
    return f"{group}\x00{tp.topic}\x00{tp.partition}".encode()


class OffsetsTopic:
    """The cluster's committed-offsets store. Create one per cluster (it creates the topic).

    ``partitions`` and ``replication_factor`` are Kafka's ``offsets.topic.num.partitions`` and
    ``offsets.topic.replication.factor``; commits need ``min_insync_replicas`` in-sync replicas
    (two by default when there are at least two replicas, so a commit survives one failure).
    """

    def __init__(self, cluster: Cluster, *, partitions: int = 1,
                 replication_factor: int | None = None,
                 min_insync_replicas: int | None = None) -> None:
        self.cluster = cluster
        rf = replication_factor or cluster.default_replication_factor
        if OFFSETS_TOPIC not in cluster.controller.topics:
            cluster.create_topic(OFFSETS_TOPIC, partitions, replication_factor=rf,
                                 min_insync_replicas=min_insync_replicas or min(2, rf))
        self.partitions = len([tp for tp in cluster.controller.partitions
                               if tp.topic == OFFSETS_TOPIC])
        #: (coordinator broker, offsets partition) -> (leader epoch it loaded at, key -> offset)
        self._caches: dict[tuple[int, int], tuple[int, dict[bytes, int]]] = {}
        self._pending: list[tuple[ProduceFuture, dict[bytes, int]]] = []

    def partition_for(self, group: str) -> int:
        """The offsets partition of ``group`` (a stable hash of its id)."""
        return zlib.crc32(group.encode()) % self.partitions

    def coordinator(self, group: str) -> int | None:
        """The broker coordinating ``group``: the leader of its offsets partition."""
        return self.cluster.leader(OFFSETS_TOPIC, self.partition_for(group))

    def commit(self, group: str, offsets: Mapping[TopicPartition, int],
               timeout: float = 30.0) -> ProduceFuture:
        """Store ``offsets`` (the next offset to read, per partition), all in one batch.

        Answered once every in-sync replica has the batch; errors as ``Cluster.produce``
        with ``acks="all"`` (a retriable error means: refresh and commit again).
        """
        records = [(_key(group, tp), str(offset).encode()) for tp, offset in offsets.items()]
        future = self.cluster.produce(OFFSETS_TOPIC, self.partition_for(group), records,
                                      acks="all", timeout=timeout)
        self._pending.append((future, {k: int(v) for k, v in records}))
        return future

    def committed(self, group: str, partitions: Iterable[TopicPartition]
                  ) -> dict[TopicPartition, int | None]:
        """The group's committed offsets, as the current coordinator has them.

        Raises ``LeaderNotAvailableError`` (retriable) while the offsets partition has no
        leader.
        """
        _, _, cache = self._coordinator_cache(group)
        return {tp: cache.get(_key(group, tp)) for tp in partitions}

    # --- the coordinators' caches -------------------------------------------------------------

    def _coordinator_cache(self, group: str) -> tuple[int, int, dict[bytes, int]]:
        p = self.partition_for(group)
        state = self.cluster.metadata()[TopicPartition(OFFSETS_TOPIC, p)]
        if state.leader is None:
            raise LeaderNotAvailableError(f"no coordinator for group {group!r} right now")
        self._absorb_acknowledged()
        key = (state.leader, p)
        epoch, cache = self._caches.get(key, (-1, {}))
        if epoch != state.leader_epoch:  # newly coordinator: load from its own log
            cache = {}
            for record in self.cluster.log(state.leader, OFFSETS_TOPIC, p):
                cache[record.key] = int(record.value)
            self._caches[key] = (state.leader_epoch, cache)
        return state.leader, state.leader_epoch, cache

    def _absorb_acknowledged(self) -> None:
        still = []
        for future, offsets in self._pending:
            if not future.done():
                still.append((future, offsets))
            elif future.succeeded():
                result = future.get()
                key = (result.broker, result.partition)
                epoch, cache = self._caches.get(key, (-1, {}))
                if epoch == result.leader_epoch:
                    cache.update(offsets)
        self._pending = still
