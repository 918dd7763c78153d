"""A cluster of brokers replicating partitions: the model students kill brokers in.

::

    cluster = Cluster(brokers=3)                      # threads: each broker fetches on its own
    cluster.create_topic("orders", 1, replication_factor=3, min_insync_replicas=2)
    cluster.produce("orders", 0, [(b"k", b"v")], acks="all").get(timeout=5)
    cluster.kill(cluster.leader("orders", 0))        # a follower from the ISR takes over
    cluster.close()

Two ways to run it, the same rules either way:

``mode="threads"`` (default)
    Every broker runs a thread that heartbeats, fetches from the leaders it follows (waking as
    soon as a leader appends) and does its leader bookkeeping; the controller has its own.
    Time is ``time.monotonic`` unless a clock is given.
``mode="steps"``
    Nothing moves until :meth:`Cluster.step` (one round of every broker's duties, in broker
    order) or :meth:`Cluster.advance` (move a :class:`VirtualClock`, then step). With the same
    calls and the same seed a run replays exactly, which is what the scenario tests and the
    fault campaign use. ``ProduceFuture.get`` drives the steps itself.
``mode="processes"``
    Every broker is its own OS process hosting the same node code; followers fetch over
    pcmodel's loopback transport, ``kill`` is a real SIGKILL and ``restart`` recovers the log
    from the broker's files. The controller stays in this process. Real time only. See
    :mod:`pcmodel.cluster.process_cluster` (a script that starts one needs the usual
    ``if __name__ == "__main__":`` guard: broker processes start from multiprocessing's fork
    server).

Faults (see :mod:`pcmodel.cluster.faults` for seeded schedules): :meth:`kill` (the broker
stops; its log survives, as a crashed process's does on disk; the controller notices when its
session expires), :meth:`restart`, :meth:`isolate` (no replication traffic to or from it — and
with ``controller=True`` no heartbeats either: a full network partition), :meth:`heal`,
:meth:`slow` (each of its replica fetches takes that many seconds).

Locking: one lock guards the controller and every node (requests are a few list operations, and
one lock cannot deadlock); each broker's own lock is taken inside it, never around it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pcmodel.cluster.clock import VirtualClock, check_seconds, wall_clock_on
from pcmodel.cluster.cluster_checks import (
    check_cluster_settings,
    check_default_replication_factor,
)
from pcmodel.cluster.consumer_group_settings import check_consumer_group_settings
from pcmodel.cluster.controller import Controller, PartitionState
from pcmodel.cluster.driving import Driving
from pcmodel.cluster.errors import LeaderNotAvailableError
from pcmodel.cluster.events import ClusterEvent, ReplicaStatus
from pcmodel.cluster.injection import FaultInjection
from pcmodel.cluster.node import ClusterNode
from pcmodel.cluster.partition_markers import ClusterMarkers, check_transactional
from pcmodel.cluster.purgatory import ProduceFuture
from pcmodel.cluster.replica_admin import ReplicaAdmin
from pcmodel.cluster.state_delivery import StateDelivery
from pcmodel.cluster.topic_admin import TopicAdmin
from pcmodel.cluster.transaction_settings import check_transaction_settings
from pcmodel.cluster.waiting import ClientSupport
from pcmodel.topics.broker import FetchResult
from pcmodel.topics.broker_checks import (
    DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS,
    DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS,
    _check_flag,
    _check_list,
    _check_session_timeout_bounds,
)
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
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
)
from pcmodel.topics.log import LogRecord
from pcmodel.topics.log_transactions import check_isolation_level
from pcmodel.topics.structs import TopicPartition, validate_topic_partition

__all__ = ["Cluster", "ClusterEvent", "ReplicaStatus"]

_ACKS = (0, 1, "all")


class Cluster(FaultInjection, ClientSupport, TopicAdmin, ReplicaAdmin, StateDelivery, Driving,
              ClusterMarkers):
    """``brokers`` replicating brokers and a controller. See the module docstring.

    ``default_replication_factor`` is Kafka's ``default.replication.factor``, the replication
    factor of a topic created without one: ``min(3, brokers)`` unless given (Kafka's default is
    1; here a topic is replicated unless asked otherwise, as a lesson on replication wants).
    ``replica_lag_time_max_ms`` (Kafka's ``replica.lag.time.max.ms``, default 30000 there;
    1000 here so lessons see it happen) is how long a follower may go without catching up
    before it leaves the ISR; ``broker_session_timeout_ms`` how long a silent broker stays
    registered; ``tick_ms`` how often the threads do their periodic work (and how far
    :meth:`advance` moves virtual time by default). ``group_initial_rebalance_delay_ms`` is
    every broker's Kafka ``group.initial.rebalance.delay.ms`` (see
    :class:`~pcmodel.topics.broker.Broker`; Kafka clients want a few hundred ms).
    ``group_consumer_session_timeout_ms`` (45 s), ``group_consumer_heartbeat_interval_ms``
    (5 s), ``group_consumer_max_size`` (``None``: no bound), ``group_consumer_migration_policy``
    (``"bidirectional"``) and ``group_classic_max_size`` (``None``) are every broker's Kafka
    ``group.consumer.session.timeout.ms``, ``group.consumer.heartbeat.interval.ms``,
    ``group.consumer.max.size``, ``group.consumer.migration.policy`` and ``group.max.size``,
    for Kafka 4's consumer groups, their migrations and the classic groups' bound, with a lone
    :class:`~pcmodel.topics.broker.Broker`'s defaults and checks
    (:mod:`pcmodel.cluster.consumer_group_settings`); a restarted broker has them again, and
    ``consumer_group_settings`` holds them; so are ``group_min/max_session_timeout_ms`` (1 ms,
    30 min: Kafka's ``group.min/max.session.timeout.ms``), ``group_session_timeout_bounds``.
    ``offsets_retention_minutes`` and ``offsets_retention_check_interval_ms`` are Kafka's
    ``offsets.retention.minutes`` and ``offsets.retention.check.interval.ms``, with Kafka's
    defaults: committed offsets expire at their coordinator, on the cluster's own timer, which
    removes them from the offsets topic too, and the groups left empty with none
    (:mod:`pcmodel.cluster.offsets_retention`). ``offset_metadata_max_bytes`` is
    Kafka's ``offset.metadata.max.bytes`` (4096, counted in UTF-16 code units as Kafka counts
    it): a committed offset whose metadata is longer is refused for its partition alone, as on
    a lone :class:`~pcmodel.topics.broker.Broker`. ``auto_leader_rebalance_enable`` and
    ``leader_imbalance_check_interval_seconds`` are Kafka's ``auto.leader.rebalance.enable``
    and ``leader.imbalance.check.interval.seconds``, with Kafka's defaults (on, 300 s): a
    partition led by another replica than its preferred one gets it back that long after,
    if it is in the ISR then (:meth:`Controller.balance_leaders
    <pcmodel.cluster.controller.Controller.balance_leaders>`).
    ``producer_id_expiration_ms`` and ``producer_id_expiration_check_interval_ms`` are Kafka's
    ``producer.id.expiration.ms`` and ``producer.id.expiration.check.interval.ms``, with
    Kafka's defaults (a day, ten minutes): each replica forgets an idempotent producer that
    wrote nothing to its partition for that long (:mod:`pcmodel.cluster.producers`).
    ``transaction_settings`` are Kafka's ``transaction.*`` configs, by the names of
    :mod:`pcmodel.cluster.transaction_settings` (``{"max_timeout_ms": 60_000}``).
    ``start_cancelled`` makes the start cancellable by a stop that raises nothing (the
    ``pcmodel cluster`` command's Ctrl-C): polled between the start's steps and while it
    waits (a process cluster's brokers starting and registering, every tick); once it says
    True the start stops what it started (threads, processes, files) and raises
    ``KeyboardInterrupt``, as a Ctrl-C at that moment would.
    """

    def __new__(cls, *args: Any, mode: str = "threads", **kwargs: Any) -> Cluster:
        if cls is Cluster and mode == "processes":
            from pcmodel.cluster.process_cluster import ProcessCluster
            return super().__new__(ProcessCluster)
        return super().__new__(cls)

    def __init__(
        self,
        brokers: int = 3,
        *,
        mode: str = "threads",
        clock: Callable[[], float] | None = None,
        replica_lag_time_max_ms: int = 1000,
        broker_session_timeout_ms: int = 1500,
        tick_ms: int = 50,
        default_replication_factor: int | None = None,
        group_initial_rebalance_delay_ms: int = 0,
        group_consumer_session_timeout_ms: int = 45_000,
        group_consumer_heartbeat_interval_ms: int = 5_000,
        group_consumer_max_size: int | None = None,
        group_consumer_migration_policy: str = DEFAULT_MIGRATION_POLICY,
        group_classic_max_size: int | None = None,
        group_min_session_timeout_ms: int = DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS,
        group_max_session_timeout_ms: int = DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS,
        offsets_retention_minutes: int = DEFAULT_OFFSETS_RETENTION_MINUTES,
        offsets_retention_check_interval_ms: int = DEFAULT_RETENTION_CHECK_INTERVAL_MS,
        offset_metadata_max_bytes: int = DEFAULT_OFFSET_METADATA_MAX_BYTES,
        auto_leader_rebalance_enable: bool = True,
        leader_imbalance_check_interval_seconds: int = 300,
        producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        producer_id_expiration_check_interval_ms: int =
        DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS,
        transaction_settings: Mapping[str, int] | None = None,
        start_cancelled: Callable[[], bool] | None = None,
    ) -> None:
        check_cluster_settings(
            brokers, mode,
            {"replica_lag_time_max_ms": replica_lag_time_max_ms,
             "broker_session_timeout_ms": broker_session_timeout_ms, "tick_ms": tick_ms,
             "offsets_retention_minutes": offsets_retention_minutes,
             "offsets_retention_check_interval_ms": offsets_retention_check_interval_ms,
             "leader_imbalance_check_interval_seconds": leader_imbalance_check_interval_seconds,
             "producer_id_expiration_ms": producer_id_expiration_ms,
             "producer_id_expiration_check_interval_ms":
             producer_id_expiration_check_interval_ms},
            offset_metadata_max_bytes, auto_leader_rebalance_enable)
        consumer_group_settings = check_consumer_group_settings(
            group_consumer_session_timeout_ms=group_consumer_session_timeout_ms,
            group_consumer_heartbeat_interval_ms=group_consumer_heartbeat_interval_ms,
            group_consumer_max_size=group_consumer_max_size,
            group_consumer_migration_policy=group_consumer_migration_policy,
            group_classic_max_size=group_classic_max_size)
        #: Every broker's ``(group_min_session_timeout_ms, group_max_session_timeout_ms)``.
        self.group_session_timeout_bounds = _check_session_timeout_bounds(
            group_min_session_timeout_ms, group_max_session_timeout_ms)
        self.mode = mode
        if clock is None:
            clock = VirtualClock() if mode == "steps" else time.monotonic
        self.clock = clock
        #: The brokers' and coordinators' wall clock (epoch ms): see :func:`wall_clock_on`.
        self.wall_clock_ms = wall_clock_on(clock)
        self.tick = tick_ms / 1000
        self.default_replication_factor = check_default_replication_factor(
            default_replication_factor, brokers)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # appends, leadership, faults, close
        self.auto_leader_rebalance_enable = auto_leader_rebalance_enable
        self.leader_imbalance_check_interval_seconds = leader_imbalance_check_interval_seconds
        self.controller = Controller(
            range(brokers), broker_session_timeout_ms / 1000,
            leader_imbalance_check_interval_seconds if auto_leader_rebalance_enable else None)
        self.replica_lag_time_max = replica_lag_time_max_ms / 1000
        self.group_initial_rebalance_delay_ms = group_initial_rebalance_delay_ms
        #: Every broker's consumer group settings, checked (Kafka's ``group.consumer.*``).
        self.consumer_group_settings = consumer_group_settings
        self.offsets_retention_minutes = offsets_retention_minutes
        self.offsets_retention_check_interval_ms = offsets_retention_check_interval_ms
        self.offset_metadata_max_bytes = offset_metadata_max_bytes
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.producer_id_expiration_check_interval_ms = producer_id_expiration_check_interval_ms
        self.nodes: list[Any] = []
        #: Brokers cut off from replication traffic; the subset also cut off from the controller.
        self._isolated: set[int] = set()
        self._isolated_from_controller: set[int] = set()
        #: Restarted brokers whose new incarnation the controller has not registered yet.
        self._unregistered: set[int] = set()
        #: The metadata image of each broker cut off from the controller, as it was then.
        self._images: dict[int, Any] = {}
        self.events: list[ClusterEvent] = []
        self._observers: list[Callable[[ClusterEvent], None]] = []
        self._published: dict[TopicPartition, PartitionState] = {}
        #: Each topic's configs set on it (Kafka's overrides, kept by the controller).
        self._topic_configs: dict[str, dict[str, str]] = {}
        self._next_producer_id = 1000
        self._offsets_topic: Any = None
        self._transaction_log: Any = None
        #: The transaction coordinators' settings (:mod:`~pcmodel.cluster.transaction_settings`).
        self.transaction_settings = check_transaction_settings(transaction_settings)
        self._changes = 0
        self._fenced_seen: set[int] = set()
        self._closed = False
        self._threads: list[threading.Thread] = []
        #: The coordinators' timer threads (threads and processes; started with the other
        #: threads), by check: "transactions", "offsets" (:mod:`~pcmodel.cluster.driving`).
        self._timers: dict[str, Any] = {}
        self._start_cancelled = start_cancelled or (lambda: False)
        self._start_brokers(brokers)

    def _start_brokers(self, brokers: int) -> None:
        """Make the brokers (in this process), register them, start the threads if any."""
        self.nodes = [
            ClusterNode(b, clock=self.clock, timestamp_clock=self.wall_clock_ms,
                        alter_isr=self._alter_isr,
                        replica_lag_time_max=self.replica_lag_time_max,
                        group_initial_rebalance_delay_ms=self.group_initial_rebalance_delay_ms,
                        consumer_group_settings=self.consumer_group_settings,
                        group_session_timeout_bounds=self.group_session_timeout_bounds,
                        offsets_retention_minutes=self.offsets_retention_minutes,
                        producer_id_expiration_ms=self.producer_id_expiration_ms,
                        producer_id_expiration_check_interval_ms=self
                        .producer_id_expiration_check_interval_ms)
            for b in range(brokers)
        ]
        with self._lock:
            for node in self.nodes:
                self.controller.heartbeat(node.node_id, self.clock())
        if self.mode == "threads":
            try:
                self._check_start()
                self._start_threads()
                self._check_start()
            except BaseException:  # a Ctrl-C among the starts: stop the ones that started
                self.close()
                raise

    def _check_start(self) -> None:
        """Raise ``KeyboardInterrupt`` if the start was cancelled (``start_cancelled``)."""
        if self._start_cancelled():
            raise KeyboardInterrupt("the cluster's start was cancelled")

    def __repr__(self) -> str:
        alive = sum(n.alive for n in self.nodes)
        return f"<Cluster brokers={len(self.nodes)} alive={alive} mode={self.mode} " \
            f"topics={len(self.controller.topics)}{' closed' if self._closed else ''}>"

    # --- topics and metadata ---------------------------------------------------------------------

    def metadata(self) -> dict[TopicPartition, PartitionState]:
        """Every partition's replicas, leader, leader epoch and ISR, as the controller has them."""
        with self._lock:
            return dict(self.controller.partitions)

    def leader(self, topic: str, partition: int) -> int | None:
        """The broker leading the partition now (``None`` while it is offline)."""
        with self._lock:
            return self._state(TopicPartition(topic, partition)).leader

    def isr(self, topic: str, partition: int) -> frozenset[int]:
        """The partition's in-sync replicas, as the controller has them."""
        with self._lock:
            return self._state(TopicPartition(topic, partition)).isr

    def replica_status(self, topic: str, partition: int) -> list[ReplicaStatus]:
        """Each replica's role, log start and end offsets and high watermark, in replica
        order."""
        tp = TopicPartition(topic, partition)
        with self._lock:
            st = self._state(tp)
            out = []
            for b in st.replicas:
                node = self.nodes[b]
                start, leo, hw = node.local_offsets(tp)
                out.append(ReplicaStatus(b, node.alive, st.leader == b, leo, hw, b in st.isr,
                                         start))
            return out

    def log(self, broker: int, topic: str, partition: int) -> list[LogRecord]:
        """Every record in one broker's replica, committed or not (for checks and lessons)."""
        tp = TopicPartition(topic, partition)
        with self._lock:
            return self._hosting(broker, tp).local_records(tp)

    # --- data ---------------------------------------------------------------------------------

    def produce(self, topic: str, partition: int, records: Sequence, *,
                acks: int | str = 1, timeout: float = 30.0,
                broker: int | None = None,
                producer: tuple[int, int, int] | None = None,
                compression: str | None = None,
                batch_bytes: int | None = None,
                transactional: bool = False) -> ProduceFuture:
        """Send ``records`` to the partition's leader (or to ``broker``); return the future.

        ``acks=0``: answered at once, the records may or may not be appended (offset -1).
        ``acks=1``: answered when the leader appended them. ``acks="all"``: when every in-sync
        replica has them and there are at least ``min_insync_replicas``. Errors arrive on the
        future: ``NotLeaderForPartitionError`` (``broker`` does not lead it),
        ``LeaderNotAvailableError``, ``KafkaConnectionError`` (the broker is dead, or died
        before answering), ``NotEnoughReplicasError`` / ``NotEnoughReplicasAfterAppendError``,
        ``RequestTimedOutError`` after ``timeout`` seconds (clock seconds). While the ISR is
        smaller than ``min_insync_replicas`` the high watermark does not move (Kafka 3.7): an
        ``acks="all"`` produce waiting then times out, and ``acks=1`` records stay unseen by
        consumers until enough replicas are back in sync.

        ``producer=(producer_id, producer_epoch, first_sequence)`` makes the produce idempotent
        (ids from :meth:`init_producer_id`; sequences count records per partition from 0):
        sending the same batch again never appends it twice, even through a new leader.
        ``compression`` and ``batch_bytes`` are as in ``Broker.append``: a batch larger than the
        topic's ``max.message.bytes`` fails with ``MessageSizeTooLargeError``.
        ``transactional=True`` (with ``producer``) adds the batch to the producer's open
        transaction, which holds the last stable offset until :meth:`write_marker` ends it
        (errors: :mod:`pcmodel.cluster.partition_markers`). At once: ``IllegalArgumentError`` for
        any acks but 0, 1, "all"; ``TypeError``: records not a list, a mistyped topic or partition.
        """
        if isinstance(acks, bool) or not isinstance(acks, (int, str)) or acks not in _ACKS:
            raise IllegalArgumentError(f"acks must be one of {_ACKS}, got {acks!r}")
        check_seconds("produce()", timeout)
        records = _check_list("records", records, "records (key, value[, ...])")
        check_transactional(producer, transactional)
        tp = TopicPartition(topic, partition)
        future = ProduceFuture(self._drive_until_done if self.mode == "steps" else None)
        with self._lock:
            self._check_open()
            try:
                node = self._produce_target(tp, broker)
                node.produce(tp, records, acks, timeout, future, producer, compression,
                             batch_bytes, transactional)
                self._notify()
            except KafkaError as e:
                future.set_exception(e)
        return future

    def init_producer_id(self) -> tuple[int, int]:
        """A new idempotent producer's ``(producer_id, producer_epoch)`` (InitProducerId).

        The controller hands out ids, so they are unique across brokers and leader changes.
        """
        with self._lock:
            self._check_open()
            self._next_producer_id += 1
            return self._next_producer_id - 1, 0

    def fetch(self, broker: int, offsets: dict[TopicPartition, int], max_records: int = 500,
              isolation_level: str = "read_uncommitted",
              whole_batches: bool = False) -> dict[TopicPartition, FetchResult]:
        """A consumer's fetch from ``broker``: committed records only (below the HW), and with
        ``isolation_level="read_committed"`` only below the last stable offset, with the
        transactional batches and aborted transactions of what it read; with
        ``whole_batches`` (a Kafka listener's) in whole producers' batches (``Broker.fetch``).

        Raises ``NotLeaderForPartitionError`` if it does not lead one of the partitions,
        ``KafkaConnectionError`` if it is dead; at once ``TypeError`` unless ``whole_batches``
        is True or False.
        """
        check_isolation_level(isolation_level)
        _check_flag("whole_batches", whole_batches)
        with self._lock:
            self._check_open()
            return self._reachable_node(broker).fetch(offsets, max_records, isolation_level,
                                                      whole_batches)

    def close(self) -> None:
        """Stop the threads and the brokers; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._notify()
        for thread in self._threads:
            if thread.ident is not None:  # a start cut short leaves some never started
                thread.join(timeout=10)
        for node in self.nodes:
            node.crash()
            node.broker.close()
        self._stop_coordinator_timers()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals (with the lock held) ----------------------------------------------------------

    def _notify(self) -> None:
        """Something changed: count it and wake everyone waiting on the cluster."""
        self._changes += 1
        self._changed.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise IllegalStateError("the cluster is closed")

    def _node(self, broker: int) -> ClusterNode:
        if isinstance(broker, bool) or not isinstance(broker, int) or \
                not 0 <= broker < len(self.nodes):
            raise IllegalArgumentError(
                f"broker must be an id from 0 to {len(self.nodes) - 1}, got {broker!r}")
        return self.nodes[broker]

    def _hosting(self, broker: int, tp: TopicPartition) -> Any:
        """The node of ``broker``, which the controller lists among ``tp``'s replicas."""
        node = self._node(broker)
        replicas = self._state(tp).replicas
        if broker not in replicas:
            raise IllegalArgumentError(f"broker {broker} holds no replica of {tp}; its "
                                       f"replicas are on {list(replicas)}")
        return node

    def _reachable_node(self, broker: int) -> ClusterNode:
        node = self._node(broker)
        if not node.alive:
            raise KafkaConnectionError(f"broker {broker} is down")
        return node

    def _produce_target(self, tp: TopicPartition, broker: int | None) -> ClusterNode:
        """The node a produce to ``tp`` goes to: ``broker`` if given (a client that has not
        heard of a new leader yet), else the current leader. Called with the lock held."""
        target = self._state(tp).leader if broker is None else broker
        if target is None:
            raise LeaderNotAvailableError(f"{tp} has no leader: no in-sync replica is alive")
        return self._reachable_node(target)

    def _state(self, tp: TopicPartition) -> PartitionState:
        topic, partition = tp
        if not isinstance(topic, str) or type(partition) is not int:  # ("t", True) is t-1
            validate_topic_partition(tp)  # a TypeError naming the wrong type
        st = self.controller.partitions.get(tp)
        if st is None:
            from pcmodel.topics.errors import UnknownTopicOrPartitionError
            raise UnknownTopicOrPartitionError(f"no partition {tp} in the cluster")
        return st

    def _event(self, kind: str, broker: int | None, tp: TopicPartition | None = None,
               detail: Any = None, records: tuple = ()) -> None:
        event = ClusterEvent(self.clock(), kind, broker, tp, detail, records)
        self.events.append(event)
        for observe in self._observers:
            observe(event)

    def _links(self, a: int, b: int) -> bool:
        """Whether replication traffic flows between brokers ``a`` and ``b``."""
        return a not in self._isolated and b not in self._isolated
