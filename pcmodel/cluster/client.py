"""pcmodel's clients on a cluster: a connection that finds the leaders, as Kafka clients do.

``KafkaProducer(broker=cluster)`` and ``KafkaConsumer(..., broker=cluster)`` work unchanged:
``cluster.connect()`` returns a :class:`ClusterConnection` offering the broker's client methods
(:data:`~pcmodel.topics.broker.CLIENT_METHODS`) and sending each request to the right broker:

* produce and fetch go to the partition's leader, as the controller last elected it (a client's
  metadata). A request that reaches a former or dead leader fails with a *retriable* error
  (``NotLeaderForPartitionError``, ``KafkaConnectionError``...): the producer's retries send it
  again, to the new leader; a fetch simply skips the partition until it has a leader again.
  The producer's ``acks`` travel with each request and mean what they mean in Kafka.
* group requests go to the group's coordinator: the leader of the group's partition of the
  replicated ``__consumer_offsets`` topic (:mod:`pcmodel.cluster.offsets`). Committed offsets and
  the group's metadata (generation, members, assignments: stored when a SyncGroup completes the
  generation, when the group becomes empty, and as a tombstone when it is deleted) are records
  of that topic, so both survive the loss of any one broker. A broker that becomes coordinator
  loads them before it answers, and a request that finds no coordinator (or one that dies
  under it) waits for the next one and is sent there, as Kafka clients rediscover their
  coordinator after NOT_COORDINATOR: members keep their ids and generation, and no rebalance
  follows. ``describe_group`` reports the committed offsets and lag from the replicated store.
  These requests live in :mod:`pcmodel.cluster.client_groups`; Kafka 4's consumer groups
  (KIP-848: heartbeats that carry the assignment, stored as Kafka's coordinator stores them)
  in :mod:`pcmodel.cluster.client_consumer_groups`.
* transactional requests go to the transactional id's coordinator: the leader of the id's
  partition of the replicated ``__transaction_state`` topic
  (:mod:`pcmodel.cluster.transaction_log`), which stores every decision before it writes the
  transaction's markers to the partitions' leaders; a transactional batch is appended only if
  the producer's transaction holds the partition. These requests live in
  :mod:`pcmodel.cluster.client_transactions`.
* DeleteRecords goes to each partition's leader and waits for the followers to follow.

Produce and fetch live in :mod:`pcmodel.cluster.client_data`, offset lookups (ListOffsets) and
the leader epochs they answer with in :mod:`pcmodel.cluster.client_offsets`.

Blocking calls wait on the cluster (for data, for a leader) without holding its lock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from typing import Any

from pcmodel.cluster.client_data import DataRequestsMixin
from pcmodel.cluster.client_groups import GroupRequestsMixin
from pcmodel.cluster.client_offsets import OffsetLookupsMixin
from pcmodel.cluster.client_transactions import TransactionRequestsMixin
from pcmodel.cluster.cluster import Cluster
from pcmodel.cluster.errors import (
    RequestTimedOutError,
)
from pcmodel.cluster.offsets import OffsetsTopic
from pcmodel.topics.broker import TopicDescription, check_topic_name
from pcmodel.topics.broker_checks import (
    _check_flag,
    _check_mapping,
    _check_partitions,
    _check_timeout,
)
from pcmodel.topics.broker_topics import delete_records_arguments
from pcmodel.topics.config_resources import AlterConfigOp, ConfigEntry
from pcmodel.topics.errors import (
    BrokerResponseError,
    IllegalArgumentError,
    IllegalStateError,
    KafkaError,
    KafkaTimeoutError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.log import RetentionPolicy
from pcmodel.topics.replica_placement import replication_factor_on
from pcmodel.topics.structs import (
    DeletedRecords,
    ElectionType,
    LogDirDescription,
    PartitionProducers,
    PartitionReassignment,
    PartitionReplicas,
    TopicPartition,
)
from pcmodel.topics.topic_configs import topic_options
from pcmodel.topics.topic_settings import check_new_topic_name, is_internal_topic

__all__ = ["ClusterConnection", "partition_replicas"]


def partition_replicas(topic: str, states: Mapping[TopicPartition, Any],
                       live: Container[int]) -> list[PartitionReplicas]:
    """Each partition of ``topic`` among ``states`` (partition states), in partition order:
    its leader (``-1`` while it has none), leader epoch, replicas, in-sync replicas and the
    replicas not on a ``live`` broker; empty if ``states`` has none of the topic."""
    found = []
    for tp in sorted(tp for tp in states if tp.topic == topic):
        state = states[tp]
        found.append(PartitionReplicas(
            tp.partition, -1 if state.leader is None else state.leader, state.leader_epoch,
            tuple(state.replicas), tuple(r for r in state.replicas if r in state.isr),
            tuple(r for r in state.replicas if r not in live),
        ))
    return found

class ClusterConnection(DataRequestsMixin, OffsetLookupsMixin, GroupRequestsMixin,
                        TransactionRequestsMixin):
    """A client's view of a cluster: the broker API, routed to leaders and coordinators."""

    #: Producers pass their ``acks`` with each append (a single broker ignores them).
    honours_acks = True
    #: Topic creation takes a replication factor, min.insync.replicas and unclean election
    #: (see :mod:`pcmodel.topics.topic_configs`).
    replicates = True

    def __init__(self, cluster: Cluster, offsets: OffsetsTopic) -> None:
        self._cluster = cluster
        self._offsets = offsets

    def connect(self) -> ClusterConnection:
        """Another connection to the same cluster (clients open one per thread)."""
        return ClusterConnection(self._cluster, self._offsets)

    def close(self) -> None:
        """Nothing to release: the cluster outlives its connections."""

    # --- metadata -----------------------------------------------------------------------------

    @property
    def default_replication_factor(self) -> int:
        """The replication factor of a topic created without one."""
        return self._cluster.default_replication_factor

    def create_topic(self, name: str, partitions: int = 1, *,
                     replication_factor: int | None = None,
                     min_insync_replicas: int | None = None,
                     unclean_leader_election_enable: bool | None = None,
                     retention_records: int | None = None, retention_ms: int | None = None,
                     retention_policy: str = "delete", configs: Mapping[str, Any] | None = None,
                     replica_assignment: Sequence[Sequence[int]] | None = None,
                     created_with: Collection[str] = (), **_: Any) -> None:
        """Create a replicated topic (``replication_factor=None``: the cluster's default).

        Checked in the order of Kafka's controller (``ReplicationControlManager.
        createTopics``), so that a request with several mistakes is answered as Kafka answers
        it: the name (``InvalidTopicError``), a topic of that name or one it would collide
        with, internal topics included (``TopicAlreadyExistsError``, ``InvalidTopicError``),
        the configs (``InvalidConfigurationError``), then the replicas and partitions:
        ``InvalidReplicationFactorError`` for a factor below 1, above the registered brokers
        (alive or not) or while every broker is fenced, ``InvalidPartitionsError`` for a
        count below 1, in between (Kafka's KRaft rules and messages:
        :func:`~pcmodel.topics.replica_placement.check_replication_factor`). Raises
        ``IllegalStateError`` for a ``"block"`` topic before anything else, and the other
        errors of ``Cluster.create_topic``; ``TypeError`` for ``configs`` that are not a
        mapping. ``created_with``: the topics its CreateTopics request created before it, which
        it may collide with, as in Kafka (see ``Cluster.create_topic``).
        """
        if configs is not None:
            _check_mapping("configs", configs, "config name to value")
        if retention_policy != "delete":
            raise IllegalStateError("a replicated topic keeps retention_policy='delete'; "
                                    "'block' waits on consumer groups, which one broker holds")
        check_topic_name(name)
        check_new_topic_name(name, self._cluster.topic_ids(), created_with)  # internal too
        topic_options(configs, replicates=True)  # InvalidConfigurationError
        if replica_assignment is None:
            replication_factor_on(self, -1 if replication_factor is None else replication_factor,
                                  partitions=partitions)
        self._cluster.create_topic(
            name, partitions, replication_factor=replication_factor,
            min_insync_replicas=min_insync_replicas,
            unclean_leader_election_enable=unclean_leader_election_enable,
            retention_records=retention_records, retention_ms=retention_ms, configs=configs,
            replica_assignment=replica_assignment, created_with=created_with)

    def describe_topic_configs(self, name: str) -> list[ConfigEntry]:
        """Every config of topic ``name`` (see ``Cluster.describe_topic_configs``)."""
        return self._cluster.describe_topic_configs(name)

    def alter_topic_configs(self, name: str,
                            operations: Iterable[tuple[str, int | AlterConfigOp, Any]], *,
                            incremental: bool = True, validate_only: bool = False) -> None:
        """Alter topic ``name``'s configs on every broker (see
        ``Cluster.alter_topic_configs``)."""
        self._cluster.alter_topic_configs(name, operations, incremental=incremental,
                                          validate_only=validate_only)

    def describe_broker_configs(self, broker_id: int = 0) -> list[ConfigEntry]:
        """Broker ``broker_id``'s settings (see ``Cluster.describe_broker_configs``)."""
        return self._cluster.describe_broker_configs(broker_id)

    def describe_group_configs(self, group_id: str) -> list[ConfigEntry]:
        """Every config of group ``group_id`` (see ``Cluster.describe_group_configs``)."""
        return self._cluster.describe_group_configs(group_id)

    def alter_group_configs(self, group_id: str,
                            operations: Iterable[tuple[str, int | AlterConfigOp, Any]], *,
                            incremental: bool = True, validate_only: bool = False) -> None:
        """Alter group ``group_id``'s configs on every broker (see
        ``Cluster.alter_group_configs``)."""
        self._cluster.alter_group_configs(group_id, operations, incremental=incremental,
                                          validate_only=validate_only)

    def delete_topic(self, name: str) -> uuid.UUID:
        """Delete the topic on every broker; return the deleted topic's id (see
        ``Cluster.delete_topic``)."""
        return self._cluster.delete_topic(name)

    def delete_topic_by_id(self, topic_id: uuid.UUID) -> str | None:
        """Delete the topic whose id is ``topic_id``; return its name, or ``None`` if no topic
        has that id, deleting nothing: exactly the topic the id names, never one created
        again under its name (see ``Cluster.delete_topic_by_id``)."""
        return self._cluster.delete_topic_by_id(topic_id)

    def add_partitions(self, name: str, total: int,
                       replica_assignment: Sequence[Sequence[int]] | None = None, *,
                       validate_only: bool = False) -> None:
        """Grow the topic to ``total`` partitions, or with ``validate_only`` only check that
        the controller would (see ``Cluster.add_partitions``)."""
        self._cluster.add_partitions(name, total, replica_assignment,
                                     validate_only=validate_only)

    def elect_leaders(self, election_type: ElectionType | int,
                      partitions: Iterable[TopicPartition] | None = None,
                      ) -> dict[TopicPartition, BrokerResponseError | None]:
        """Leader elections at the controller (see ``Cluster.elect_leaders``). ``TypeError``
        for a bare str or another entry that is not a ``TopicPartition``."""
        if partitions is not None:
            partitions = _check_partitions("partitions", partitions)
        return self._cluster.elect_leaders(election_type, partitions)

    def alter_partition_reassignments(
        self, reassignments: Mapping[TopicPartition, Sequence[int] | None], *,
        allow_replication_factor_change: bool = True,
    ) -> dict[TopicPartition, BrokerResponseError | None]:
        """Reassignments at the controller (see ``Cluster.alter_partition_reassignments``)."""
        return self._cluster.alter_partition_reassignments(
            reassignments, allow_replication_factor_change=allow_replication_factor_change)

    def list_partition_reassignments(
        self, partitions: Iterable[TopicPartition] | None = None,
    ) -> dict[TopicPartition, PartitionReassignment]:
        """Reassignments in progress (see ``Cluster.list_partition_reassignments``).
        ``TypeError`` for a bare str or another entry that is not a ``TopicPartition``."""
        if partitions is not None:
            partitions = _check_partitions("partitions", partitions)
        return self._cluster.list_partition_reassignments(partitions)

    def list_topics(self) -> dict[str, int]:
        """``{topic: partitions}``, internal topics (``__consumer_offsets``: Kafka's exact set,
        :func:`~pcmodel.topics.topic_settings.is_internal_topic`) left out; a user's topic
        whose name starts with ``__`` is listed."""
        return {t: n for t, n in self._topic_counts().items() if not is_internal_topic(t)}

    def internal_topics(self) -> dict[str, int]:
        """``{topic: partitions}`` of the internal topics (``__consumer_offsets``, and
        ``__transaction_state`` once a transactional id created it): those :meth:`list_topics`
        leaves out and a describe of them by name answers, as Kafka's Metadata does."""
        return {t: n for t, n in self._topic_counts().items() if is_internal_topic(t)}

    def _topic_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for tp in self._cluster.metadata():
            counts[tp.topic] = max(counts.get(tp.topic, 0), tp.partition + 1)
        return dict(sorted(counts.items()))

    def partitions_for(self, topic: str, *, auto_create: bool = False) -> set[int]:
        """The topic's partition numbers; a missing topic is created if ``auto_create``.
        ``InvalidTopicError`` for a missing topic with an illegal name, as Kafka's Metadata
        answers it, created or not; ``TypeError`` unless ``auto_create`` is True or False."""
        _check_flag("auto_create", auto_create)
        found = {tp.partition for tp in self._cluster.metadata() if tp.topic == topic}
        if not found:
            check_topic_name(topic)
        if not found and auto_create:
            try:
                self._cluster.create_topic(topic, 1)
            except KafkaError:
                pass  # created by someone else meanwhile
            found = {tp.partition for tp in self._cluster.metadata() if tp.topic == topic}
        if not found:
            raise UnknownTopicOrPartitionError(f"unknown topic {topic!r} in the cluster")
        return found

    def describe_topic(self, name: str) -> TopicDescription:
        """The topic's offset ranges, as each partition's leader has them."""
        parts = sorted(self.partitions_for(name))
        starts, ends = [], []
        for p in parts:
            node = self._leader_node(TopicPartition(name, p))
            start, _, hw = node.broker.replica_offsets(name, p)
            starts.append(start)
            ends.append(hw)
        return TopicDescription(name, len(parts), RetentionPolicy.DELETE, None, None,
                                "condition", tuple(starts), tuple(ends))

    def topic_ids(self) -> dict[str, uuid.UUID]:
        """``{topic: topic id}`` of every topic, as the controller drew them. Returns at once."""
        return self._cluster.topic_ids()

    def wall_clock_ms(self) -> int:
        """The brokers' wall clock (epoch ms): a stepped cluster's moves with its virtual time
        (:func:`~pcmodel.cluster.clock.wall_clock_on`). Returns at once."""
        return self._cluster.wall_clock_ms()

    def broker_ids(self) -> tuple[int, ...]:
        """Every broker of the cluster, alive or not: those a replica list may name."""
        return tuple(range(len(self._cluster.nodes)))

    def live_broker_count(self) -> int:
        """How many brokers the controller counts as alive (unfenced: a new topic needs one)."""
        return len(self.live_broker_ids())

    def live_broker_ids(self) -> tuple[int, ...]:
        """The brokers the controller counts as alive, in id order: those Metadata lists."""
        return tuple(sorted(self._cluster.live_brokers()))

    def controller_id(self) -> int:
        """The broker Metadata and DescribeCluster name as controller: the lowest live one
        (``-1`` if none is). pcmodel's controller is no broker, as in KRaft, where Metadata
        names a live broker for admin requests to go to."""
        return min(self._cluster.live_brokers(), default=-1)

    def describe_partitions(self, topic: str) -> list[PartitionReplicas]:
        """Each partition of ``topic`` as the controller last decided it, in partition order:
        its leader (``-1`` while it has none), leader epoch, replicas, in-sync replicas and the
        replicas on brokers that are down. Raises ``UnknownTopicOrPartitionError`` for a topic
        the cluster does not have."""
        found = partition_replicas(topic, self._cluster.metadata(),
                                   self._cluster.live_brokers())
        if not found:
            raise UnknownTopicOrPartitionError(f"unknown topic {topic!r} in the cluster")
        return found

    def delete_records(self, offsets: Mapping[TopicPartition, int],
                       timeout: float | None = None) -> dict[TopicPartition, DeletedRecords]:
        """DeleteRecords at each partition's leader, then wait up to ``timeout`` seconds
        (default 30, Kafka clients' request timeout) until every live replica has deleted them
        too: each answer's ``low_watermark`` is the partition's then, as Kafka's
        DelayedDeleteRecords answers. A partition whose followers did not follow in time
        answers ``RequestTimedOutError`` (the deletion stands and completes later).

        Per partition, as :meth:`Broker.delete_records
        <pcmodel.topics.broker_topics.TopicAdminMixin.delete_records>` answers, and
        ``InvalidTopicError`` for an internal topic (``__consumer_offsets``),
        ``LeaderNotAvailableError`` while a partition has no leader.
        """
        _check_timeout(timeout)  # before any deletion: a NaN one would make the wait never end
        items = delete_records_arguments(offsets)
        results: dict[TopicPartition, DeletedRecords] = {}
        targets: dict[TopicPartition, int] = {}
        for tp, offset in items:
            try:
                targets[tp] = self._cluster.delete_records(tp.topic, tp.partition, offset)
            except BrokerResponseError as exc:
                results[tp] = DeletedRecords(-1, exc)

        def followed() -> bool:
            return all(self._cluster.low_watermark(*tp) >= target
                       for tp, target in targets.items())

        timeout = 30.0 if timeout is None else timeout
        self._cluster.wait_for(followed, timeout)
        for tp, target in targets.items():
            low = self._cluster.low_watermark(*tp)
            results[tp] = DeletedRecords(low) if low >= target else DeletedRecords(
                -1, RequestTimedOutError(f"{tp}: the records below {target} were deleted at "
                                         f"the leader, but a live replica still has them from "
                                         f"{low} after {timeout} s"))
        return {tp: results[tp] for tp, _ in items}

    def metadata_version(self) -> int:
        """Rises whenever a topic is created or deleted or gains partitions."""
        return self._cluster.metadata_version()

    def await_metadata_change(self, version: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for a topic change; return the current version."""
        return self._cluster.await_metadata_change(version, timeout)

    def log_stats(self, topic: str) -> tuple[Any, ...]:
        """Per partition: records and stored/uncompressed bytes in its leader's log (a
        follower's copy is stored decoded, so it may be larger)."""
        return tuple(
            self._leader_node(TopicPartition(topic, p)).broker.log_stats(topic)[p]
            for p in sorted(self.partitions_for(topic))
        )

    def space_stats(self, topic: str, partition: int) -> None:
        """Replicated topics have no ``"block"`` policy: always ``None``."""
        return None

    def describe_producers(self, partitions: Iterable[TopicPartition],
                           broker_id: int | None = None,
                           ) -> dict[TopicPartition, PartitionProducers]:
        """Kafka's DescribeProducers: each partition's idempotent producers as its leader
        remembers them, or as broker ``broker_id`` does (a follower's copy too).

        Per partition, in the order asked, the producers or the error the broker answers
        (``UnknownTopicOrPartitionError``, ``NotLeaderForPartitionError`` from a broker with no
        replica of it, ``KafkaConnectionError`` from one that is down; see
        ``Cluster.describe_producers``). Raises ``IllegalArgumentError`` for a ``broker_id``
        that is not one of the cluster's brokers, ``TypeError`` for a bare str or another
        entry that is not a ``TopicPartition``.
        """
        asked = _check_partitions("partitions", partitions)
        if broker_id is not None:
            self._check_broker_id(broker_id)
        results: dict[TopicPartition, PartitionProducers] = {}
        for tp in asked:
            try:
                broker = self._leader_node(tp).node_id if broker_id is None else broker_id
                results[tp] = PartitionProducers(
                    self._cluster.describe_producers(broker, tp.topic, tp.partition))
            except KafkaError as exc:
                results[tp] = PartitionProducers((), exc)
        return results

    def describe_log_dirs(self, partitions: Iterable[TopicPartition] | None = None,
                          broker_id: int | None = None) -> tuple[LogDirDescription, ...]:
        """Kafka's DescribeLogDirs, as broker ``broker_id`` answers it: its log directory and
        the replicas it hosts there (of ``partitions``, or all for ``None``; see
        ``Cluster.describe_log_dirs``). Raises ``IllegalArgumentError`` unless ``broker_id``
        is one of the cluster's brokers (a cluster has several: name one),
        ``KafkaConnectionError`` if it is down, ``TypeError`` for ``partitions`` that are not
        a list of ``TopicPartition`` (a bare str, a mapping, a single partition) or for an
        entry that is not one."""
        if partitions is not None:
            partitions = _check_partitions("partitions", partitions)
        return self._cluster.describe_log_dirs(self._check_broker_id(broker_id), partitions)

    def alter_replica_log_dirs(self, targets: Mapping[TopicPartition, str],
                               broker_id: int | None = None,
                               ) -> dict[TopicPartition, KafkaError | None]:
        """Kafka's AlterReplicaLogDirs, as broker ``broker_id`` answers it (see
        ``Cluster.alter_replica_log_dirs``: a broker has one log directory, so nothing moves).
        Raises ``IllegalArgumentError`` unless ``broker_id`` is one of the cluster's brokers,
        ``KafkaConnectionError`` if it is down, ``TypeError`` for ``targets`` that are not a
        mapping (before anything else)."""
        _check_mapping("targets", targets, "TopicPartition to a log directory")
        return self._cluster.alter_replica_log_dirs(self._check_broker_id(broker_id), targets)

    # --- internals ----------------------------------------------------------------------------

    def _check_broker_id(self, broker_id: object) -> int:
        """``broker_id`` if it names one of the cluster's brokers, else
        ``IllegalArgumentError``."""
        if isinstance(broker_id, bool) or broker_id not in self.broker_ids():
            raise IllegalArgumentError(
                f"broker_id {broker_id!r} is not a broker of this cluster; its brokers are "
                f"{list(self.broker_ids())}")
        return broker_id  # type: ignore[return-value] - one of the ids, so an int

    def _leader_node(self, tp: TopicPartition) -> Any:
        deadline = time.monotonic() + 10.0
        while True:
            state = self._cluster.metadata().get(tp)
            if state is None:
                raise UnknownTopicOrPartitionError(f"no partition {tp} in the cluster")
            if state.leader is not None and self._cluster.nodes[state.leader].alive:
                return self._cluster.nodes[state.leader]
            if time.monotonic() > deadline:
                raise KafkaTimeoutError(f"{tp} had no leader for 10 s")
            self._cluster.await_change(self._cluster.change_count(), 0.05)

