"""The broker's topics: creating, growing and deleting them, their metadata and offset ranges.

:class:`TopicAdminMixin` is the part of :class:`~pcmodel.topics.broker.Broker` behind Kafka's
CreateTopics, CreatePartitions, DeleteTopics, Metadata, ListOffsets and DeleteRecords: it owns
the topic table (``_topics``, a :class:`_Topic` per name holding its topic id and its
:class:`~pcmodel.topics.log.PartitionLog` per partition) and the metadata version that clients
wait on to see a topic appear. Every setting is checked before anything is created; a change
bumps the version and wakes waiters. Topic ids (KIP-516) are random, drawn at creation as
Kafka's controller draws them: a topic deleted and created again gets a new one, so a
deletion by id (:meth:`TopicAdminMixin.delete_topic_by_id`) deletes exactly the topic that id
named, never a namesake created since. It runs under the broker's one lock (``_lock``, with
``_data_arrived``), as every part does. Leader elections and reassignments, which a lone
broker answers from this table, are in :mod:`~pcmodel.topics.broker_placement`.

Prior art: Kafka's ``AdminManager``, ``ReplicaManager.fetchOffset`` and
``ReplicaManager.deleteRecords``, kafka-python's ``KafkaAdminClient`` names.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pcmodel.topics.broker_checks import (
    INT64_MAX,
    _check_int,
    _check_mapping,
    _check_partitions,
    _check_timeout,
)
from pcmodel.topics.errors import (
    BrokerResponseError,
    IllegalArgumentError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.log import LogBytes, PartitionLog, RetentionPolicy
from pcmodel.topics.log_settings import log_settings
from pcmodel.topics.log_transactions import check_isolation_level
from pcmodel.topics.replica_placement import check_partition_increase
from pcmodel.topics.structs import (
    DeletedRecords,
    OffsetAndTimestamp,
    TopicPartition,
    validate_topic_partition,
)
from pcmodel.topics.topic_settings import check_new_topic, check_new_topic_name, check_topic_name

__all__ = ["TopicAdminMixin", "TopicDescription", "delete_records_arguments",
           "delete_records_target"]


class TopicDescription(NamedTuple):
    """A topic's configuration and the offset range of each of its partitions."""

    name: str
    partitions: int
    retention_policy: RetentionPolicy
    retention_records: int | None
    retention_ms: int | None
    variant: str
    log_start_offsets: tuple[int, ...]
    end_offsets: tuple[int, ...]
    #: ``retention.bytes`` (``None``: no limit); there is no ``create_topic`` keyword for it.
    retention_bytes: int | None = None


@dataclass
class _Topic:
    name: str
    logs: list[PartitionLog]
    policy: RetentionPolicy
    retention_records: int | None
    retention_ms: int | None
    retention_bytes: int | None
    variant: str
    instrument: str
    #: Groups whose committed offsets hold back a "block" topic (subscribers and committers).
    tracking_groups: set[str]
    #: The topic configs set on it (Kafka's overrides), checked, in Kafka's text.
    configs: dict[str, str] = field(default_factory=dict)
    topic_id: uuid.UUID = field(default_factory=uuid.uuid4)


