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
seconds) drives session timeouts and rebalance timeouts, ``timestamp_clock`` (epoch ms) stamps
records and ages them for retention and dates commits, so tests can move time by hand;
``timeout`` arguments are always real seconds.

Typical use, in one process::

    broker = Broker()
    broker.create_topic("orders", 3)                       # partitions 0, 1, 2
    broker.create_topic("jobs", 1, retention_policy="block", retention_records=100)
    producer = KafkaProducer(broker=broker)
    consumer = KafkaConsumer("orders", broker=broker, group_id="billing")
    broker.describe_group("billing")                       # members, assignment, lag

Prior art: Kafka's broker APIs (Produce, Fetch with ``max.wait.ms`` long polling, ListOffsets,
OffsetCommit/OffsetFetch, JoinGroup/SyncGroup/Heartbeat/LeaveGroup, CreateTopics,
CreatePartitions, DeleteTopics, DescribeGroups, DescribeConfigs, IncrementalAlterConfigs) and
kafka-python's ``KafkaAdminClient`` names.

The broker is built from parts, one module per family of calls, all sharing the one lock and
the tables created in :meth:`Broker.__init__`: topics, metadata and offset lookups
(:mod:`~pcmodel.topics.broker_topics`), leader elections and reassignments on a lone broker
(:mod:`~pcmodel.topics.broker_placement`), topic and broker configs
(:mod:`~pcmodel.topics.broker_configs`), appends and long-polling fetches
(:mod:`~pcmodel.topics.broker_produce_fetch`), consumer groups
(:mod:`~pcmodel.topics.broker_groups`; Kafka 4's consumer groups:
:mod:`~pcmodel.topics.broker_consumer_groups`), committed offsets and what they free on ``"block"``
topics (:mod:`~pcmodel.topics.broker_offsets`), its log directory
(:mod:`~pcmodel.topics.broker_log_dirs`), and the replica calls of :mod:`pcmodel.cluster`
(:mod:`~pcmodel.topics.broker_replicas`). This module assembles them and
keeps the broker's lifecycle: connections, close, and the Kafka protocol listener.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from pcmodel.topics.broker_checks import (
    DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS,
    DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS,
    INT32_MAX,
    _check_heartbeat_below_session,
    _check_int,
    _check_mapping,
    _check_session_timeout_bounds,
)
from pcmodel.topics.broker_configs import ConfigsMixin
from pcmodel.topics.broker_consumer_groups import ConsumerGroupsMixin
from pcmodel.topics.broker_groups import GroupsMixin
from pcmodel.topics.broker_log_dirs import LogDirsMixin
from pcmodel.topics.broker_offsets import CommittedOffsetsMixin
from pcmodel.topics.broker_placement import PlacementMixin
from pcmodel.topics.broker_produce_fetch import ProduceFetchMixin
from pcmodel.topics.broker_replicas import ReplicaLogsMixin
from pcmodel.topics.broker_results import AppendResult, FetchError, FetchResult
from pcmodel.topics.broker_topics import TopicAdminMixin, TopicDescription, _Topic
from pcmodel.topics.broker_transactions import TransactionsMixin
from pcmodel.topics.consumer_group import ConsumerGroup
from pcmodel.topics.coordinator import GroupCoordinator
from pcmodel.topics.errors import IllegalArgumentError, IllegalStateError, InvalidPartitionsError
from pcmodel.topics.group_answers import (
    ExpiredOffsets,
    GroupDescription,
    GroupState,
    HeartbeatResult,
    HeartbeatStatus,
    JoinedMember,
    JoinResult,
    MemberDescription,
    SyncResult,
)
from pcmodel.topics.group_migration import DEFAULT_MIGRATION_POLICY
from pcmodel.topics.group_offsets import (
    DEFAULT_OFFSET_METADATA_MAX_BYTES,
    DEFAULT_OFFSETS_RETENTION_MINUTES,
    DEFAULT_RETENTION_CHECK_INTERVAL_MS,
)
from pcmodel.topics.idempotence import (
    DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS,
    DEFAULT_PRODUCER_ID_EXPIRATION_MS,
    ProducerSequences,
)
from pcmodel.topics.list_offsets import answer_list_offsets
from pcmodel.topics.log_records import LogRecord, NewRecord, wall_clock_ms
from pcmodel.topics.structs import OffsetAndTimestamp, TopicPartition
from pcmodel.topics.topic_settings import check_topic_name
from pcmodel.topics.transactions import (
    DEFAULT_EXPIRED_ID_CHECK_INTERVAL_MS,
    DEFAULT_TIMED_OUT_CHECK_INTERVAL_MS,
    DEFAULT_TRANSACTION_MAX_TIMEOUT_MS,
    DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS,
    TransactionCoordinator,
)

