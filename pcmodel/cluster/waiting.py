"""What clients use of a cluster (a mixin of ``Cluster``): the connection pcmodel's clients use
(:meth:`ClientSupport.connect`), Kafka listeners for real clients
(:meth:`ClientSupport.serve_kafka`), the live brokers, observers of the cluster's events, and
waits for topic metadata changes, for any change at all, and for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pcmodel.cluster.clock import check_seconds
from pcmodel.topics.broker_checks import _check_flag, _check_int, _check_partitions, _check_timeout
from pcmodel.topics.broker_log_dirs import checked_targets
from pcmodel.topics.errors import IllegalArgumentError
from pcmodel.topics.structs import TopicPartition

__all__ = ["ClientSupport"]


class ClientSupport:
    """The client-facing waits of :class:`~pcmodel.cluster.cluster.Cluster`."""

    def connect(self) -> Any:
        """A client connection: ``KafkaProducer(broker=cluster)`` and ``KafkaConsumer(...,
        broker=cluster)`` call this. See :mod:`pcmodel.cluster.client`."""
        from pcmodel.cluster.client import ClusterConnection

        return ClusterConnection(self, self.offsets_topic())

    def offsets_topic(self) -> Any:
        """The cluster's committed offsets and groups (:mod:`pcmodel.cluster.offsets`),
        created, with the ``__consumer_offsets`` topic, at the first call."""
        from pcmodel.cluster.offsets import OffsetsTopic

        with self._lock:
            offsets = self._offsets_topic
        if offsets is None:
            offsets = OffsetsTopic(self)
            with self._lock:
                self._offsets_topic = self._offsets_topic or offsets
                offsets = self._offsets_topic
        return offsets

    def transaction_log(self, create: bool = True) -> Any:
        """The cluster's transaction coordinators (:mod:`pcmodel.cluster.transaction_log`),
        created, with the ``__transaction_state`` topic, at the first transactional call, as
        Kafka creates it; ``None`` until then if not ``create`` (``TypeError`` unless it is
        True or False)."""
        from pcmodel.cluster.transaction_log import TransactionLog

        _check_flag("create", create)
        with self._lock:
            log = self._transaction_log
        if log is None and create:
            log = TransactionLog(self, self.offsets_topic(), **self.transaction_settings)
            with self._lock:
                self._transaction_log = self._transaction_log or log
                log = self._transaction_log
        return log

    def serve_kafka(self, host: str = "127.0.0.1", ports: Any = None, **options: Any) -> Any:
        """Start a Kafka protocol listener for every broker; return them as one object.

        Each broker gets its own port on ``host`` (``ports[b]`` for broker ``b``, a free port
        by default); ``listeners.bootstrap_servers`` is what Kafka clients' bootstrap setting
        wants. Killing a broker closes its listener (connections are refused); restarting it
        opens it again on the same port once the controller has registered and unfenced the
        broker, as a Kafka broker starts accepting then. Stop the listeners before closing
        the cluster (or use both as context managers: ``with Cluster(3) as c,
        c.serve_kafka() as listeners:``).
        ``options`` go to each :class:`pcmodel.wire.KafkaListener`. Needs a cluster that runs
        on its own (``mode="threads"`` or ``"processes"``) and the ``kafka`` extra. See
        :mod:`pcmodel.wire.cluster_listeners`.
        """
        from pcmodel.wire.cluster_listeners import ClusterListeners

        return ClusterListeners(self, host, ports, **options)

    def epoch_of_offset(self, broker: int, topic: str, partition: int, offset: int) -> int:
        """The leader epoch in which the record at ``offset`` was written, as ``broker``,
        the partition's leader, answers it in ListOffsets (Kafka's ``epochForOffset``; ``-1``
        for an offset below every epoch it knows). Raises ``NotLeaderForPartitionError``
        unless ``broker`` leads the partition, ``KafkaConnectionError`` if it is down."""
        with self._lock:
            self._check_open()
            node = self._reachable_node(broker)
            return node.epoch_of_offset(TopicPartition(topic, partition), offset)

    def end_offset_for_epoch(self, broker: int, topic: str, partition: int,
                             epoch: int) -> tuple[int, int]:
        """Kafka's OffsetForLeaderEpoch as ``broker`` answers it (consumers validate their
        position with it after a leader change, KIP-320): ``(e, end)`` for the largest leader
        epoch ``e <= epoch`` in its log, where ``end`` is the first offset not written in
        ``e``; ``(-1, -1)`` if every epoch is newer. Raises ``NotLeaderForPartitionError``
        unless ``broker`` leads the partition, ``KafkaConnectionError`` if it is down."""
        with self._lock:
            self._check_open()
            node = self._reachable_node(broker)
            return node.offsets_for_leader_epoch(TopicPartition(topic, partition), epoch, None)

    def describe_producers(self, broker: int, topic: str, partition: int) -> tuple[Any, ...]:
        """Kafka's DescribeProducers as ``broker`` answers it: the idempotent producers its
        replica of the partition remembers, leader or follower (see
        :meth:`pcmodel.cluster.node.ClusterNode.describe_producers`), as
        :class:`~pcmodel.topics.structs.ActiveProducer` entries by producer id. Raises
        ``UnknownTopicOrPartitionError`` for a partition the cluster does not have,
        ``NotLeaderForPartitionError`` if ``broker`` holds no replica of it,
        ``KafkaConnectionError`` if it is down."""
        tp = TopicPartition(topic, partition)
        with self._lock:
            self._check_open()
            self._state(tp)
            return self._reachable_node(broker).describe_producers(tp)

    def expire_producers(self, broker: int, now_ms: int | None = None,
                         ) -> dict[TopicPartition, tuple[int, ...]]:
        """Run ``broker``'s producer-expiration check now, as at ``now_ms`` (epoch ms; default:
        the wall clock): each of its replicas forgets the idempotent producers whose newest
        batch there is ``producer_id_expiration_ms`` older (see
        :mod:`pcmodel.cluster.producers`). The other brokers' replicas keep theirs until their
        own check. Returns the producer ids forgotten, per partition (those with any). Raises
        ``KafkaConnectionError`` if the broker is down, ``IllegalArgumentError`` for a broker
        the cluster does not have or a negative ``now_ms``."""
        if now_ms is not None:
            _check_int("now_ms", now_ms, 0, IllegalArgumentError)
        with self._lock:
            self._check_open()
            return self._reachable_node(broker).expire_producers(now_ms)

    def describe_log_dirs(self, broker: int, partitions: Any = None) -> tuple[Any, ...]:
        """Kafka's DescribeLogDirs as ``broker`` answers it: its log directory (in memory on a
        cluster of threads or steps, the directory of its journals on a cluster of
        processes) and the replicas it hosts there, of ``partitions`` or all for ``None``
        (see :meth:`pcmodel.cluster.node.ClusterNode.describe_log_dirs`). Raises
        ``KafkaConnectionError`` if the broker is down, ``TypeError`` for ``partitions``
        that are not a list of ``TopicPartition`` (a bare str, a mapping, a single
        partition)."""
        asked = None if partitions is None else _check_partitions("partitions", partitions)
        with self._lock:
            self._check_open()
            return self._reachable_node(broker).describe_log_dirs(asked)

    def alter_replica_log_dirs(self, broker: int, targets: Any) -> dict[Any, Any]:
        """Kafka's AlterReplicaLogDirs as ``broker`` answers it: per partition of
        ``targets`` (``{partition: directory}``), ``None`` where the replica is already in
        that directory, or the error (``LogDirNotFoundError``, ``ReplicaNotAvailableError``,
        ``UnknownTopicOrPartitionError``; see :mod:`pcmodel.topics.broker_log_dirs`): a
        broker has one log directory, so nothing moves. Raises ``KafkaConnectionError`` if the
        broker is down."""
        asked = checked_targets(targets)
        with self._lock:
            self._check_open()
            existing = [tp for tp in asked if tp in self.controller.partitions]
            return self._reachable_node(broker).alter_replica_log_dirs(asked, existing)

    def live_brokers(self) -> frozenset[int]:
        """The brokers the controller counts as alive (registered, not fenced).

        A killed broker stays in it until its session expires, as in Kafka."""
        with self._lock:
            return frozenset(self.controller.alive)

    def add_observer(self, observer: Callable[[Any], None]) -> None:
        """Call ``observer(event)`` for every :class:`~pcmodel.cluster.events.ClusterEvent`
        from now on, as it happens: with the cluster lock held, so it must return quickly and
        must not call the cluster (or wait for anything that does). ``TypeError`` for an
        ``observer`` that cannot be called (else the next event, in whichever call or broker
        thread made it, would fail there)."""
        if not callable(observer):
            raise TypeError(f"observer must be a callable taking a ClusterEvent, got {observer!r}")
        with self._lock:
            self._observers.append(observer)

    def remove_observer(self, observer: Callable[[Any], None]) -> None:
        """Stop calling ``observer``; a no-op if it was not added."""
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    def metadata_version(self) -> int:
        """A counter that rises whenever a topic is created or deleted or gains partitions."""
        with self._lock:
            return self._metadata_version()

    def _metadata_version(self) -> int:
        return len(self.controller.topics) + self._topic_edits

    def await_metadata_change(self, version: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for :meth:`metadata_version` to differ from
        ``version``; return the current one. Refuses a ``timeout`` as a lone broker does
        (``TypeError``: not a number; ``IllegalArgumentError``: NaN, negative, too long)."""
        if timeout is None:
            raise TypeError("timeout must be a number of seconds, got None")
        _check_timeout(timeout)  # a NaN one would wait for ever
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._metadata_version() == version and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return self._metadata_version()

    def change_count(self) -> int:
        """A counter that moves whenever anything in the cluster changes (see
        :meth:`await_change`)."""
        with self._lock:
            return self._changes

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``predicate()`` to be true; return whether it
        became true. A stepped cluster is driven tick by tick meanwhile (``timeout`` is then
        virtual time); otherwise the predicate is asked again at each change, and at least
        every 50 ms (a broker process's changes are not all counted here).
        ``IllegalArgumentError`` unless ``timeout`` is a finite number >= 0 (a NaN or infinite
        one would never end)."""
        check_seconds("wait_for()", timeout)
        if self.mode == "steps":
            return predicate() or self._drive_until(predicate, timeout)
        deadline = time.monotonic() + timeout
        while True:
            count = self.change_count()
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.await_change(count, min(remaining, 0.05))

    def wake_waiters(self) -> None:
        """Count a change and wake every caller of :meth:`await_change` at once; each looks
        at what it waits for and, finding nothing new, waits again. A consumer closing ends
        its fetch's wait so (``ClusterConnection.wake_fetches``). Returns at once."""
        with self._lock:
            self._notify()

    def await_change(self, count: int, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for :meth:`change_count` to move past ``count``
        (an append, a replication round, an election, a fault). In a stepped cluster nothing
        moves by itself, so this returns at once. ``IllegalArgumentError`` unless ``timeout``
        is a finite number >= 0."""
        check_seconds("await_change()", timeout)
        if self.mode == "steps":
            return
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._changes == count and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._changed.wait(remaining)
