"""Committed offsets and group metadata in a replicated internal topic, as Kafka's
``__consumer_offsets``.

A commit is a record ``key = group/topic/partition``, ``value = {"offset": ..., "metadata":
..., "leader_epoch": ..., "commit_timestamp": ...}`` (JSON) produced with ``acks="all"`` to the
group's partition of the offsets topic: the leader epoch committed with the offset (KIP-320;
Kafka's OffsetCommitValue v3 ``leader_epoch``) travels with it, so a new coordinator answers it
too; a record without one (written before it was kept) reads as ``-1``, none.
Because the topic is replicated like any other, committed offsets survive the loss of any one
broker, and the *group coordinator* is simply the leader of that partition: when the leader
moves, the coordinator moves with it.

Group membership travels the same way. When a generation's SyncGroup completes, or the group
becomes ``Empty``, its metadata (generation, protocol, leader, members with their assignments:
:mod:`pcmodel.topics.group_snapshot`) is a record ``key = group`` of the same partition, with
the same replication and acks; a deleted group gets a tombstone (``value = None``). A broker
that becomes coordinator loads these records with the offsets and restores each ``Stable``
group, so members keep their ids and generation and no rebalance follows. Deleting a topic
writes tombstones for its committed offsets, so a topic created again under the same name
starts its groups afresh; deleting a group, or some of its offsets (OffsetDelete), writes
tombstones for them too.

As in Kafka, the coordinator answers offset fetches from a cache: a commit enters it once it
is acknowledged (replicated to the ISR), and a broker that becomes coordinator loads the cache
from its replica of the partition, at its first request, up to its *high watermark*: above it
are writes still waiting for their acknowledgement, which may be lost with the leader. A new
leader's high watermark may lag for a moment behind what the old leader acknowledged; until it
has passed the start of the new leader's epoch (everything the earlier leaders wrote), the
coordinator answers "still loading" (retriable), so a committed offset once read is never
read older again.

The topic is compacted, as Kafka's is: a record superseded by a later one of the same key, and a
tombstone once ``delete.retention.ms`` has passed, may be cleaned away
(:mod:`pcmodel.topics.compaction`); loading reads each key's latest record either way.

Kafka 4's consumer groups (KIP-848) travel the same way too, as the records Kafka's coordinator
writes for them (:mod:`pcmodel.cluster.consumer_group_records`: the group epoch, each member's
metadata and current assignment, the target assignment, tombstones for a member that left and
for a deleted group), stored before the heartbeat that changed them is answered; a new
coordinator restores each consumer group with its members' epochs and assignments, and starts
their sessions afresh, as Kafka's does.

Committed offsets expire, and a group left empty with none is deleted, on the cluster's own
timer, as in Kafka: :mod:`pcmodel.cluster.offsets_retention` (tombstones for all of it, so no
later coordinator brings it back).

Prior art: Kafka ``GroupMetadataManager`` (offset commit records, ``partitionFor(groupId)``,
``offsets.topic.replication.factor`` 3 and commits with ``acks=all``).
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping

from pcmodel.cluster.cluster import Cluster
from pcmodel.cluster.consumer_group_records import (
    consumer_group_key_group,
    consumer_groups_from_records,
    is_consumer_group_key,
)
from pcmodel.cluster.errors import LeaderNotAvailableError
from pcmodel.cluster.internal_topics import (
    acknowledged_end,
    create_internal_topic,
    latest_values,
)
from pcmodel.cluster.offsets_retention import OffsetsRetention, group_key, offset_key
from pcmodel.cluster.purgatory import ProduceFuture
from pcmodel.topics.errors import KafkaError
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

__all__ = ["OFFSETS_TOPIC", "OffsetsTopic"]

OFFSETS_TOPIC = "__consumer_offsets"
#: Kafka's configs of the offsets topic (``GroupCoordinatorService.groupMetadataTopicConfigs``):
#: compacted, since only each key's latest record counts (``offsets.topic.segment.bytes`` is
#: 100 MiB, so its logs are seldom cleaned), batches stored as the coordinator wrote them, and
#: no ``min.insync.replicas`` of its own: the broker default, 1.
OFFSETS_TOPIC_CONFIGS = {"cleanup.policy": "compact", "compression.type": "producer",
                         "segment.bytes": str(100 * 1024 * 1024)}


def _encode_offset(offset: OffsetAndMetadata | int, commit_ms: int,
                   expire_ms: int | None) -> bytes:
    """A commit record's value: the offset, the metadata and leader epoch committed with it,
    when, and when it expires if it was committed with a retention of its own (Kafka's
    ``expire_timestamp``)."""
    if not isinstance(offset, OffsetAndMetadata):
        offset = OffsetAndMetadata(offset)
    epoch = -1 if offset.leader_epoch is None else offset.leader_epoch
    fields = {"offset": offset.offset, "metadata": offset.metadata or "",
              "leader_epoch": epoch, "commit_timestamp": commit_ms}
    if expire_ms is not None:
        fields["expire_timestamp"] = expire_ms
    return json.dumps(fields).encode()


def _decode_commit(value: bytes) -> tuple[OffsetAndMetadata, int | None, int | None]:
    """A commit record's offset, metadata and leader epoch (-1 where the record has none),
    when it was committed and when it expires (epoch ms; None for what the record does not
    say)."""
    fields = json.loads(value)
    return (OffsetAndMetadata(fields["offset"], fields["metadata"],
                              fields.get("leader_epoch", -1)),
            fields.get("commit_timestamp"), fields.get("expire_timestamp"))


def _decode_offset(value: bytes) -> OffsetAndMetadata:
    return _decode_commit(value)[0]


def _offset_key_parts(key: bytes) -> tuple[str, TopicPartition] | None:
    if is_consumer_group_key(key):
        return None
    parts = key.decode().split("\x00")
    if len(parts) != 3:
        return None  # a group metadata record
    return parts[0], TopicPartition(parts[1], int(parts[2]))


class OffsetsTopic(OffsetsRetention):
    """The cluster's committed-offsets store. Create one per cluster (it creates the topic).

    ``partitions`` and ``replication_factor`` are Kafka's ``offsets.topic.num.partitions`` and
    ``offsets.topic.replication.factor``; commits need ``min_insync_replicas`` in-sync replicas
    (``None``: the broker default, 1, which Kafka's ``__consumer_offsets`` takes too: it sets
    no ``min.insync.replicas`` of its own).
    The retention check runs every ``cluster.offsets_retention_check_interval_ms`` (see
    :mod:`pcmodel.cluster.offsets_retention`). Thread-safe: every client connection of the
    cluster shares it.
    """

    def __init__(self, cluster: Cluster, *, partitions: int = 1,
                 replication_factor: int | None = None,
                 min_insync_replicas: int | None = None) -> None:
        self.cluster = cluster
        self.partitions = create_internal_topic(cluster, OFFSETS_TOPIC, partitions,
                                                replication_factor, min_insync_replicas,
                                                OFFSETS_TOPIC_CONFIGS)
        # Guards the caches and the pending writes; never held while waiting for a write.
        self._lock = threading.Lock()
        #: (coordinator broker, offsets partition) -> (leader epoch it loaded at, key -> value)
        self._caches: dict[tuple[int, int], tuple[int, dict[bytes, bytes]]] = {}
        self._pending: list[tuple[ProduceFuture, dict[bytes, bytes | None]]] = []
        #: Held while a group's state is read from its coordinator and its write is sent, so
        #: that the writes of a group reach the log in the order its states were read.
        self._group_writes = threading.Lock()
        self._start_retention_clock()

    def partition_for(self, group: str) -> int:
        """The offsets partition of ``group`` (a stable hash of its id)."""
        return zlib.crc32(group.encode()) % self.partitions

    def coordinator(self, group: str) -> int | None:
        """The broker coordinating ``group``: the leader of its offsets partition."""
        return self.cluster.leader(OFFSETS_TOPIC, self.partition_for(group))

    def commit(self, group: str, offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
               commit_ms: int | None = None, timeout: float = 30.0, *,
               retention_time_ms: int = -1) -> ProduceFuture:
        """Store ``offsets`` (the next offset to read, its metadata and leader epoch, per
        partition), all in one batch, dated ``commit_ms`` (epoch ms: the time the coordinator
        gave the commit; ``None``: now); with a ``retention_time_ms`` other than -1, each
        expires that long after.

        Answered once every in-sync replica has the batch; errors as ``Cluster.produce``
        with ``acks="all"`` (a retriable error means: refresh and commit again).
        """
        now_ms = self.cluster.wall_clock_ms() if commit_ms is None else commit_ms
        expire_ms = None if retention_time_ms == -1 else now_ms + retention_time_ms
        records = [(offset_key(group, tp), _encode_offset(offset, now_ms, expire_ms))
                   for tp, offset in offsets.items()]
        return self._write(self.partition_for(group), records, timeout)

    def commit_checked(self, group: str, offsets: Mapping[TopicPartition, OffsetAndMetadata],
                       check: Callable[[], int], timeout: float = 30.0, *,
                       retention_time_ms: int = -1) -> ProduceFuture | None:
        """Run ``check()`` (the coordinator checks and stores the commit, and returns its date,
        epoch ms), then :meth:`commit` the ``offsets`` with that date, with the writes of every
        other group state held back meanwhile: a retention check then never finds at the
        coordinator an offset whose record has not been sent (its tombstone would come before
        the record). Returns the write's future, or ``None`` when ``offsets`` is empty.
        Errors as ``check()`` raises them, and as :meth:`commit`."""
        with self._group_writes:
            commit_ms = check()
            if not offsets:
                return None
            return self.commit(group, offsets, commit_ms, timeout,
                               retention_time_ms=retention_time_ms)

    def store_group(self, group: str, record: bytes | None, timeout: float = 30.0
                    ) -> ProduceFuture | None:
        """Store the group's metadata record (``None``: a tombstone, the group is gone).

        Returns the write's future, or ``None`` when the coordinator already has exactly this
        record (nothing changed since the last store). Errors as :meth:`commit`.
        """
        try:
            _, _, cache = self._coordinator_cache(group)
        except LeaderNotAvailableError:
            cache = {}
        if cache.get(group_key(group)) == record:
            return None
        return self._write(self.partition_for(group), [(group_key(group), record)], timeout)

    def store_consumer_group(
        self, group: str,
        read: Callable[[], tuple[bytes | None, Mapping[bytes, bytes] | None]],
        timeout: float = 30.0,
    ) -> ProduceFuture | None:
        """Store what ``read()`` returns of the group now, in one batch: its classic metadata
        record (``None``: leave the stored one as it is) and its consumer group records
        (:mod:`pcmodel.cluster.consumer_group_records`; ``None`` or ``{}``: it is no consumer
        group, its stored records get tombstones). Only records that differ from the stored
        ones are written; returns the write's future, or ``None`` when nothing changed.
        ``read`` runs with the writes of every other group state held back, so writes reach
        the log in the order their states were read. Errors as :meth:`commit`, and
        ``LeaderNotAvailableError`` while the partition has no leader."""
        with self._group_writes:
            _, _, cache = self._coordinator_cache(group)
            classic, records = read()
            records = records or {}
            changes: dict[bytes, bytes | None] = {
                key: value for key, value in records.items() if cache.get(key) != value}
            changes.update({key: None for key in list(cache)
                            if is_consumer_group_key(key) and key not in records
                            and consumer_group_key_group(key) == group})
            if classic is not None and cache.get(group_key(group)) != classic:
                changes[group_key(group)] = classic
            if not changes:
                return None
            return self._write(self.partition_for(group), list(changes.items()), timeout)

    def stored_consumer_group(self, group: str) -> dict[bytes, bytes]:
        """The consumer group records of ``group`` its coordinator has stored (acknowledged);
        errors as :meth:`committed`."""
        _, _, cache = self._coordinator_cache(group)
        return {key: value for key, value in list(cache.items())
                if is_consumer_group_key(key) and consumer_group_key_group(key) == group}

    def committed(self, group: str, partitions: Iterable[TopicPartition]
                  ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """The group's committed offsets, as the current coordinator has them.

        Raises ``LeaderNotAvailableError`` (retriable) while the offsets partition has no
        leader.
        """
        _, _, cache = self._coordinator_cache(group)
        found = {tp: cache.get(offset_key(group, tp)) for tp in partitions}
        return {tp: None if v is None else _decode_offset(v) for tp, v in found.items()}

    def all_committed(self, group: str) -> dict[TopicPartition, OffsetAndMetadata]:
        """Every committed offset of ``group``; errors as :meth:`committed`."""
        _, _, cache = self._coordinator_cache(group)
        found = {}
        for key, value in cache.items():
            parts = _offset_key_parts(key)
            if parts is not None and parts[0] == group:
                found[parts[1]] = _decode_offset(value)
        return dict(sorted(found.items()))

    def remove_offsets(self, group: str, partitions: Iterable[TopicPartition] | None = None,
                       timeout: float = 30.0) -> ProduceFuture | None:
        """Tombstone the group's committed offsets of ``partitions`` (``None``: all of them).

        Returns the write's future, or ``None`` when none of them is stored. Errors as
        :meth:`committed` (no coordinator now) and, for the write, as :meth:`commit`.
        """
        stored = self.all_committed(group)
        wanted = stored if partitions is None else [tp for tp in partitions if tp in stored]
        if not wanted:
            return None
        return self._write(self.partition_for(group),
                           [(offset_key(group, tp), None) for tp in wanted], timeout)

    def load(self, group: str) -> int:
        """Make sure the group's current coordinator has loaded its offsets partition; return
        the coordinator's broker id. Loading restores every ``Stable`` group stored in the
        partition into the coordinator (members keep ids and generation; timers start now).

        Raises ``LeaderNotAvailableError`` (retriable) while the partition has no leader.
        """
        leader, _, _ = self._coordinator_cache(group)
        return leader

    def load_all(self) -> None:
        """:meth:`load` for every offsets partition that has a leader (ListGroups asks every
        coordinator for its groups)."""
        for p in range(self.partitions):
            try:
                self._partition_cache(p)
            except LeaderNotAvailableError:
                continue

    def remove_topic(self, topic: str, timeout: float = 30.0) -> int:
        """Tombstone every committed offset of ``topic`` (it was deleted), in every offsets
        partition that has a leader; return how many were removed. Waits for the writes."""
        futures = []
        for p in range(self.partitions):
            try:
                _, _, cache = self._partition_cache(p)
            except LeaderNotAvailableError:
                continue  # no coordinator now: its offsets of the topic stay
            gone = [(key, None) for key in list(cache)
                    if (parts := _offset_key_parts(key)) is not None and parts[1].topic == topic]
            if gone:
                futures.append((len(gone), self._write(p, gone, timeout)))
        removed = 0
        for count, future in futures:
            try:
                future.get(timeout=timeout + 5)
                removed += count
            except KafkaError:
                continue  # the coordinator failed meanwhile: those offsets stay
        return removed

    # --- the coordinators' caches -------------------------------------------------------------

    def _write(self, partition: int, records: list, timeout: float) -> ProduceFuture:
        future = self.cluster.produce(OFFSETS_TOPIC, partition, records, acks="all",
                                      timeout=timeout)
        with self._lock:
            self._pending.append((future, dict(records)))
        return future

    def _coordinator_cache(self, group: str) -> tuple[int, int, dict[bytes, bytes]]:
        return self._partition_cache(self.partition_for(group))

    def _partition_cache(self, p: int) -> tuple[int, int, dict[bytes, bytes]]:
        state = self.cluster.metadata()[TopicPartition(OFFSETS_TOPIC, p)]
        if state.leader is None:
            raise LeaderNotAvailableError(f"no coordinator for offsets partition {p} right now")
        with self._lock:
            self._absorb_acknowledged()
            key = (state.leader, p)
            epoch, cache = self._caches.get(key, (-1, {}))
            if epoch == state.leader_epoch:
                return state.leader, state.leader_epoch, cache
            # Newly coordinator: load from its own log, as far as it is acknowledged; a write
            # still waiting for its acknowledgement is absorbed once acknowledged.
            end = acknowledged_end(self.cluster, OFFSETS_TOPIC, p, state.leader,
                                   state.leader_epoch)
            cache = latest_values(self.cluster, OFFSETS_TOPIC, p, state.leader, end)
            self._restore_groups(state.leader, p, cache)
            self._caches[key] = (state.leader_epoch, cache)
            return state.leader, state.leader_epoch, cache

    def _restore_groups(self, leader: int, p: int, cache: dict[bytes, bytes]) -> None:
        """Hand the new coordinator every stored group of offsets partition ``p`` and its
        committed offsets (Kafka's ``loadGroupsAndOffsets``): it then knows a group that only
        committed, as well as one with members; a consumer group it kept from an earlier
        term as coordinator, and that is stored no more, goes."""
        node = self.cluster.nodes[leader]
        records: list[bytes] = []
        offsets: dict[str, dict[TopicPartition, OffsetAndMetadata]] = {}
        dates: dict[str, dict[TopicPartition, int]] = {}
        ends: dict[str, dict[TopicPartition, int]] = {}
        for key, value in cache.items():
            if is_consumer_group_key(key):
                continue
            parts = _offset_key_parts(key)
            if parts is None:
                records.append(value)
                continue
            group, tp = parts
            offset, commit_ms, expire_ms = _decode_commit(value)
            offsets.setdefault(group, {})[tp] = offset
            if commit_ms is not None:
                dates.setdefault(group, {})[tp] = commit_ms
            if expire_ms is not None:
                ends.setdefault(group, {})[tp] = expire_ms
        try:
            # Offsets first: an Empty group's record then finds the group its offsets made.
            for group, committed in offsets.items():
                if node.alive:
                    node.broker.load_offsets(group, committed, dates.get(group),
                                             ends.get(group))
            for record in records:
                if node.alive:
                    node.broker.load_group(record)
            consumer_groups = consumer_groups_from_records(cache)
            if node.alive:
                for group in node.broker.consumer_group_states():
                    if self.partition_for(group) == p and group not in consumer_groups:
                        node.broker.restore_consumer_group(None, group)
            for snapshot in consumer_groups.values():
                if node.alive:
                    node.broker.restore_consumer_group(snapshot)
        except KafkaError:
            return  # it died while loading: the next coordinator loads again

    def _absorb_acknowledged(self) -> None:
        still = []
        for future, values in self._pending:
            if not future.done():
                still.append((future, values))
            elif future.succeeded():
                result = future.get()
                key = (result.broker, result.partition)
                epoch, cache = self._caches.get(key, (-1, {}))
                if epoch == result.leader_epoch:
                    for k, v in values.items():
                        if v is None:
                            cache.pop(k, None)
                        else:
                            cache[k] = v
        self._pending = still
