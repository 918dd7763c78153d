"""The broker: topics, partition logs, committed offsets and one coordinator per consumer group.

Clients (``KafkaProducer``, ``KafkaConsumer``) talk to a broker *only* through the methods named in
:data:`CLIENT_METHODS`. Each takes and returns plain picklable values (str, int, bytes, tuples,
dicts, the NamedTuples of :mod:`pcmodel.topics.structs` and of this package), never callbacks or
shared objects, so that the same client code works with a broker in the same process (threads) and
with one in another process, where a proxy forwards each call by name over a connection as Kafka
clients send requests over the network. Errors are raised as the exceptions of
:mod:`pcmodel.topics.errors`, which pickle too.

Clients obtain connections with ``broker.connect()`` (see :meth:`Broker.connect`), one per
thread that may block. Blocking calls: ``append`` (a ``"block"`` partition that is full),
``fetch`` (long polling), ``join_group`` (waiting for the other members) and ``sync_group``
(waiting for the leader's assignment) may block up to their ``timeout`` in seconds; every other
call returns at once.

Locking: one lock guards every topic, log and group (critical sections are a few list operations,
and one lock cannot deadlock). Waiting happens on conditions of that lock (``fetch`` waits for
data, ``join_group`` and ``sync_group`` for members) or, for ``"block"`` partitions, inside a
layer-1 bounded buffer with the lock released. Clocks are injected: ``clock`` (monotonic
seconds) drives session timeouts, rebalance timeouts and retention age, so tests can move time
by hand; ``timeout`` arguments are always real seconds.

Typical use, in one process::

    broker = Broker()
    broker.create_topic("orders", 3)                       # partitions 0, 1, 2
    broker.create_topic("jobs", 1, retention_policy="block", retention_records=100)
    producer = KafkaProducer(broker=broker)
    consumer = KafkaConsumer("orders", broker=broker, group_id="billing")
    broker.describe_group("billing")                       # members, assignment, lag

Prior art: Kafka's broker APIs (Produce, Fetch with ``max.wait.ms`` long polling, ListOffsets,
OffsetCommit/OffsetFetch, JoinGroup/SyncGroup/Heartbeat/LeaveGroup, CreateTopics,
CreatePartitions, DeleteTopics, DescribeGroups) and kafka-python's ``KafkaAdminClient`` names.
"""

from __future__ import annotations

import enum
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pcmodel.buffers import VARIANTS
from pcmodel.topics.compression import CompressedBatch, get_codec
from pcmodel.topics.consumer_protocol import PROTOCOL_TYPE
from pcmodel.topics.coordinator import (
    GroupCoordinator,
    GroupDescription,
    GroupState,
    HeartbeatResult,
    HeartbeatStatus,
    JoinedMember,
    JoinResult,
    MemberDescription,
    SyncResult,
    validate_group_id,
)
from pcmodel.topics.errors import (
    GroupIdNotFoundError,
    GroupNotEmptyError,
    IllegalArgumentError,
    IllegalStateError,
    InvalidPartitionsError,
    InvalidTopicError,
    KafkaConfigurationError,
    OffsetOutOfRangeError,
    TopicAlreadyExistsError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
    UnsupportedCompressionTypeError,
    UnsupportedVersionError,
)
from pcmodel.topics.idempotence import ProducerSequences
from pcmodel.topics.log import (
    LogBytes,
    LogRecord,
    NewRecord,
    PartitionLog,
    RetentionPolicy,
    validate_records,
    wall_clock_ms,
)
from pcmodel.topics.structs import (
    OffsetAndMetadata,
    OffsetAndTimestamp,
    TopicPartition,
    validate_topic_partition,
)

__all__ = [
    "CLIENT_METHODS",
    "AppendResult",
    "Broker",
    "FetchError",
    "FetchResult",
    "GroupDescription",
    "GroupState",
    "HeartbeatResult",
    "HeartbeatStatus",
    "JoinResult",
    "JoinedMember",
    "LogRecord",
    "MemberDescription",
    "NewRecord",
    "SyncResult",
    "TopicDescription",
    "check_topic_name",
]

#: Every method a client may call, remotely or in process. Nothing else is part of the contract.
CLIENT_METHODS: tuple[str, ...] = (
    # admin and metadata
    "create_topic",
    "delete_topic",
    "add_partitions",
    "list_topics",
    "describe_topic",
    "partitions_for",
    "metadata_version",
    "await_metadata_change",
    "space_stats",
    "log_stats",
    "beginning_offsets",
    "end_offsets",
    "offsets_for_times",
    # data
    "append",
    "append_idempotent",
    "init_producer_id",
    "fetch",
    # groups and offsets
    "join_group",
    "sync_group",
    "heartbeat",
    "leave_group",
    "commit_offsets",
    "committed",
    "describe_group",
    "delete_group",
    "list_groups",
    "group_states",
)