class TopicAdminMixin:
    """Topics and their partition logs: admin, metadata and offset lookups (Broker part)."""

    # --- admin and metadata -------------------------------------------------------------------

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        retention_records: int | None = None,
        retention_ms: int | None = None,
        retention_policy: str = "delete",
        variant: str = "condition",
        instrument: str = "off",
        configs: Mapping[str, Any] | None = None,
        created_with: Collection[str] = (),
    ) -> None:
        """Create topic ``name`` with ``partitions`` empty partition logs.

        ``retention_policy="delete"`` keeps at most ``retention_records`` records and none whose
        timestamp is more than ``retention_ms`` behind the broker's wall clock (either may be
        ``None``: unlimited; :mod:`~pcmodel.topics.log` says how records age). ``"block"``
        makes each partition a bounded buffer of capacity ``retention_records`` (required;
        ``retention_ms`` must be ``None``): appends wait while the slowest group lags that
        much, and ``variant`` (``"condition"``, ``"semaphore"``, ``"queue"``) picks the
        algorithm that waits. Every group that subscribed to the topic or committed an offset
        on it counts, until ``delete_group``; a group that never committed a partition holds
        it at its start.
        ``instrument`` (``"off"``, ``"counters"``, ``"timeline"``) records that waiting; read it
        with :meth:`space_stats`.
        ``configs`` are Kafka topic configs set on the topic (``{"retention.ms": "60000"}``;
        :mod:`~pcmodel.topics.topic_configs` says which exist and what each does), kept and
        described by :meth:`describe_topic_configs`; ``retention_ms`` is the same as
        ``configs={"retention.ms": ...}``.
        ``created_with``: the topics its CreateTopics request created before it, which it may
        collide with, as in Kafka (:func:`check_new_topic_name`).
        Raises as :func:`check_new_topic_name` for the name, ``InvalidTopicError`` for an
        illegal one, ``InvalidPartitionsError``, ``InvalidConfigurationError`` for a config,
        ``IllegalArgumentError`` / ``TypeError`` for other bad settings (``retention_ms`` and
        ``retention.ms`` both given); nothing is created then (``TypeError`` for ``configs``
        that are not a mapping).
        """
        if configs is not None:
            _check_mapping("configs", configs, "config name to value")
        settings = check_new_topic(
            name, partitions, retention_records=retention_records, retention_ms=retention_ms,
            retention_policy=retention_policy, variant=variant, instrument=instrument,
            configs=configs)
        with self._lock:
            self._check_open()
            check_new_topic_name(name, self._topics, created_with)
            topic = _Topic(name, [], settings.policy, settings.retention_records,
                           settings.retention_ms, settings.retention_bytes, settings.variant,
                           settings.instrument, set(), settings.configs)
            topic.logs = [self._new_log(topic) for _ in range(partitions)]
            self._topics[name] = topic
            self._metadata_changed([name])

    def delete_topic(self, name: str) -> uuid.UUID:
        """Delete topic ``name``, its records and every group's committed offsets for it;
        return the deleted topic's id.

        The topic is looked up and deleted under one hold of the lock, so the id returned is
        the one of the topic deleted, even if another client deletes and creates the topic
        again around this call (Kafka's controller deletes a topic by name in one step too).
        Appends waiting for space fail with ``UnknownTopicOrPartitionError``; groups subscribed
        to it rebalance; a group without members that loses its last offset is deleted, as
        Kafka's coordinator drops it. Raises ``UnknownTopicOrPartitionError`` if there is no
        such topic.
        """
        with self._lock:
            self._check_open()
            topic = self._topic(name)
            self._forget_topic(topic)
        for log in topic.logs:
            log.close()
        return topic.topic_id

    def delete_topic_by_id(self, topic_id: uuid.UUID) -> str | None:
        """Delete the topic whose id is ``topic_id`` (Kafka's DeleteTopics by id, v6+), as
        :meth:`delete_topic` deletes it; return its name, or ``None`` if no topic has that id
        (it never existed, or was deleted: Kafka's UNKNOWN_TOPIC_ID), deleting nothing.

        The id is looked up and the topic deleted under one hold of the lock, so a topic
        deleted and created again under the same name is never deleted by its old id: Kafka
        deletes exactly the topic the id names. Raises ``TypeError`` unless ``topic_id`` is a
        ``uuid.UUID``. The Kafka listener's DeleteTopics and the admin client call it; it is
        one of the :data:`~pcmodel.topics.broker.CLIENT_METHODS`.
        """
        if not isinstance(topic_id, uuid.UUID):
            raise TypeError(f"a topic id is a uuid.UUID, got {topic_id!r}")
        with self._lock:
            self._check_open()
            topic = next((t for t in self._topics.values() if t.topic_id == topic_id), None)
            if topic is None:
                return None
            self._forget_topic(topic)
        for log in topic.logs:
            log.close()
        return topic.name

    def add_partitions(self, name: str, total: int) -> None:
        """Grow topic ``name`` to ``total`` partitions (Kafka's CreatePartitions).

        Existing partitions keep their records; subscribed groups rebalance. Raises
        ``UnknownTopicOrPartitionError`` (whatever ``total`` is, as Kafka checks the topic
        first), else ``InvalidPartitionsError`` unless ``total`` is above the current count
        (partitions are never removed; Kafka's words: "Topic already has N partition(s).",
        "... would not be an increase."); ``TypeError`` unless ``total`` is an int.
        """
        if isinstance(total, bool) or not isinstance(total, int):
            raise TypeError(f"total must be an int, got {total!r}")
        with self._lock:
            self._check_open()
            topic = self._topic(name)  # an unknown topic first, whatever the total: as Kafka
            check_partition_increase(name, len(topic.logs), total)
            topic.logs += [self._new_log(topic) for _ in range(total - len(topic.logs))]
            self._metadata_changed([name])

    def list_topics(self) -> dict[str, int]:
        """Return ``{topic name: partition count}`` for every topic."""
        with self._lock:
            return {name: len(t.logs) for name, t in sorted(self._topics.items())}

    def topic_ids(self) -> dict[str, uuid.UUID]:
        """Return ``{topic name: topic id}`` for every topic (each id drawn at creation)."""
        with self._lock:
            return {name: t.topic_id for name, t in sorted(self._topics.items())}

    def describe_topic(self, name: str) -> TopicDescription:
        """Return the configuration and offset ranges of topic ``name``."""
        with self._lock:
            topic = self._topic(name)
            for log in topic.logs:
                log.enforce_retention()
            return TopicDescription(
                name, len(topic.logs), topic.policy, topic.retention_records,
                topic.retention_ms, topic.variant,
                tuple(log.log_start_offset for log in topic.logs),
                tuple(log.end_offset for log in topic.logs),
                topic.retention_bytes,
            )

    def partitions_for(self, topic: str, *, auto_create: bool = False) -> set[int]:
        """Return the partition numbers of ``topic`` (kafka-python's ``partitions_for_topic``).

        With ``auto_create`` (a client's ``allow_auto_create_topics``) a missing topic is created
        with ``num_partitions`` partitions if ``auto_create_topics_enable`` is on, as a Kafka
        broker answers a metadata request. Raises ``UnknownTopicOrPartitionError`` for a topic
        that does not exist (and was not created), ``InvalidTopicError`` for an illegal name,
        whether or not it would be created (Kafka's Metadata answers INVALID_TOPIC_EXCEPTION
        for it either way, so clients fail at once instead of waiting for it to appear).
        """
        with self._lock:
            if topic not in self._topics:
                check_topic_name(topic)
            if topic not in self._topics and auto_create and self.auto_create_topics_enable:
                self._check_open()
                new = _Topic(topic, [], RetentionPolicy.DELETE, None, None, None, "condition",
                             "off", set())
                new.logs = [self._new_log(new) for _ in range(self.num_partitions)]
                self._topics[topic] = new
                self._metadata_changed([topic])
            return set(range(len(self._topic(topic).logs)))

    def await_metadata_change(self, version: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds until ``metadata_version()`` differs from ``version``.

        Returns the current version (unchanged after a timeout). Clients waiting for a topic
        to appear call this instead of asking again and again.
        """
        _check_timeout(timeout)
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._metadata_version == version and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._data_arrived.wait(remaining)
            return self._metadata_version

    def log_stats(self, topic: str) -> tuple[LogBytes, ...]:
        """Per partition of ``topic``: retained records, stored and uncompressed bytes.

        Stored bytes are smaller than uncompressed ones where producers used
        ``compression_type``. Raises ``UnknownTopicOrPartitionError`` for an unknown topic.
        """
        with self._lock:
            return tuple(log.byte_stats() for log in self._topic(topic).logs)

    def space_stats(self, topic: str, partition: int) -> Any:
        """The ``BufferStats`` of a ``"block"`` partition's space buffer (``None`` for delete).

        Shows how often and how long appends waited for the slowest group (create the topic
        with ``instrument="counters"`` or ``"timeline"`` to record it).
        """
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            log = self._log(tp)
        return log.space_stats()

    def metadata_version(self) -> int:
        """A counter that changes whenever a topic is created, deleted or grows."""
        with self._lock:
            return self._metadata_version

    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Return the first retained offset of each partition (``log_start_offset``).
        ``TypeError`` for a bare str or another entry that is not a ``TopicPartition``."""
        tps = _check_partitions("partitions", partitions)
        with self._lock:
            logs = [self._log(tp) for tp in tps]
            for log in logs:
                log.enforce_retention()
            return {tp: log.log_start_offset for tp, log in zip(tps, logs)}

    def end_offsets(self, partitions: Iterable[TopicPartition], *,
                    isolation_level: str = "read_uncommitted") -> dict[TopicPartition, int]:
        """Return the end offset of each partition as consumers see it: its high watermark
        (without replication, the offset the next record will get), or for
        ``isolation_level="read_committed"`` its last stable offset (Kafka's ListOffsets
        ``LATEST`` at that isolation level). ``TypeError`` for a bare str or another entry
        that is not a ``TopicPartition``.
        """
        tps = _check_partitions("partitions", partitions)
        read_committed = check_isolation_level(isolation_level)
        with self._lock:
            if not read_committed:
                return {tp: self._log(tp).high_watermark for tp in tps}
            self._check_transactions()
            return {tp: self._log(tp).last_stable_offset for tp in tps}

    def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """For each partition, the earliest retained record with timestamp >= the given ms
        that consumers may read (below the high watermark, as Kafka's ListOffsets hides the
        others), with the leader epoch of its batch: 0, a lone broker's only epoch (a cluster's
        connection answers its leader's). ``None`` where there is no such record.
        ``TypeError`` for ``timestamps`` that are not a mapping, ``IllegalArgumentError`` for
        a timestamp below 0 or above ``2**63 - 1`` (an int64 in ListOffsets)."""
        _check_mapping("timestamps", timestamps, "TopicPartition to int")
        items = [(validate_topic_partition(tp), ts) for tp, ts in timestamps.items()]
        for tp, ts in items:
            _check_int(f"timestamp for {tp}", ts, 0, IllegalArgumentError, INT64_MAX)
        with self._lock:
            logs = [self._log(tp) for tp, _ in items]
            result: dict[TopicPartition, OffsetAndTimestamp | None] = {}
            for (tp, ts), log in zip(items, logs):
                found = log.offset_for_time(ts)
                visible = found is not None and found[0] < log.high_watermark
                result[tp] = OffsetAndTimestamp(*found, leader_epoch=0) if visible else None
            return result

    def max_timestamp_offsets(
        self, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """For each partition, the first record with the largest timestamp (Kafka's ListOffsets
        ``MAX_TIMESTAMP``, KIP-734): ``None`` if the partition is empty or every record's timestamp
        is below -1 (NO_TIMESTAMP; Kafka's ``LogSegment.maxTimestampSoFar`` starts at -1), or
        if that record is at or above the high watermark (not yet visible to consumers), as
        Kafka answers. Its
        ``leader_epoch`` is left ``-1``: :meth:`list_offsets` answers the lookup with it.
        ``TypeError`` for a bare str or another entry that is not a ``TopicPartition``."""
        tps = _check_partitions("partitions", partitions)
        with self._lock:
            logs = [self._log(tp) for tp in tps]
            result: dict[TopicPartition, OffsetAndTimestamp | None] = {}
            for tp, log in zip(tps, logs):
                found = log.max_timestamp()
                visible = found is not None and found[0] < log.high_watermark
                result[tp] = OffsetAndTimestamp(*found) if visible else None
            return result

    def delete_records(self, offsets: Mapping[TopicPartition, int],
                       timeout: float | None = None) -> dict[TopicPartition, DeletedRecords]:
        """Kafka's DeleteRecords: delete each partition's records below the offset given
        (``-1``: below the high watermark, so every record consumers can read goes).

        Per partition, as Kafka answers: the new ``low_watermark`` (the log start; an offset at
        or below the current start changes nothing and answers the start), or the ``error``:
        ``UnknownTopicOrPartitionError``, ``OffsetOutOfRangeError`` for an offset beyond the high
        watermark or below ``-1``. A consumer whose position falls below the new start resets
        by its ``auto_offset_reset``; committed offsets are kept. Returns at once (``timeout``
        bounds a replicated cluster's wait for its followers); raises only for arguments that
        are not partitions or ints, or an offset above ``2**63 - 1``, before anything is
        deleted.
        """
        items = delete_records_arguments(offsets)
        results: dict[TopicPartition, DeletedRecords] = {}
        with self._lock:
            self._check_open()
            for tp, offset in items:
                try:
                    log = self._log(tp)
                    log.delete_before(delete_records_target(tp, offset, log.high_watermark))
                    results[tp] = DeletedRecords(log.log_start_offset)
                except BrokerResponseError as exc:
                    results[tp] = DeletedRecords(-1, exc)
        return results

    # --- internals (called with the lock held) -------------------------------------------------

    def _new_log(self, topic: _Topic) -> PartitionLog:
        return PartitionLog(
            retention_records=topic.retention_records, retention_ms=topic.retention_ms,
            retention_bytes=topic.retention_bytes, policy=topic.policy, variant=topic.variant,
            instrument=topic.instrument, timestamp_clock=self._timestamp_clock,
            settings=log_settings(topic.configs),
        )

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            raise UnknownTopicOrPartitionError(
                f"unknown topic {name!r}; existing topics: {sorted(self._topics)} "
                "(create it with create_topic)"
            )
        return topic

    def _log(self, tp: TopicPartition) -> PartitionLog:
        topic = self._topic(tp.topic)
        if not 0 <= tp.partition < len(topic.logs):
            raise UnknownTopicOrPartitionError(
                f"topic {tp.topic!r} has partitions 0..{len(topic.logs) - 1}, "
                f"not {tp.partition}"
            )
        return topic.logs[tp.partition]

    def _forget_topic(self, topic: _Topic) -> None:
        """Remove ``topic`` from the table with every group's committed offsets for it; its
        logs are closed by the caller, after the lock is released."""
        del self._topics[topic.name]
        self._producers.forget_topic(topic.name)
        for group_id, group in list(self._groups.items()):
            lost = [tp for tp in group.offsets if tp.topic == topic.name]
            for tp in lost:
                group.forget_offset(tp)
            if lost:
                self._drop_if_spent(group_id)
        self._metadata_changed([topic.name])

    def _partition_counts(self) -> dict[str, int]:
        return {name: len(t.logs) for name, t in self._topics.items()}

    def _metadata_changed(self, names: Collection[str]) -> None:
        # Groups are not told: as in Kafka, the group leader notices a change of its topics'
        # partitions in the metadata and rejoins, which starts a rebalance.
        self._metadata_version += 1
        self._data_arrived.notify_all()


def delete_records_arguments(offsets: Mapping[TopicPartition, int]
                             ) -> list[tuple[TopicPartition, int]]:
    """DeleteRecords' ``{partition: offset}`` checked before anything is deleted: raises
    ``TypeError`` for ``offsets`` that are not a mapping, a key that is not a partition or
    an offset that is not an int, ``IllegalArgumentError`` for an offset above ``2**63 - 1``
    (an int64 in DeleteRecords: no request can carry it)."""
    _check_mapping("offsets", offsets, "TopicPartition to int")
    items = [(validate_topic_partition(tp), offset) for tp, offset in offsets.items()]
    for tp, offset in items:
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise TypeError(f"the offset to delete {tp.topic}-{tp.partition} up to must be an "
                            f"int, got {offset!r}")
        if offset > INT64_MAX:
            raise IllegalArgumentError(
                f"the offset to delete {tp.topic}-{tp.partition} up to must be <= {INT64_MAX} "
                f"(an int64, as Kafka carries offsets), got {offset}")
    return items


def delete_records_target(tp: TopicPartition, offset: int, high_watermark: int) -> int:
    """The offset DeleteRecords deletes below at a leader whose high watermark is
    ``high_watermark``: Kafka's checks of ``Partition.deleteRecordsOnLeader``. Raises
    ``OffsetOutOfRangeError`` for an offset below ``-1`` or beyond the high watermark."""
    if offset == -1:
        return high_watermark
    name = f"{tp.topic}-{tp.partition}"  # Kafka's way of naming a partition
    if offset < 0:
        raise OffsetOutOfRangeError(f"the offset {offset} for partition {name} is not valid: "
                                    "give an offset >= 0, or -1 for the high watermark")
    if offset > high_watermark:
        raise OffsetOutOfRangeError(
            f"cannot delete the records of {name} below {offset}: it is beyond the high "
            f"watermark {high_watermark} (records not yet committed cannot be deleted)")
    return offset
