"""Value types of the topics layer: the names and field orders of kafka-python's.

Prior art: kafka-python's ``kafka/structs.py`` (``TopicPartition``, ``TopicPartitionReplica``,
``OffsetAndMetadata``,
``OffsetAndTimestamp``), ``kafka/protocol/consumer/offsets.py`` (``OffsetSpec``,
``OffsetTimestamp``), ``kafka/structs.py`` again (``ConsumerGroupMetadata``, ``MemberState``),
``kafka/producer/future.py`` (``RecordMetadata``),
``kafka/consumer/fetcher.py`` (``ConsumerRecord``) and ``kafka/consumer/subscription_state.py``
(``ConsumerRebalanceListener``). Field names and order are the same as there, so code that unpacks
these tuples or reads them by name moves to kafka-python unchanged. ``PartitionReplicas`` and
``DeletedRecords`` are pcmodel's own: a partition of Kafka's Metadata and DeleteRecords
responses, which kafka-python 3 hands out as dicts (confluent-kafka has a ``DeletedRecords``
with the same ``low_watermark``). ``ActiveProducer`` has the fields of kafka-python 3's
``ProducerState`` (DescribeProducers), and ``PartitionProducers`` adds a partition's error to
them. ``LogDirDescription`` and ``ReplicaInfo`` are the Java admin client's
(DescribeLogDirs), which kafka-python 3 hands out as dicts.

Every type is an immutable ``NamedTuple``: a record, once polled, cannot be edited by one consumer
behind another's back, and a ``TopicPartition`` can be a dict key or a set member.

Differences from kafka-python, on purpose:

- ``OffsetAndMetadata(offset, metadata="", leader_epoch=-1)``: ``offset`` is required (kafka-python
  2.x's newest releases default it to ``None``, older ones have no defaults at all), so
  ``OffsetAndMetadata(5)`` works and ``OffsetAndMetadata()`` is a ``TypeError`` rather than a commit
  of ``None``.
- ``OffsetAndTimestamp`` gives ``leader_epoch`` a default of ``-1`` (unknown: the consumer's and
  the admin's lookups fill in the epoch ListOffsets answers); kafka-python requires all three
  fields.
- ``str(TopicPartition("orders", 0))`` is ``orders-0``, as Kafka's Java client and its tools
  print a partition (and so every error message that names one); the ``repr`` is
  kafka-python's.
- ``ConsumerRebalanceListener.on_partitions_lost`` exists and by default calls
  ``on_partitions_revoked``, as the Java client's ``ConsumerRebalanceListener.onPartitionsLost``
  does.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Collection
from typing import Any, NamedTuple

__all__ = [
    "ActiveProducer",
    "ConsumerGroupMetadata",
    "ConsumerRebalanceListener",
    "ConsumerRecord",
    "DeletedRecords",
    "ElectionType",
    "LogDirDescription",
    "MemberState",
    "MemberToRemove",
    "NOTHING_TIERED",
    "OffsetAndMetadata",
    "OffsetAndTimestamp",
    "OffsetSpec",
    "OffsetTimestamp",
    "PartitionProducers",
    "PartitionReassignment",
    "PartitionReplicas",
    "RecordMetadata",
    "ReplicaInfo",
    "TopicPartition",
    "TopicPartitionReplica",
    "validate_topic_partition",
]


class TopicPartition(NamedTuple):
    """A topic name and a partition number: the address of one partition log.

    A plain tuple, not validated on construction (as in kafka-python); code that accepts one from a
    user calls :func:`validate_topic_partition` for a clear error.
    """

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


class TopicPartitionReplica(NamedTuple):
    """The replica of partition ``partition`` of ``topic`` on broker ``broker_id``
    (kafka-python's, for ``alter_replica_log_dirs``)."""

    topic: str
    partition: int
    broker_id: int


class OffsetAndMetadata(NamedTuple):
    """A committed offset: the *next* offset the group will read, plus free-form metadata.

    ``metadata`` is any string the application wants stored with the commit (who committed,
    when), at most the broker's ``offset_metadata_max_bytes`` long (4096 UTF-16 code units by
    default, as Kafka's ``offset.metadata.max.bytes``); ``leader_epoch`` is the epoch of the
    partition's leader that served the last record consumed (KIP-320), or ``-1`` for none.
    Both are stored with the offset and come back from ``committed(tp, metadata=True)``, on a
    lone broker, on a cluster and through the Kafka listener (OffsetCommit v6+, OffsetFetch
    v5+). pcmodel's consumer commits its positions with the epoch of the last record it
    consumed (``-1`` when none was read since a seek or a reset), as the Java client does.
    """

    offset: int
    metadata: str = ""
    leader_epoch: int = -1


class OffsetAndTimestamp(NamedTuple):
    """The earliest offset whose record timestamp is at or after a searched-for timestamp (or
    another offset a lookup asked for), and the leader epoch ListOffsets answered with it
    (``None`` in an admin answer that found no offset, as kafka-python's)."""

    offset: int
    timestamp: int
    leader_epoch: int | None = -1


class DeletedRecords(NamedTuple):
    """What DeleteRecords did to one partition: its ``low_watermark`` (the first offset every
    live replica still has, ``-1`` on error) and the partition's ``error`` (``None``: done)."""

    low_watermark: int
    error: Exception | None = None


class ActiveProducer(NamedTuple):
    """What one replica of a partition remembers of an idempotent producer that wrote to it
    (a producer of Kafka's DescribeProducers answer; kafka-python 3's ``ProducerState``).

    ``last_sequence`` numbers the last record of the producer's newest batch in this log,
    written with ``producer_epoch``; ``last_timestamp`` is that batch's largest timestamp (ms).
    ``current_transaction_start_offset`` is the offset of the producer's first record in its
    transaction open here, ``-1`` if none is (always, for a producer that is idempotent only);
    ``coordinator_epoch`` is the epoch of the transaction coordinator that wrote its last marker
    here (``-1`` before any; a lone broker's coordinator writes at epoch 0, a cluster's at the
    leader epoch of its ``__transaction_state`` partition).
    """

    producer_id: int
    producer_epoch: int
    last_sequence: int
    last_timestamp: int
    coordinator_epoch: int = -1
    current_transaction_start_offset: int = -1


class PartitionProducers(NamedTuple):
    """One partition's part of a DescribeProducers answer: the ``active_producers`` (by
    producer id) of the replica asked, or the partition's ``error`` (then no producers)."""

    active_producers: tuple[ActiveProducer, ...]
    error: Exception | None = None


class ReplicaInfo(NamedTuple):
    """One replica's log in a broker's log directory (Kafka's admin ``ReplicaInfo``).

    ``size`` is the bytes the log's retained records take, as ``retention.bytes`` counts
    them; ``offset_lag`` is how far the log end is below the high watermark (``0`` for a
    replica, which has everything below its high watermark); ``is_future`` marks a copy being
    made for another directory (never, here: a broker has one log directory).
    """

    size: int
    offset_lag: int = 0
    is_future: bool = False


class LogDirDescription(NamedTuple):
    """One log directory of a broker (Kafka's admin ``LogDirDescription``): its ``path``, the
    ``replicas`` it holds, and the ``total_bytes`` and ``usable_bytes`` of its volume (``-1``
    where unknown: a broker that keeps its logs in memory); ``error`` if it could not be read.
    """

    path: str
    replicas: dict[TopicPartition, ReplicaInfo]
    total_bytes: int = -1
    usable_bytes: int = -1
    error: Exception | None = None


class PartitionReplicas(NamedTuple):
    """Where one partition's replicas are (Kafka's Metadata partition): its ``leader`` (``-1``
    while it has none) in ``leader_epoch``, every broker holding a ``replicas`` copy, the
    in-sync ones (``isr``) and those on brokers that are down (``offline``)."""

    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline: tuple[int, ...]


class PartitionReassignment(NamedTuple):
    """A reassignment in progress (Kafka's ``PartitionReassignment``): the partition's
    ``replicas`` now (the target first, then those being removed), the ``adding_replicas``
    still catching up and the ``removing_replicas`` that leave once they have."""

    replicas: tuple[int, ...]
    adding_replicas: tuple[int, ...]
    removing_replicas: tuple[int, ...]


class OffsetSpec(enum.IntEnum):
    """Which offset of a partition an admin lookup asks for (Kafka's ListOffsets timestamps).

    ``LATEST``: the offset the next record will get; ``EARLIEST``: the first retained one;
    ``MAX_TIMESTAMP``: the first record with the highest timestamp (KIP-734). The others are
    about tiered storage, which pcmodel does not have, and are answered as a Kafka broker
    without it answers them: ``EARLIEST_LOCAL`` (KIP-405) is the log start,
    ``LATEST_TIERED`` (the last offset copied to remote storage, KIP-1005) and
    ``EARLIEST_PENDING_UPLOAD`` (the first not yet copied, KIP-1023) find no offset.
    ``EARLIEST_PENDING_UPLOAD`` is the Java client's ``OffsetSpec.earliestPendingUpload()``;
    kafka-python has no name for it.
    """

    LATEST = -1
    EARLIEST = -2
    MAX_TIMESTAMP = -3
    EARLIEST_LOCAL = -4
    LATEST_TIERED = -5
    EARLIEST_PENDING_UPLOAD = -6


#: The specs about tiered storage that find no offset on a broker without it (pcmodel's).
NOTHING_TIERED = frozenset({OffsetSpec.LATEST_TIERED, OffsetSpec.EARLIEST_PENDING_UPLOAD})


class ElectionType(enum.IntEnum):
    """Which leader election an administrator asks for (Kafka's ElectLeaders, KIP-460).

    ``PREFERRED`` gives the leadership back to the preferred replica, the first of the
    partition's replicas, if it is alive and in the ISR; ``UNCLEAN`` elects a leader for a
    partition that has none, outside the ISR if no in-sync replica is alive, whatever the
    topic's ``unclean.leader.election.enable`` says (records may be lost). kafka-python names it
    ``kafka.protocol.admin.topics.ElectionType``, the Java client ``ElectionType``.
    """

    PREFERRED = 0
    UNCLEAN = 1


class OffsetTimestamp(int):
    """A time in milliseconds since the epoch, asking for the first offset whose record
    timestamp is at or after it; an ``int`` marked so that it is not read as an offset."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"OffsetTimestamp({int(self)})"


class MemberState:
    """Where a consumer stands in its group, as kafka-python names it (its string values)."""

    UNJOINED = "<unjoined>"  #: not a member: no group, assign(), not joined yet, or left
    REBALANCING = "<rebalancing>"  #: joining: a JoinGroup/SyncGroup round is under way
    STABLE = "<stable>"  #: a member of the current generation, with its assignment


class MemberToRemove(NamedTuple):
    """A member an administrator removes from a group (``KafkaAdminClient.remove_group_members``):
    a dynamic one by its ``member_id``, a static one by its ``group_instance_id`` (or both,
    which must then agree). ``reason`` is kept for kafka-python's shape; pcmodel's broker logs
    no reasons. kafka-python's ``kafka.admin.MemberToRemove``."""

    member_id: str | None = None
    group_instance_id: str | None = None
    reason: str | None = None


class ConsumerGroupMetadata(NamedTuple):
    """A snapshot of a consumer's group membership (``KafkaConsumer.group_metadata()``), which
    a transactional producer's ``send_offsets_to_transaction()`` takes (KIP-447).

    The first four fields are Java's ``ConsumerGroupMetadata``; ``state`` is kafka-python's
    addition, a :class:`MemberState`. ``group_instance_id`` is the consumer's setting: ``None``
    for a dynamic member.
    """

    group_id: str | None = None
    generation_id: int = -1
    member_id: str = ""
    group_instance_id: str | None = None
    state: str = MemberState.UNJOINED


class RecordMetadata(NamedTuple):
    """Where a sent record landed: what ``producer.send(...).get()`` returns.

    The nine fields of kafka-python 3, in its order (kafka-python 2.x had a tenth,
    ``log_start_offset``, which 3.0 dropped), so code that unpacks one moves unchanged.
    ``timestamp`` is in milliseconds (the record's ``timestamp_ms`` or the append time); sizes
    are in bytes of the serialized key, value and headers (``-1`` for an absent key or value, as
    in kafka-python). ``checksum`` is ``None``: there is no wire format to checksum.
    """

    topic: str
    partition: int
    topic_partition: TopicPartition
    offset: int
    timestamp: int
    checksum: int | None
    serialized_key_size: int
    serialized_value_size: int
    serialized_header_size: int


class ConsumerRecord(NamedTuple):
    """One record as ``consumer.poll()`` returns it, keyed under its ``TopicPartition``.

    ``key`` and ``value`` are deserialized with the consumer's deserializers; ``headers`` is a list
    of ``(str, bytes)`` pairs (a value may be ``None``: Kafka's null header value);
    ``timestamp`` is in milliseconds and ``timestamp_type`` is ``0`` (create time, set by the
    producer) or ``1`` (log append time), Kafka's codes. ``leader_epoch`` is the epoch of the
    leader that wrote the record (KIP-101: 0 on a lone broker; ``-1`` where a cluster could not
    say, as when the record was deleted since it was fetched).
    """

    topic: str
    partition: int
    leader_epoch: int
    offset: int
    timestamp: int
    timestamp_type: int
    key: Any
    value: Any
    headers: list[tuple[str, bytes | None]]
    checksum: int | None
    serialized_key_size: int
    serialized_value_size: int
    serialized_header_size: int


def validate_topic_partition(tp: object) -> TopicPartition:
    """Return ``tp`` as a ``TopicPartition`` if it is a well-formed one, else raise.

    Accepts a ``TopicPartition`` or any 2-tuple ``(topic, partition)``. Raises ``TypeError`` when
    the shape or types are wrong and ``ValueError`` for an empty topic name or a negative
    partition. Does not check that the topic exists: that is the broker's job
    (``UnknownTopicOrPartitionError``).
    """
    if not isinstance(tp, tuple) or len(tp) != 2:
        raise TypeError(
            f"expected a TopicPartition(topic, partition), got {tp!r}; "
            "build one with TopicPartition('my-topic', 0)"
        )
    topic, partition = tp
    if not isinstance(topic, str):
        raise TypeError(f"topic must be a str, got {type(topic).__name__} in {tp!r}")
    if not topic:
        raise ValueError(f"topic must be a non-empty string, got {tp!r}")
    # bool is an int subclass; True as a partition number is always a mistake.
    if not isinstance(partition, int) or isinstance(partition, bool):
        raise TypeError(f"partition must be an int, got {type(partition).__name__} in {tp!r}")
    if partition < 0:
        raise ValueError(f"partition must be >= 0, got {partition} in {tp!r}")
    if isinstance(tp, TopicPartition):
        return tp
    return TopicPartition(topic, partition)


class ConsumerRebalanceListener(abc.ABC):
    """Callbacks a consumer runs when the group moves partitions to or from it.

    Pass an instance as ``consumer.subscribe(topics, listener=...)``. The callbacks run on the
    consumer's own thread, inside ``poll()``, so they may call ``commit()`` or ``seek()``.

    - ``on_partitions_revoked(revoked)``: before a rebalance takes partitions away. Commit offsets
      of processed records here, or another member will read them again. With the eager protocol
      every member revokes everything before any member gets an assignment; with the cooperative
      protocol only the partitions that change owner are revoked.
    - ``on_partitions_assigned(assigned)``: after the rebalance, with the partitions newly given.
    - ``on_partitions_lost(lost)``: the member was removed from the group (session or poll
      interval expired) and its partitions may already belong to someone else, so committing is
      pointless. By default it calls ``on_partitions_revoked``, as the Java client does.
    """

    @abc.abstractmethod
    def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        """Called before the consumer gives up ``revoked``; commit processed offsets here."""

    @abc.abstractmethod
    def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        """Called after the consumer was given ``assigned``; positions are not fetched yet."""

    def on_partitions_lost(self, lost: Collection[TopicPartition]) -> None:
        """Called when ``lost`` were taken away without a chance to commit; defaults to revoked."""
        self.on_partitions_revoked(lost)