_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")
_MAX_TOPIC_LENGTH = 249
_INSTRUMENT_LEVELS = ("off", "counters", "timeline")


class FetchError(str, enum.Enum):
    """Why one partition of a fetch returned no records (the others are still served)."""

    OFFSET_OUT_OF_RANGE = "offset_out_of_range"
    UNKNOWN_TOPIC_OR_PARTITION = "unknown_topic_or_partition"


class AppendResult(NamedTuple):
    """Where an appended batch landed: offsets ``base_offset .. base_offset + n - 1``.

    ``append_time_ms`` is the broker's wall-clock time of the append; a record sent without a
    timestamp carries it as its timestamp (``timestamp_type`` 1, log append time).
    """

    base_offset: int
    log_start_offset: int
    append_time_ms: int


class FetchResult(NamedTuple):
    """One partition's part of a fetch.

    ``records`` start exactly at the requested offset and are consecutive; ``high_watermark`` is
    the end offset (for lag), ``log_start_offset`` the first retained one. ``error`` is ``None``
    or why nothing could be read (then ``records`` is empty).
    """

    records: tuple[LogRecord, ...]
    high_watermark: int
    log_start_offset: int
    error: FetchError | None


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


@dataclass
class _Topic:
    name: str
    logs: list[PartitionLog]
    policy: RetentionPolicy
    retention_records: int | None
    retention_ms: int | None
    variant: str
    instrument: str
    #: Groups whose committed offsets hold back a "block" topic (subscribers and committers).
    tracking_groups: set[str]