# The values the calls return stay importable from here, next to the calls, wherever defined.
__all__ = [
    "CLIENT_METHODS",
    "CLUSTER_ID",
    "AppendResult",
    "Broker",
    "ExpiredOffsets",
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

#: The cluster id a pcmodel broker, or cluster, reports (Kafka's ``cluster.id``).
CLUSTER_ID = "pcmodel"

#: Every method a client may call, remotely or in process. Nothing else is part of the contract.
CLIENT_METHODS: tuple[str, ...] = (
    # admin and metadata
    "create_topic",
    "delete_topic",
    "delete_topic_by_id",
    "add_partitions",
    "elect_leaders",
    "alter_partition_reassignments",
    "list_partition_reassignments",
    "list_topics",
    "topic_ids",
    "describe_topic",
    "partitions_for",
    "metadata_version",
    "await_metadata_change",
    "space_stats",
    "log_stats",
    "beginning_offsets",
    "end_offsets",
    "offsets_for_times",
    "max_timestamp_offsets",
    "list_offsets",
    "delete_records",
    "describe_log_dirs",
    "alter_replica_log_dirs",
    "describe_topic_configs",
    "alter_topic_configs",
    "describe_broker_configs",
    "describe_group_configs",
    "alter_group_configs",
    # data
    "append",
    "append_idempotent",
    "init_producer_id",
    "describe_producers",
    "fetch",
    # transactions
    "add_partitions_to_txn",
    "add_offsets_to_txn",
    "txn_offset_commit",
    "end_txn",
    "describe_transactions",
    "list_transactions",
    "write_txn_marker",
    # groups and offsets
    "join_group",
    "sync_group",
    "heartbeat",
    "leave_group",
    "commit_offsets",
    "committed",
    "delete_offsets",
    "describe_group",
    "delete_group",
    "list_groups",
    "group_states",
    "consumer_group_states",
)


class Broker(
    TopicAdminMixin, PlacementMixin, ConfigsMixin, ProduceFetchMixin, TransactionsMixin,
    GroupsMixin, ConsumerGroupsMixin, CommittedOffsetsMixin, ReplicaLogsMixin, LogDirsMixin,
):
    """An in-process broker. See the module docstring for the client contract.

    ``clock`` (monotonic seconds) drives group liveness (session and rebalance timeouts);
    ``timestamp_clock`` (epoch milliseconds) is the broker's wall clock: it stamps records that
    carry no timestamp (and every record of a topic whose ``message.timestamp.type`` is
    ``LogAppendTime``), a topic's window of accepted create times is measured around it, and
    ``retention.ms`` ages records by it (a record's age is this clock minus its timestamp).
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

    ``group_min_session_timeout_ms`` and ``group_max_session_timeout_ms`` are Kafka's
    ``group.min.session.timeout.ms`` and ``group.max.session.timeout.ms``: a JoinGroup asking
    for a session timeout outside them is refused with ``InvalidSessionTimeoutError``. The
    maximum has Kafka's default (30 min); the minimum is 1 ms, not Kafka's 6000, so that the
    short sessions of pcmodel's tests and fault campaigns are taken (``IllegalArgumentError``
    unless ``1 <= min <= max``).

    ``group_consumer_session_timeout_ms`` (45 s), ``group_consumer_heartbeat_interval_ms``
    (5 s) and ``group_consumer_max_size`` (``None``: no bound) are Kafka's
    ``group.consumer.session.timeout.ms``, ``group.consumer.heartbeat.interval.ms`` and
    ``group.consumer.max.size``, for Kafka 4's consumer groups (KIP-848,
    :mod:`pcmodel.topics.consumer_group`). Kafka's brokers refuse a session timeout below
    ``group.consumer.min.session.timeout.ms`` (45 s); pcmodel takes any positive one, so
    that a test sees a member's session end in a second. The heartbeat interval must be less
    than the session timeout, as Kafka's brokers require (``IllegalArgumentError``).

    ``group_consumer_migration_policy`` is Kafka's ``group.consumer.migration.policy``
    (``"bidirectional"``, Kafka 4's default; ``"upgrade"``, ``"downgrade"`` or
    ``"disabled"``, any case): which ways a group with members may move between the classic
    and the consumer protocols as its consumers are restarted one by one
    (:mod:`pcmodel.topics.group_migration`). ``group_classic_max_size`` (``None``: no bound,
    as Kafka's default of 2147483647 means) is Kafka's ``group.max.size``, the bound on a
    classic group: a JoinGroup past it is refused with ``GroupMaxSizeReachedError``
    (GROUP_MAX_SIZE_REACHED), and so is a downgrade that would leave more classic members.
    Both stay
    attributes that may be set while the broker runs; a bad value, here or there, raises
    ``IllegalArgumentError``.

    ``offsets_retention_minutes`` and ``offsets_retention_check_interval_ms`` are Kafka's
    ``offsets.retention.minutes`` (seven days) and ``offsets.retention.check.interval.ms`` (ten
    minutes), with Kafka's defaults: committed offsets expire, and groups left ``Empty`` with no
    offset are deleted, as :mod:`pcmodel.topics.group_offsets` tells. The broker runs the check
    on the next group or offsets call once the interval has passed since the last one (it has
    no thread of its own), or when :meth:`expire_offsets` is called; times are read from
    ``timestamp_clock``. ``offsets_retention_check_interval_ms=None`` leaves the check to
    :meth:`expire_offsets` alone (a cluster's brokers: the cluster removes what expires from its
    offsets topic too).

    ``offset_metadata_max_bytes`` is Kafka's ``offset.metadata.max.bytes`` (4096): the longest
    metadata string a committed offset may carry, counted in UTF-16 code units as Kafka counts
    it, not in bytes; a longer one is refused for its partition alone with
    ``OffsetMetadataTooLargeError``, the others of the commit being committed (see
    :mod:`pcmodel.topics.group_offsets`). Kafka gives it no lower bound: below 0 every commit
    carrying metadata, even ``""``, is refused.

    ``producer_id_expiration_ms`` and ``producer_id_expiration_check_interval_ms`` are Kafka's
    ``producer.id.expiration.ms`` (a day) and ``producer.id.expiration.check.interval.ms`` (ten
    minutes): a partition forgets an idempotent producer that wrote nothing to it for that
    long, as :mod:`pcmodel.topics.idempotence` tells. The check runs on the next idempotent
    append or ``describe_producers`` once the interval has passed, or when
    :meth:`expire_producers` is called (``None``: only then); times are read from
    ``timestamp_clock``.

    ``transaction_max_timeout_ms``, ``transactional_id_expiration_ms``,
    ``transaction_abort_timed_out_transaction_cleanup_interval_ms`` and
    ``transaction_remove_expired_transaction_cleanup_interval_ms`` are Kafka's settings of
    those names (``transaction.max.timeout.ms``, ...), with Kafka's defaults: the longest
    timeout a transactional producer may ask for (fifteen minutes), how long an idle
    transactional id is remembered (seven days), and how often the broker looks for
    transactions that timed out (ten seconds) and for ids to forget (an hour), as
    :mod:`pcmodel.topics.transactions` tells. The checks run on the next transactional call,
    fetch or offsets lookup once due, or when :meth:`abort_timed_out_transactions` /
    :meth:`expire_transactional_ids` is called (``None``: only then).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        timestamp_clock: Callable[[], int] = wall_clock_ms,
        auto_create_topics_enable: bool = True,
        num_partitions: int = 1,
        group_initial_rebalance_delay_ms: int = 0,
        offsets_retention_minutes: int = DEFAULT_OFFSETS_RETENTION_MINUTES,
        offsets_retention_check_interval_ms: int | None = DEFAULT_RETENTION_CHECK_INTERVAL_MS,
        offset_metadata_max_bytes: int = DEFAULT_OFFSET_METADATA_MAX_BYTES,
        producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        producer_id_expiration_check_interval_ms: int | None =
        DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS,
        transaction_max_timeout_ms: int = DEFAULT_TRANSACTION_MAX_TIMEOUT_MS,
        transactional_id_expiration_ms: int = DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS,
        transaction_abort_timed_out_transaction_cleanup_interval_ms: int | None =
        DEFAULT_TIMED_OUT_CHECK_INTERVAL_MS,
        transaction_remove_expired_transaction_cleanup_interval_ms: int | None =
        DEFAULT_EXPIRED_ID_CHECK_INTERVAL_MS,
        group_consumer_session_timeout_ms: int = 45_000,
        group_consumer_heartbeat_interval_ms: int = 5_000,
        group_consumer_max_size: int | None = None,
        group_consumer_migration_policy: str = DEFAULT_MIGRATION_POLICY,
        group_classic_max_size: int | None = None,
        group_min_session_timeout_ms: int = DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS,
        group_max_session_timeout_ms: int = DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS,
    ) -> None:
        if not isinstance(auto_create_topics_enable, bool):
            raise TypeError(
                "auto_create_topics_enable must be True or False, got "
                f"{auto_create_topics_enable!r}"
            )
        _check_int("num_partitions", num_partitions, 1, InvalidPartitionsError)
        _check_int("group_initial_rebalance_delay_ms", group_initial_rebalance_delay_ms, 0,
                   IllegalArgumentError)
        _check_int("offsets_retention_minutes", offsets_retention_minutes, 1,
                   IllegalArgumentError)
        _check_int("offset_metadata_max_bytes", offset_metadata_max_bytes, -INT32_MAX - 1,
                   IllegalArgumentError, INT32_MAX)  # a Java int, as Kafka's; no other bound
        for name, interval in (
                ("offsets_retention_check_interval_ms", offsets_retention_check_interval_ms),
                ("producer_id_expiration_check_interval_ms",
                 producer_id_expiration_check_interval_ms),
                ("transaction_abort_timed_out_transaction_cleanup_interval_ms",
                 transaction_abort_timed_out_transaction_cleanup_interval_ms),
                ("transaction_remove_expired_transaction_cleanup_interval_ms",
                 transaction_remove_expired_transaction_cleanup_interval_ms)):
            if interval is not None:
                _check_int(name, interval, 1, IllegalArgumentError)
        if group_consumer_max_size is not None:
            _check_int("group_consumer_max_size", group_consumer_max_size, 1,
                       IllegalArgumentError)
        for name, value in (("producer_id_expiration_ms", producer_id_expiration_ms),
                            ("group_consumer_session_timeout_ms",
                             group_consumer_session_timeout_ms),
                            ("group_consumer_heartbeat_interval_ms",
                             group_consumer_heartbeat_interval_ms),
                            ("transaction_max_timeout_ms", transaction_max_timeout_ms),
                            ("transactional_id_expiration_ms", transactional_id_expiration_ms)):
            _check_int(name, value, 1, IllegalArgumentError, INT32_MAX)  # Kafka types them INT
        _check_heartbeat_below_session(group_consumer_heartbeat_interval_ms,
                                       group_consumer_session_timeout_ms)
        self.group_min_session_timeout_ms, self.group_max_session_timeout_ms = (
            _check_session_timeout_bounds(group_min_session_timeout_ms,
                                          group_max_session_timeout_ms))
        # Through the properties' setters, which check them (IllegalArgumentError).
        self.group_consumer_migration_policy = group_consumer_migration_policy
        self.group_classic_max_size = group_classic_max_size
        self.group_initial_rebalance_delay_ms = group_initial_rebalance_delay_ms
        self.group_consumer_session_timeout_ms = group_consumer_session_timeout_ms
        self.group_consumer_heartbeat_interval_ms = group_consumer_heartbeat_interval_ms
        self.group_consumer_max_size = group_consumer_max_size
        self.offsets_retention_minutes = offsets_retention_minutes
        self.offsets_retention_check_interval_ms = offsets_retention_check_interval_ms
        self.offset_metadata_max_bytes = offset_metadata_max_bytes
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.producer_id_expiration_check_interval_ms = producer_id_expiration_check_interval_ms
        self.transaction_abort_timed_out_transaction_cleanup_interval_ms = (
            transaction_abort_timed_out_transaction_cleanup_interval_ms)
        self.transaction_remove_expired_transaction_cleanup_interval_ms = (
            transaction_remove_expired_transaction_cleanup_interval_ms)
        self.auto_create_topics_enable = auto_create_topics_enable
        self.num_partitions = num_partitions
        self._clock = clock
        self._timestamp_clock = timestamp_clock
        self._lock = threading.Lock()
        # Notified on every append, topic change and close: fetches long-poll on it.
        self._data_arrived = threading.Condition(self._lock)
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, GroupCoordinator] = {}
        self._consumer_groups: dict[str, ConsumerGroup] = {}
        self._metadata_version = 0
        self._closed = False
        self._producers = ProducerSequences(producer_id_expiration_ms)
        self._transactions = TransactionCoordinator(
            self._producers, max_timeout_ms=transaction_max_timeout_ms,
            id_expiration_ms=transactional_id_expiration_ms)
        #: When the last offsets-retention check ran (epoch ms): the next is due an interval on.
        self._retention_checked_ms = timestamp_clock()
        #: When the last producer-expiration check ran (epoch ms), likewise.
        self._producers_checked_ms = self._retention_checked_ms
        #: When transactions were last checked for timeouts, and ids for expiration, likewise.
        self._timed_out_checked_ms = self._ids_checked_ms = self._retention_checked_ms

    def __repr__(self) -> str:
        return (
            f"<Broker topics={len(self._topics)} groups={len(self._groups)}"
            f"{' closed' if self._closed else ''}>"
        )

    # --- offset lookups (a client method; the others are the parts') --------------------------

    def list_offsets(self, specs: Mapping[TopicPartition, int], *,
                     isolation_level: str = "read_uncommitted",
                     ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """Kafka's ListOffsets: one offset per partition, with the leader epoch Kafka answers.

        Each ``spec`` is a timestamp in ms (the first record at or after it) or an
        :class:`~pcmodel.topics.structs.OffsetSpec`: ``EARLIEST`` (and ``EARLIEST_LOCAL``: no
        tiered storage) the log start, with the epoch of the record there; ``LATEST`` the end
        consumers see (the high watermark, or with ``isolation_level="read_committed"`` the
        last stable offset), with the leader's current epoch; ``MAX_TIMESTAMP`` the first record
        with the largest timestamp. Earliest and latest answer timestamp ``-1``. ``None`` where
        no offset is found: a timestamp after every readable record, a record at or above the
        last stable offset for ``read_committed``, ``LATEST_TIERED`` and
        ``EARLIEST_PENDING_UPLOAD``. A lone broker's only leader epoch is 0, so every offset
        found here carries epoch 0 (a cluster's connection answers its leaders' epochs).
        Raises ``UnknownTopicOrPartitionError`` for a partition that does not exist,
        ``UnsupportedVersionError`` for a negative spec Kafka does not have, ``TypeError`` for
        a spec that is not an int or ``specs`` that are not a mapping.
        """
        _check_mapping("specs", specs, "TopicPartition to OffsetSpec or timestamp")
        return answer_list_offsets(self, specs, isolation_level,
                                   lambda tp, offset: 0, lambda tp: 0)

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

    def _check_open(self) -> None:
        if self._closed:
            raise IllegalStateError("the broker is closed")

    def _check_due(self, interval_ms: int | None, checked_ms: int) -> int | None:
        """The broker's wall-clock time now if a periodic check run every ``interval_ms``
        (``None``: never by itself) and last run at ``checked_ms`` is due, else ``None``.
        The broker has no thread of its own: its calls run the checks that are due."""
        if interval_ms is None:
            return None
        now_ms = self._timestamp_clock()
        return now_ms if now_ms - checked_ms >= interval_ms else None