def _check_int(name: str, value: Any, minimum: int, error: type[Exception]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise error(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_timeout(timeout: float | None) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    # NaN compares false with everything: without this check a wait loop would never end.
    if not 0 <= timeout <= threading.TIMEOUT_MAX:
        raise IllegalArgumentError(
            f"timeout must be a number of seconds from 0 to {threading.TIMEOUT_MAX:g}, "
            f"or None to wait for ever; got {timeout}"
        )


def check_topic_name(name: object) -> str:
    """Return ``name`` if it is a legal Kafka topic name, else raise ``InvalidTopicError``."""
    if not isinstance(name, str):
        raise TypeError(f"topic name must be a str, got {name!r}")
    if not _LEGAL_TOPIC.fullmatch(name) or name in (".", "..") or len(name) > _MAX_TOPIC_LENGTH:
        raise InvalidTopicError(
            f"illegal topic name {name!r}: use 1 to {_MAX_TOPIC_LENGTH} characters from "
            "[a-zA-Z0-9._-], and not '.' or '..'"
        )
    return name


class Broker:
    """An in-process broker. See the module docstring for the client contract.

    ``clock`` (monotonic seconds) drives group liveness and retention age;
    ``timestamp_clock`` (epoch milliseconds) stamps records that carry no timestamp.
    ``auto_create_topics_enable`` and ``num_partitions`` are Kafka's broker settings of those
    names, with Kafka's defaults: a client that asks for a missing topic and allows it
    (``allow_auto_create_topics``, the clients' default) gets it created with
    ``num_partitions`` partitions; with ``auto_create_topics_enable=False`` topics exist only
    once created (``create_topic`` or the admin client).

    ``group_initial_rebalance_delay_ms`` is Kafka's ``group.initial.rebalance.delay.ms``: a
    group leaving ``Empty`` completes its first round no earlier than this, each new member
    extending it, up to the rebalance timeout (see :mod:`pcmodel.topics.coordinator`). The
    default is 0 (no delay), not Kafka's 3000: pcmodel's own consumers read topic metadata from
    the broker itself when they lead, so a group formed at once assigns every partition, and a
    3 s wait on every new group would slow every test and notebook cell that forms one. Set a
    few hundred ms when Kafka clients join through :meth:`serve_kafka`: kafka-python's leader
    may assign nothing, and rebalance again, if its group forms before it has the topics'
    metadata.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        timestamp_clock: Callable[[], int] = wall_clock_ms,
        auto_create_topics_enable: bool = True,
        num_partitions: int = 1,
        group_initial_rebalance_delay_ms: int = 0,
    ) -> None:
        if not isinstance(auto_create_topics_enable, bool):
            raise TypeError(
                "auto_create_topics_enable must be True or False, got "
                f"{auto_create_topics_enable!r}"
            )
        _check_int("num_partitions", num_partitions, 1, InvalidPartitionsError)
        _check_int("group_initial_rebalance_delay_ms", group_initial_rebalance_delay_ms, 0,
                   IllegalArgumentError)
        self.group_initial_rebalance_delay_ms = group_initial_rebalance_delay_ms
        self.auto_create_topics_enable = auto_create_topics_enable
        self.num_partitions = num_partitions
        self._clock = clock
        self._timestamp_clock = timestamp_clock
        self._lock = threading.Lock()
        # Notified on every append, topic change and close: fetches long-poll on it.
        self._data_arrived = threading.Condition(self._lock)
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, GroupCoordinator] = {}
        self._metadata_version = 0
        self._closed = False
        self._producers = ProducerSequences()

    def __repr__(self) -> str:
        return (
            f"<Broker topics={len(self._topics)} groups={len(self._groups)}"
            f"{' closed' if self._closed else ''}>"
        )

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
    ) -> None:
        """Create topic ``name`` with ``partitions`` empty partition logs.

        ``retention_policy="delete"`` keeps at most ``retention_records`` records and none older
        than ``retention_ms`` (either may be ``None``: unlimited). ``"block"`` makes each partition
        a bounded buffer of capacity ``retention_records`` (required; ``retention_ms`` must be
        ``None``): appends wait while the slowest group lags that much, and ``variant``
        (``"condition"``, ``"semaphore"``, ``"queue"``) picks the algorithm that waits. Every
        group that subscribed to the topic or committed an offset on it counts, until
        ``delete_group``; a group that never committed a partition holds it at its start.
        ``instrument`` (``"off"``, ``"counters"``, ``"timeline"``) records that waiting; read it
        with :meth:`space_stats`.
        Raises ``InvalidTopicError``, ``TopicAlreadyExistsError``, ``InvalidPartitionsError``,
        ``IllegalArgumentError`` / ``TypeError`` for bad settings; nothing is created then.
        """
        check_topic_name(name)
        _check_int("partitions", partitions, 1, InvalidPartitionsError)
        if retention_records is not None:
            _check_int("retention_records", retention_records, 1, IllegalArgumentError)
        if retention_ms is not None:
            _check_int("retention_ms", retention_ms, 1, IllegalArgumentError)
        try:
            policy = RetentionPolicy(retention_policy)
        except ValueError:
            raise IllegalArgumentError(
                f"retention_policy must be 'delete' or 'block', got {retention_policy!r}"
            ) from None
        if policy is RetentionPolicy.BLOCK and (retention_records is None or retention_ms):
            raise IllegalArgumentError(
                "retention_policy='block' needs retention_records (the capacity) and no "
                "retention_ms: records leave when every group has committed them, not by age"
            )
        if variant not in VARIANTS:
            raise IllegalArgumentError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if instrument not in _INSTRUMENT_LEVELS:
            raise IllegalArgumentError(
                f"instrument must be one of {_INSTRUMENT_LEVELS}, got {instrument!r}"
            )
        with self._lock:
            self._check_open()
            if name in self._topics:
                raise TopicAlreadyExistsError(f"topic {name!r} already exists")
            topic = _Topic(
                name, [], policy, retention_records, retention_ms, variant, instrument, set()
            )
            topic.logs = [self._new_log(topic) for _ in range(partitions)]
            self._topics[name] = topic
            self._metadata_changed([name])

    def delete_topic(self, name: str) -> None:
        """Delete topic ``name``, its records and every group's committed offsets for it.

        Appends waiting for space fail with ``UnknownTopicOrPartitionError``; groups subscribed
        to it rebalance. Raises ``UnknownTopicOrPartitionError`` if there is no such topic.
        """
        with self._lock:
            self._check_open()
            topic = self._topic(name)
            del self._topics[name]
            for group in self._groups.values():
                for tp in [tp for tp in group.offsets if tp.topic == name]:
                    del group.offsets[tp]
            self._metadata_changed([name])
        for log in topic.logs:
            log.close()

    def add_partitions(self, name: str, total: int) -> None:
        """Grow topic ``name`` to ``total`` partitions (Kafka's CreatePartitions).

        Existing partitions keep their records; subscribed groups rebalance. Raises
        ``UnknownTopicOrPartitionError``, or ``InvalidPartitionsError`` unless ``total`` is
        above the current count (partitions are never removed).
        """
        _check_int("total", total, 1, InvalidPartitionsError)
        with self._lock:
            self._check_open()
            topic = self._topic(name)
            if total <= len(topic.logs):
                raise InvalidPartitionsError(
                    f"topic {name!r} already has {len(topic.logs)} partitions; the new total must "
                    f"be larger (got {total}), partitions can only be added"
                )
            topic.logs += [self._new_log(topic) for _ in range(total - len(topic.logs))]
            self._metadata_changed([name])

    def list_topics(self) -> dict[str, int]:
        """Return ``{topic name: partition count}`` for every topic."""
        with self._lock:
            return {name: len(t.logs) for name, t in sorted(self._topics.items())}

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
            )

    def partitions_for(self, topic: str, *, auto_create: bool = False) -> set[int]:
        """Return the partition numbers of ``topic`` (kafka-python's ``partitions_for_topic``).

        With ``auto_create`` (a client's ``allow_auto_create_topics``) a missing topic is created
        with ``num_partitions`` partitions if ``auto_create_topics_enable`` is on, as a Kafka
        broker answers a metadata request. Raises ``UnknownTopicOrPartitionError`` for a topic
        that does not exist (and was not created), ``InvalidTopicError`` for an illegal name.
        """
        with self._lock:
            if topic not in self._topics and auto_create and self.auto_create_topics_enable:
                check_topic_name(topic)
                self._check_open()
                new = _Topic(topic, [], RetentionPolicy.DELETE, None, None, "condition", "off",
                             set())
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
        """Return the first retained offset of each partition (``log_start_offset``)."""
        tps = [validate_topic_partition(tp) for tp in partitions]
        with self._lock:
            logs = [self._log(tp) for tp in tps]
            for log in logs:
                log.enforce_retention()
            return {tp: log.log_start_offset for tp, log in zip(tps, logs)}

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Return the end offset of each partition as consumers see it: its high watermark.

        Without replication that is the offset the next record will get.
        """
        tps = [validate_topic_partition(tp) for tp in partitions]
        with self._lock:
            return {tp: self._log(tp).high_watermark for tp in tps}

    def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """For each partition, the earliest retained record with timestamp >= the given ms."""
        items = [(validate_topic_partition(tp), ts) for tp, ts in timestamps.items()]
        for tp, ts in items:
            _check_int(f"timestamp for {tp}", ts, 0, IllegalArgumentError)
        with self._lock:
            logs = [self._log(tp) for tp, _ in items]
            result: dict[TopicPartition, OffsetAndTimestamp | None] = {}
            for (tp, ts), log in zip(items, logs):
                found = log.offset_for_time(ts)
                result[tp] = None if found is None else OffsetAndTimestamp(*found)
            return result

    # --- data ---------------------------------------------------------------------------------

    def append(
        self,
        topic: str,
        partition: int,
        records: Sequence[NewRecord | tuple],
        *,
        timeout: float | None = None,
        compression: str | None = None,
    ) -> AppendResult:
        """Append ``records`` (serialized ``(key, value, headers, timestamp_ms)``) in order.

        All records get consecutive offsets; records of one call are never interleaved with
        another's. On a ``"block"`` topic this waits while the partition is full, for at most
        ``timeout`` seconds (``None``: for ever), then raises ``KafkaTimeoutError`` with nothing
        appended. ``compression`` (``"gzip"``, ``"snappy"``, ``"lz4"``, ``"zstd"``) stores the
        records as one compressed batch (compressed before the broker lock is taken). Raises
        ``UnknownTopicOrPartitionError``, ``UnsupportedCompressionTypeError`` for a codec that
        is unknown or not installed, ``TypeError`` / ``IllegalArgumentError`` for malformed
        records (nothing appended).
        """
        tp = validate_topic_partition((topic, partition))
        _check_timeout(timeout)
        batch = validate_records(records)
        if not batch:
            raise IllegalArgumentError("append needs at least one record")
        compressed = None
        if compression is not None:
            try:
                codec = get_codec(compression)
            except KafkaConfigurationError as exc:
                raise UnsupportedCompressionTypeError(str(exc)) from None
            compressed = CompressedBatch.build(codec, batch)
        with self._lock:
            self._check_open()
            log = self._log(tp)
        log.reserve(len(batch), timeout)
        with self._lock:
            current = self._topics.get(topic)
            if (
                self._closed
                or current is None
                or tp.partition >= len(current.logs)
                or current.logs[tp.partition] is not log
            ):
                log.cancel_reservation(len(batch))
                raise UnknownTopicOrPartitionError(
                    f"topic {topic!r} was deleted while the append waited"
                )
            base, append_time = log.append(batch, compressed=compressed)
            self._data_arrived.notify_all()
            return AppendResult(base, log.log_start_offset, append_time)

    def init_producer_id(self, producer_id: int = -1, producer_epoch: int = -1) -> tuple[int, int]:
        """Give an idempotent producer its ``(producer_id, epoch)`` (Kafka's InitProducerId).

        ``-1, -1`` asks for a new id (epoch 0); an existing id with its current epoch gets the
        epoch bumped, fencing older instances of that producer. See
        :mod:`pcmodel.topics.idempotence`.
        """
        return self._producers.init_producer_id(producer_id, producer_epoch)

    def append_idempotent(
        self,
        topic: str,
        partition: int,
        records: Sequence[NewRecord | tuple],
        *,
        producer_id: int,
        producer_epoch: int,
        first_sequence: int,
        timeout: float | None = None,
        compression: str | None = None,
    ) -> AppendResult:
        """:meth:`append` for an idempotent producer: a retried batch is not appended twice.

        ``first_sequence`` numbers the first record (the producer's per-partition counter).
        A batch the broker already appended returns its original :class:`AppendResult`.
        Raises ``OutOfOrderSequenceNumberError`` for a gap, ``InvalidProducerEpochError`` for a
        fenced producer, and whatever :meth:`append` raises; nothing is appended then.
        """
        return self._producers.append(
            (topic, partition), producer_id, producer_epoch, first_sequence, len(records),
            lambda: self.append(topic, partition, records, timeout=timeout,
                                compression=compression),
        )

    def fetch(
        self,
        offsets: Mapping[TopicPartition, int],
        *,
        max_records: int = 500,
        timeout: float = 0.0,
        replica_id: int = -1,
    ) -> dict[TopicPartition, FetchResult]:
        """Read from several partitions at once, each from its given offset; long-polls.

        Returns as soon as at least one partition has records (or an error), or after
        ``timeout`` seconds with empty results. At most ``max_records`` records in total, taken
        from the partitions in the order given (rotate the order for fairness). A partition whose
        offset is outside ``[log_start_offset, end_offset]`` answers
        ``FetchError.OFFSET_OUT_OF_RANGE``; one that no longer exists,
        ``UNKNOWN_TOPIC_OR_PARTITION``. Raises ``TypeError`` / ``IllegalArgumentError`` for
        malformed requests.

        Consumers (``replica_id=-1``, as in Kafka's FetchRequest) read only below each
        partition's high watermark; a follower replica (its broker id, ``>= 0``) reads up to the
        log end, since replication is consumption of the leader's log.
        """
        requests = []
        for tp, offset in offsets.items():
            requests.append(
                (validate_topic_partition(tp), _check_int(f"offset of {tp}", offset, 0,
                                                           IllegalArgumentError))
            )
        _check_int("max_records", max_records, 1, IllegalArgumentError)
        _check_timeout(timeout)
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self._check_open()
                results, found = self._read(requests, max_records, replica_id >= 0)
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return results
                self._data_arrived.wait(remaining)

    # --- groups and offsets -------------------------------------------------------------------

    def join_group(
        self,
        group_id: str,
        member_id: str,
        *,
        protocols: Sequence[tuple[str, bytes]],
        protocol_type: str = PROTOCOL_TYPE,
        session_timeout_ms: int = 10_000,
        rebalance_timeout_ms: int | None = None,
        client_id: str = "",
        client_host: str = "",
        group_instance_id: str | None = None,
        require_known_member_id: bool = False,
        timeout: float | None = None,
    ) -> JoinResult:
        """Kafka's JoinGroup: join group ``group_id`` (``member_id=""`` for a new member).

        ``protocols`` lists ``(name, metadata)`` pairs in order of preference (consumers: one per
        assignor, the metadata from :func:`~pcmodel.topics.consumer_protocol.encode_subscription`).
        **Blocks** until every known member has joined or the rebalance timeout
        (``rebalance_timeout_ms``, default ``session_timeout_ms``) passed, but at most
        ``timeout`` seconds: then the answer has ``pending=True`` and the join stays registered;
        call again with the same member id. The leader's answer lists every member's metadata.
        Raises ``MemberIdRequiredError`` (with ``require_known_member_id``: join again with its
        ``member_id``), ``UnknownMemberIdError``, ``InconsistentGroupProtocolError``,
        ``InvalidSessionTimeoutError``, ``InvalidGroupIdError``, ``UnsupportedVersionError`` for
        ``group_instance_id`` (static membership is not implemented), ``TypeError`` /
        ``IllegalArgumentError`` for malformed arguments.
        """
        validate_group_id(group_id)
        if group_instance_id is not None:
            raise UnsupportedVersionError(
                "static membership (group_instance_id) is not supported by pcmodel's group "
                "coordinator; leave group_instance_id unset"
            )
        if isinstance(protocols, (str, bytes)) or not all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
            and isinstance(p[1], (bytes, bytearray))
            for p in protocols
        ):
            raise TypeError(f"protocols must be (name, metadata bytes) pairs, got {protocols!r}")
        session = _check_int("session_timeout_ms", session_timeout_ms, 0, IllegalArgumentError)
        rebalance = session if rebalance_timeout_ms is None else _check_int(
            "rebalance_timeout_ms", rebalance_timeout_ms, 1, IllegalArgumentError
        )
        _check_timeout(timeout)
        with self._lock:
            self._check_open()
            created = group_id not in self._groups
            group = self._group(group_id, create=True)
            try:
                result = group.join(
                    member_id, protocol_type=protocol_type, protocols=protocols,
                    session_timeout_ms=session, rebalance_timeout_ms=rebalance,
                    client_id=client_id, client_host=client_host,
                    require_known_member_id=require_known_member_id, timeout=timeout,
                )
            except BaseException:
                if created and not group.members and not group.pending_members:
                    del self._groups[group_id]  # a rejected first join leaves no trace
                raise
            self._track_subscriptions(group_id, group)
            return result

    def sync_group(
        self,
        group_id: str,
        member_id: str,
        generation: int,
        *,
        assignments: Mapping[str, bytes] | None = None,
        protocol_type: str | None = None,
        protocol: str | None = None,
        group_instance_id: str | None = None,
        timeout: float | None = None,
    ) -> SyncResult:
        """Kafka's SyncGroup: the leader sends every member's assignment; each gets its own.

        A follower **blocks** until the leader's SyncGroup arrived, at most ``timeout`` seconds
        (then ``pending=True``: call again). Raises ``UnknownMemberIdError``,
        ``IllegalGenerationError``, ``RebalanceInProgressError`` (a new round started: join
        again), ``InconsistentGroupProtocolError`` when ``protocol_type`` / ``protocol`` are
        given and are not the group's.
        """
        validate_group_id(group_id)
        _check_timeout(timeout)
        if group_instance_id is not None:
            raise UnsupportedVersionError(
                "static membership (group_instance_id) is not supported by pcmodel's group "
                "coordinator; leave group_instance_id unset"
            )
        with self._lock:
            self._check_open()
            group = self._known_group(group_id, member_id)
            return group.sync(
                member_id, generation, protocol_type=protocol_type, protocol=protocol,
                assignments=assignments, timeout=timeout,
            )

    def heartbeat(self, group_id: str, member_id: str, generation: int) -> HeartbeatResult:
        """Kafka's Heartbeat: keep a member alive; the status says whether to rejoin.

        Returns at once; the status is ``UNKNOWN_MEMBER`` for an unknown group or member.
        """
        with self._lock:
            self._check_open()
            group = self._groups.get(group_id)
            status = (
                HeartbeatStatus.UNKNOWN_MEMBER
                if group is None
                else group.heartbeat(member_id, generation)
            )
            return HeartbeatResult(status, self._metadata_version)

    def leave_group(self, group_id: str, member_id: str) -> None:
        """Kafka's LeaveGroup: leave now; the group rebalances without the member.

        Returns at once. Raises ``UnknownMemberIdError`` for a member (or group) the broker
        does not know, e.g. one already removed after its session timeout.
        """
        with self._lock:
            self._check_open()
            self._known_group(group_id, member_id).leave(member_id)

    def commit_offsets(
        self,
        group_id: str,
        generation: int,
        member_id: str,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
    ) -> None:
        """Kafka's OffsetCommit: store the *next* offset to read per partition, all or none.

        Group members pass their current ``generation`` and ``member_id``; a consumer without
        group management passes ``-1`` and ``""`` (accepted while the group has no members).
        Any existing partition may be committed, assigned or not, at any offset (one past the
        log end is resolved by ``auto_offset_reset`` when read). Returns at once. Raises
        ``UnknownMemberIdError``, ``IllegalGenerationError``, ``RebalanceInProgressError``
        (see :meth:`GroupCoordinator.check_commit`), ``UnknownTopicOrPartitionError`` for a
        partition that does not exist, ``IllegalArgumentError`` for a negative offset.
        """
        validate_group_id(group_id)
        items: list[tuple[TopicPartition, OffsetAndMetadata]] = []
        for tp, value in offsets.items():
            tp = validate_topic_partition(tp)
            if not isinstance(value, OffsetAndMetadata):
                value = OffsetAndMetadata(value)
            _check_int(f"offset of {tp}", value.offset, 0, IllegalArgumentError)
            items.append((tp, value))
        freed_logs = []
        with self._lock:
            self._check_open()
            for tp, _ in items:
                self._log(tp)  # UnknownTopicOrPartitionError before anything is stored
            group = self._groups.get(group_id)
            if group is None:
                if member_id or generation >= 0:
                    raise UnknownMemberIdError(
                        f"member {member_id!r} is not in group {group_id!r}: the group has no "
                        "members; rejoin"
                    )
                group = self._group(group_id, create=True)
            group.check_commit(member_id, generation)
            for tp, value in items:
                group.offsets[tp] = value
                topic = self._topics[tp.topic]
                topic.tracking_groups.add(group_id)
                if topic.policy is RetentionPolicy.BLOCK:
                    freed_logs.append(tp)
            for tp in freed_logs:
                self._advance_floor(tp)

    def committed(
        self, group_id: str, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """Kafka's OffsetFetch: the committed offset per partition (``None`` where none).

        Returns at once. Raises ``InvalidGroupIdError`` and ``TypeError`` for malformed input.
        """
        validate_group_id(group_id)
        tps = [validate_topic_partition(tp) for tp in partitions]
        with self._lock:
            group = self._groups.get(group_id)
            return {tp: None if group is None else group.offsets.get(tp) for tp in tps}

    def describe_group(self, group_id: str) -> GroupDescription:
        """State, generation, protocol, members, committed offsets and lag of one group.

        Raises ``GroupIdNotFoundError`` for a group that never joined or committed.
        """
        with self._lock:
            group = self._groups.get(group_id)
            if group is None:
                raise GroupIdNotFoundError(f"no group {group_id!r}; groups: {sorted(self._groups)}")

            def end(tp: TopicPartition) -> int | None:
                topic = self._topics.get(tp.topic)
                if topic is None or tp.partition >= len(topic.logs):
                    return None
                return topic.logs[tp.partition].high_watermark

            return group.describe(end, self._partition_counts())

    def delete_group(self, group_id: str) -> None:
        """Kafka's DeleteGroups: an empty group goes ``Dead``; its offsets are forgotten.

        Also releases its hold on ``"block"`` topics. Raises ``GroupIdNotFoundError`` for an
        unknown group and ``GroupNotEmptyError`` while it still has members (Kafka's
        ``NON_EMPTY_GROUP``); nothing changes then.
        """
        with self._lock:
            self._check_open()
            group = self._groups.get(group_id)
            if group is None:
                raise GroupIdNotFoundError(f"no group {group_id!r}; groups: {sorted(self._groups)}")
            group.expire(self._clock())
            if group.members:
                raise GroupNotEmptyError(
                    f"group {group_id!r} still has {len(group.members)} members; close them first"
                )
            group.mark_dead()
            del self._groups[group_id]
            for topic in self._topics.values():
                if group_id in topic.tracking_groups:
                    topic.tracking_groups.discard(group_id)
                    if topic.policy is RetentionPolicy.BLOCK:
                        for partition in range(len(topic.logs)):
                            self._advance_floor(TopicPartition(topic.name, partition))

    def list_groups(self) -> list[str]:
        """Return the ids of every group the broker knows."""
        with self._lock:
            return sorted(self._groups)

    def group_states(self) -> dict[str, tuple[str | None, GroupState]]:
        """``{group id: (protocol type, state)}`` for every group (Kafka's ListGroups)."""
        with self._lock:
            now = self._clock()
            for group in self._groups.values():
                group.expire(now)
            return {
                gid: (g.protocol_type, g.state) for gid, g in sorted(self._groups.items())
            }

    # --- replication (pcmodel.cluster; not client methods) ------------------------------------

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

    def set_high_watermark(self, topic: str, partition: int, offset: int) -> None:
        """Make the records below ``offset`` of one local log visible to consumers.

        Wakes consumers long-polling for them: on a replicated partition data becomes readable
        when it is committed, not when it is appended.
        """
        tp = validate_topic_partition((topic, partition))
        with self._lock:
            self._log(tp).set_high_watermark(offset)
            self._data_arrived.notify_all()

    # --- lifecycle (not client methods) -------------------------------------------------------

    def connect(self) -> Broker:
        """Return a connection for one client thread: the broker itself, in process.

        Clients call ``broker.connect()`` once per thread that may block and use only
        :data:`CLIENT_METHODS` on the result. A handle to a broker in another process offers the
        same ``connect()``, returning a proxy with a ``close()``; clients close every connection
        that is not the object they were given.
        """
        return self

    def close(self) -> None:
        """Shut the broker down: waiting fetches, joins and appends fail; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            logs = [log for t in self._topics.values() for log in t.logs]
            for group in self._groups.values():
                group.close()
            self._data_arrived.notify_all()
        for log in logs:
            log.close()

    def serve_kafka(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> Any:
        """Start a Kafka protocol listener for this broker and return it (already accepting).

        Real Kafka clients (kafka-python, confluent-kafka, kcat) then reach this broker at
        ``listener.bootstrap_servers``; ``port=0`` picks a free port (``listener.port``). Use it
        as a context manager, or call ``listener.stop()``; closing the broker does not stop it.
        ``options`` go to :class:`pcmodel.wire.KafkaListener` (``max_connections``,
        ``max_request_bytes``, ...). A non-loopback ``host`` logs a warning: plaintext Kafka
        has no authentication. Needs the ``kafka`` extra (``ImportError`` saying so otherwise);
        raises ``OSError`` if the address cannot be bound.
        """
        from pcmodel.wire.listener import KafkaListener

        return KafkaListener(self, host, port, **options).start()

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals (called with the lock held unless said otherwise) ---------------------------

    def _new_log(self, topic: _Topic) -> PartitionLog:
        return PartitionLog(
            retention_records=topic.retention_records, retention_ms=topic.retention_ms,
            policy=topic.policy, variant=topic.variant, instrument=topic.instrument,
            clock=self._clock, timestamp_clock=self._timestamp_clock,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise IllegalStateError("the broker is closed")

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

    def _group(self, group_id: str, *, create: bool) -> GroupCoordinator:
        group = self._groups.get(group_id)
        if group is None and create:
            group = GroupCoordinator(
                group_id, self._lock, self._clock,
                initial_rebalance_delay_ms=self.group_initial_rebalance_delay_ms,
            )
            self._groups[group_id] = group
        return group

    def _known_group(self, group_id: str, member_id: str) -> GroupCoordinator:
        group = self._groups.get(group_id)
        if group is None:
            raise UnknownMemberIdError(
                f"member {member_id!r} is not in group {group_id!r}: no such group; join first"
            )
        return group

    def _track_subscriptions(self, group_id: str, group: GroupCoordinator) -> None:
        # A subscribing consumer group holds back "block" topics from now on (_advance_floor).
        for name in group.subscribed_topics():
            if name in self._topics:
                self._topics[name].tracking_groups.add(group_id)

    def _partition_counts(self) -> dict[str, int]:
        return {name: len(t.logs) for name, t in self._topics.items()}

    def _metadata_changed(self, names: Collection[str]) -> None:
        # Groups are not told: as in Kafka, the group leader notices a change of its topics'
        # partitions in the metadata and rejoins, which starts a rebalance.
        self._metadata_version += 1
        self._data_arrived.notify_all()

    def _read(
        self,
        requests: Sequence[tuple[TopicPartition, int]],
        max_records: int,
        to_log_end: bool = False,
    ) -> tuple[dict[TopicPartition, FetchResult], bool]:
        results: dict[TopicPartition, FetchResult] = {}
        budget = max_records
        found = False
        for tp, offset in requests:
            topic = self._topics.get(tp.topic)
            if topic is None or tp.partition >= len(topic.logs):
                results[tp] = FetchResult((), -1, -1, FetchError.UNKNOWN_TOPIC_OR_PARTITION)
                found = True
                continue
            log = topic.logs[tp.partition]
            try:
                upper = None if to_log_end else log.high_watermark
                records = tuple(log.read(offset, budget, upper=upper)) if budget else ()
            except OffsetOutOfRangeError:
                results[tp] = FetchResult(
                    (), log.high_watermark, log.log_start_offset, FetchError.OFFSET_OUT_OF_RANGE
                )
                found = True
                continue
            budget -= len(records)
            found = found or bool(records)
            results[tp] = FetchResult(records, log.high_watermark, log.log_start_offset, None)
        return results, found

    def _advance_floor(self, tp: TopicPartition) -> None:
        """Block policy: free the records every tracking group has committed."""
        topic = self._topics[tp.topic]
        log = topic.logs[tp.partition]
        floor = None
        for group_id in topic.tracking_groups:
            group = self._groups.get(group_id)
            if group is None:
                continue
            committed = group.offsets.get(tp)
            # A tracking group that never committed this partition holds it at the start.
            offset = log.log_start_offset if committed is None else committed.offset
            floor = offset if floor is None else min(floor, offset)
        if floor is not None:
            log.advance_floor(floor)

