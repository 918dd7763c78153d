"""Creating and deleting topics, adding partitions, deleting records and altering configs on a
cluster (a mixin of ``Cluster``).

The controller changes the topic's partitions (Kafka's CreateTopics, DeleteTopics and
CreatePartitions go to the controller) and every broker follows: a new topic's replicas are
placed round-robin, or by hand (Kafka's ``--replica-assignment``); a deleted topic's replicas
and local logs go — on brokers that are down as well, as a Kafka broker deletes them when it
returns — and produce requests waiting for its replication fail with UNKNOWN_TOPIC_OR_PARTITION;
new partitions get replicas placed round-robin after the existing ones, and first leaders from
the live replicas.

Deleting records (Kafka's DeleteRecords) goes to the partition's leader, which moves its log
start; each follower moves its own to the leader's at its next fetch, and the partition's *low
watermark*, the smallest log start among its live replicas, tells when every live copy is
gone (Kafka's ``lowWatermarkIfLeader``, which its DeleteRecords answer waits for).

A topic's configs are the controller's (Kafka keeps them in its metadata log): an alteration
is checked whole, then every broker applies it (a broker that is down, when it returns):
``min.insync.replicas`` and ``unclean.leader.election.enable`` to its replicas, ``retention.ms``
to its logs. Allowing unclean election elects a leader at once for the topic's offline
partitions that have a live replica, as Kafka's controller does.

A group's configs (Kafka 4's GROUP config resource, :mod:`pcmodel.topics.group_configs`) are
the controller's too, as Kafka keeps them in its metadata log: an alteration is checked whole
against the cluster's consumer group settings, then every broker takes the group's new configs
(a broker process that is down, when it restarts), so whichever broker coordinates the group,
now or after a failover, gives its members the group's session timeout and heartbeat interval.

Committed offsets of a deleted topic are removed from ``__consumer_offsets`` with tombstones,
as Kafka's coordinators do (``GroupMetadataManager.cleanupGroupMetadata``), so a topic created
again under the same name starts its groups afresh. An offsets partition without a leader at
that moment keeps its offsets of the topic.

Internal topics are Kafka's exact set (:func:`~pcmodel.topics.topic_settings.is_internal_topic`:
``__consumer_offsets``, ``__transaction_state``, ``__share_group_state``); any other name, one
starting with ``__`` too, is an ordinary topic. An internal topic's records cannot be deleted,
as Kafka's ``ReplicaManager`` refuses it. Deleting an internal topic is refused here on
purpose, where Kafka 4's controller would delete it: the cluster's group and transaction
coordinators keep their state there, and a deletion would lose every group's committed offsets
and every open transaction. Altering its configs is refused too (Kafka allows it): the cluster
sets them from its coordinators' settings (``cleanup.policy=compact``, ``min.insync.replicas``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from pcmodel.cluster.controller import TopicConfig
from pcmodel.cluster.transaction_settings import filled_transaction_settings
from pcmodel.topics.broker_checks import _check_flag
from pcmodel.topics.broker_configs import check_topic_resource
from pcmodel.topics.broker_static_configs import broker_config_entries
from pcmodel.topics.config_resources import AlterConfigOp, ConfigEntry
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidPartitionsError,
    InvalidReplicationAssignmentError,
    InvalidTopicError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.group_configs import (
    altered_group_overrides,
    check_group_resource,
    describe_group_configs,
    with_group_overrides,
)
from pcmodel.topics.replica_placement import check_assignment, check_partition_increase
from pcmodel.topics.structs import TopicPartition
from pcmodel.topics.topic_configs import (
    altered_overrides,
    describe_topic_configs,
    topic_options,
)
from pcmodel.topics.topic_settings import (
    check_new_topic,
    check_new_topic_name,
    check_topic_name,
    is_internal_topic,
)

__all__ = ["TopicAdmin"]


class TopicAdmin:
    """The topic-changing methods of :class:`~pcmodel.cluster.cluster.Cluster`."""

    #: Deletions and partition additions so far (part of ``metadata_version``).
    _topic_edits = 0

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        replication_factor: int | None = None,
        min_insync_replicas: int | None = None,
        unclean_leader_election_enable: bool | None = None,
        retention_records: int | None = None,
        retention_ms: int | None = None,
        configs: Mapping[str, Any] | None = None,
        replica_assignment: Sequence[Sequence[int]] | None = None,
        created_with: Collection[str] = (),
    ) -> None:
        """Create a replicated topic; each partition gets ``replication_factor`` replicas.

        The controller places them round-robin, or ``replica_assignment`` does: a list of
        broker ids per partition, preferred leader first, all of one length (Kafka's
        ``--replica-assignment``). ``partitions`` must then be its length and
        ``replication_factor`` left out; the assignment is refused
        (``InvalidReplicationAssignmentError``) for a repeated or unknown broker, lists of
        different lengths, or a partition whose brokers are all down.

        ``min_insync_replicas`` (Kafka's ``min.insync.replicas``, default 1) is how many
        in-sync replicas an ``acks="all"`` produce needs. ``configs`` are Kafka topic configs
        (:mod:`pcmodel.topics.topic_configs`); ``min_insync_replicas``,
        ``unclean_leader_election_enable`` and ``retention_ms`` are the same as the configs of
        those names (giving both is an ``IllegalArgumentError``). A ``min_insync_replicas``
        above the replication factor is accepted, as Kafka accepts it: each leader enforces
        the partition's replica count instead (:attr:`Replica.min_isr
        <pcmodel.cluster.replica.Replica.min_isr>`). Raises ``IllegalArgumentError`` for a
        replication factor above the broker count or a ``min_insync_replicas`` below 1,
        ``InvalidConfigurationError`` for a config, and the
        ``Broker.create_topic`` errors for the name and retention settings: among them
        ``TopicAlreadyExistsError``, and ``InvalidTopicError`` for a name that differs from an
        existing topic's only by ``.`` against ``_`` (Kafka's words for both). Only the
        ``"delete"`` retention policy replicates (a ``"block"`` topic waits on consumer groups,
        which live on one broker). The name and a topic it would collide with are checked
        first, whatever else is wrong, as Kafka's controller checks them; ``created_with``
        are the topics its CreateTopics request created before it, which it may collide with,
        as Kafka's controller checks collisions against the topics that existed before the
        request only (:func:`~pcmodel.topics.topic_settings.check_new_topic_name`).
        """
        # Kafka's order: the name, then the topics it would collide with (checked again
        # under the lock below, where it counts), then everything else.
        check_topic_name(name)
        with self._lock:
            check_new_topic_name(name, self.controller.topics, created_with)
        if replica_assignment is not None:
            if isinstance(replica_assignment, (str, bytes)) or not isinstance(
                    replica_assignment, Sequence) or not replica_assignment:
                raise InvalidReplicationAssignmentError(
                    f"replica_assignment must be a list with a replica list per partition, "
                    f"got {replica_assignment!r}")
            if replication_factor is not None or partitions != len(replica_assignment):
                raise IllegalArgumentError(
                    f"replica_assignment places {len(replica_assignment)} partition(s) itself: "
                    f"give partitions={len(replica_assignment)} and no replication_factor, got "
                    f"partitions={partitions!r}, replication_factor={replication_factor!r}")
            replica_assignment = check_assignment(replica_assignment, range(len(self.nodes)))
            replication_factor = len(replica_assignment[0])
        rf = self.default_replication_factor if replication_factor is None \
            else replication_factor
        if isinstance(rf, bool) or not isinstance(rf, int) or not 1 <= rf <= len(self.nodes):
            raise IllegalArgumentError(
                f"replication_factor must be between 1 and the {len(self.nodes)} brokers, "
                f"got {rf!r}")
        if min_insync_replicas is not None and (
                isinstance(min_insync_replicas, bool) or not isinstance(min_insync_replicas, int)
                or min_insync_replicas < 1):
            raise IllegalArgumentError(
                f"min_insync_replicas must be an int of at least 1, got {min_insync_replicas!r}")
        overrides = dict(configs or {})
        for keyword, config_name, value in (
                ("min_insync_replicas", "min.insync.replicas", min_insync_replicas),
                ("unclean_leader_election_enable", "unclean.leader.election.enable",
                 unclean_leader_election_enable)):
            if value is not None:
                if config_name in overrides:
                    raise IllegalArgumentError(
                        f"give {keyword} or configs[{config_name!r}], not both")
                overrides[config_name] = value
        # Name, partitions, configs and retention, checked as any broker checks a new topic
        # (retention_ms and configs["retention.ms"] both given is refused there).
        overrides = check_new_topic(name, partitions, retention_records=retention_records,
                                    retention_ms=retention_ms, configs=overrides).configs
        options = topic_options(overrides, replicates=True)
        config = self._topic_config(rf, options)
        with self._lock:
            self._check_open()
            # Among every topic, internal ones too, as Kafka's controller checks a new name.
            check_new_topic_name(name, self.controller.topics, created_with)
            tps = self.controller.create_topic(name, partitions, config, replica_assignment)
            self._topic_configs[name] = overrides
            self._add_replicas(name, partitions, tps, config,
                               retention_records=retention_records, configs=overrides)
            for tp in tps:
                self._publish(tp)
                self._deliver(tp)
            self._notify()

    def _add_replicas(self, name: str, partitions: int, tps: list[TopicPartition],
                      config: TopicConfig, **topic_settings: Any) -> None:
        for node in self.nodes:
            # Every broker knows every topic (its coordinators assign its partitions);
            # only the replicas it hosts get replica state.
            mine = [tp for tp in tps if node.node_id in self.controller.partitions[tp].replicas]
            node.add_replicas(name, partitions, mine, config, **topic_settings)

    def topic_ids(self) -> dict[str, uuid.UUID]:
        """``{topic: topic id}`` of every topic, internal ones included: the random id the
        controller drew when it created each (a topic created again has a new one). Returns at
        once."""
        with self._lock:
            return dict(sorted(self.controller.topic_ids.items()))

    def delete_topic(self, name: str, *, topic_id: uuid.UUID | None = None) -> uuid.UUID:
        """Delete topic ``name`` on every broker, with its records; return the deleted
        topic's id, read under the same hold of the cluster lock as the deletion (so it is
        the deleted topic's, whatever other clients delete or create meanwhile).

        With ``topic_id``, the topic is deleted only if it still has that id (checked under
        the same hold of the lock). Raises ``UnknownTopicOrPartitionError`` if there is no
        such topic and
        ``InvalidTopicError`` for an internal topic (``__consumer_offsets``,
        ``__transaction_state``: the coordinators' state, see the module docstring; a user's
        ``__audit`` is deleted as any topic). Returns once the topic's committed offsets are
        removed too (tombstones written with ``acks="all"``).
        """
        with self._lock:
            self._check_open()
            self._existing(name)
            if topic_id not in (None, self.controller.topic_ids[name]):
                raise UnknownTopicOrPartitionError(
                    f"topic {name!r} was deleted and created again; its old id is gone")
            topic_id = self.controller.topic_ids[name]
            if is_internal_topic(name):
                raise InvalidTopicError(f"{name!r} is an internal topic of the cluster; it "
                                        "cannot be deleted")
            for tp in self.controller.delete_topic(name):
                self._published.pop(tp, None)
            self._topic_configs.pop(name, None)
            self._remove_replicas(name)
            self._topic_edits += 2  # the topic count went down by one: keep the version rising
            self._notify()
            offsets = self._offsets_topic
        if offsets is not None:  # outside the lock: the tombstones are produced and waited for
            offsets.remove_topic(name)
        return topic_id

    def delete_topic_by_id(self, topic_id: uuid.UUID) -> str | None:
        """Delete the topic whose id is ``topic_id`` (Kafka's DeleteTopics by id: its
        controller's ``deleteTopics`` takes ids), as :meth:`delete_topic` deletes one; return
        its name, or ``None`` if no topic has that id (never had, or it was deleted: Kafka's
        UNKNOWN_TOPIC_ID), deleting nothing.

        Exactly the topic the id names is deleted: a topic deleted and created again under
        the same name, even between this call's lookup and its deletion, is left alone, for
        the deletion checks the id under the same hold of the lock that deletes. Raises
        ``TypeError`` unless ``topic_id`` is a ``uuid.UUID``, and ``InvalidTopicError`` for
        an internal topic.
        """
        if not isinstance(topic_id, uuid.UUID):
            raise TypeError(f"a topic id is a uuid.UUID, got {topic_id!r}")
        with self._lock:
            self._check_open()
            name = next((name for name, known in self.controller.topic_ids.items()
                         if known == topic_id), None)
        if name is None:
            return None
        # Through delete_topic (which a cluster of processes extends to tell its broker
        # processes), which checks the id again under the lock as it deletes.
        try:
            self.delete_topic(name, topic_id=topic_id)
        except UnknownTopicOrPartitionError:
            return None  # deleted meanwhile, perhaps created again: this id is gone
        return name

    def describe_topic_configs(self, name: str) -> list[ConfigEntry]:
        """Every config of topic ``name``, in name order (see
        :func:`~pcmodel.topics.topic_configs.describe_topic_configs`). Raises
        ``UnknownTopicOrPartitionError`` if there is no such topic."""
        with self._lock:
            self._existing(name)
            return describe_topic_configs(self._topic_configs.get(name, {}))

    def alter_topic_configs(self, name: str,
                            operations: Iterable[tuple[str, int | AlterConfigOp, Any]], *,
                            incremental: bool = True, validate_only: bool = False) -> None:
        """Alter topic ``name``'s configs on every broker, as ``Broker.alter_topic_configs``
        does on one; a ``min.insync.replicas`` above the replication factor is accepted, as in
        Kafka (leaders enforce the replica count instead).

        All or nothing, in the order of Kafka's controller (``ConfigurationControlManager``):
        raises for the name as :func:`~pcmodel.topics.broker_configs.check_topic_resource`,
        then ``InvalidRequestError`` or ``InvalidConfigurationError`` for the configs, and only
        then ``UnknownTopicOrPartitionError`` if there is no such topic and
        ``InvalidTopicError`` for an internal topic, with nothing changed. ``validate_only``
        checks and changes nothing. First of all ``TypeError`` unless ``incremental`` and
        ``validate_only`` are True or False.
        """
        _check_flag("incremental", incremental)
        _check_flag("validate_only", validate_only)
        check_topic_resource(name)
        with self._lock:
            self._check_open()
            overrides = altered_overrides(self._topic_configs.get(name, {}), operations,
                                          incremental=incremental)
            options = topic_options(overrides, replicates=True)
            self._existing(name)  # as Kafka: whether it exists is checked last
            if is_internal_topic(name):
                raise InvalidTopicError(f"{name!r} is an internal topic of the cluster; its "
                                        "configs are the cluster's")
            config = self._topic_config(self.controller.topics[name].replication_factor,
                                        options)
            if validate_only:
                return
            self._topic_configs[name] = overrides
            elected = self.controller.reconfigure_topic(name, config)
            self._reconfigure(name, config, overrides)
            self._apply_changes(elected)
            self._notify()

    #: group id -> the configs set on that group: replaced whole by an alteration, never
    #: changed in place, so this empty default is never written to.
    _group_configs: Mapping[str, Mapping[str, str]] = MappingProxyType({})

    def describe_group_configs(self, group_id: str) -> list[ConfigEntry]:
        """Every config of group ``group_id``, in name order, whether the group exists or not
        (see :func:`~pcmodel.topics.group_configs.describe_group_configs`): the value set on
        the group, else the cluster's consumer group setting. Raises ``InvalidRequestError``
        for ``""``."""
        check_group_resource(group_id)
        settings = self.consumer_group_settings
        with self._lock:
            return describe_group_configs(
                self._group_configs.get(group_id, {}),
                session_ms=settings.group_consumer_session_timeout_ms,
                heartbeat_ms=settings.group_consumer_heartbeat_interval_ms)

    def alter_group_configs(self, group_id: str,
                            operations: Iterable[tuple[str, int | AlterConfigOp, Any]], *,
                            incremental: bool = True, validate_only: bool = False) -> None:
        """Alter group ``group_id``'s configs on every broker, as ``Broker.alter_group_configs``
        does on one (the group need not exist); its coordinator uses them from each member's
        next heartbeat on, and so does a new coordinator after a failover.

        All or nothing: raises ``InvalidRequestError`` or ``InvalidConfigurationError`` with
        nothing changed. ``validate_only`` checks and changes nothing. First of all
        ``TypeError`` unless ``incremental`` and ``validate_only`` are True or False.
        """
        _check_flag("incremental", incremental)
        _check_flag("validate_only", validate_only)
        settings = self.consumer_group_settings
        with self._lock:
            self._check_open()
            overrides = altered_group_overrides(
                group_id, self._group_configs.get(group_id, {}), operations,
                incremental=incremental,
                session_ms=settings.group_consumer_session_timeout_ms,
                heartbeat_ms=settings.group_consumer_heartbeat_interval_ms)
            if validate_only:
                return
            self._group_configs = with_group_overrides(self._group_configs, group_id, overrides)
            self._set_group_configs(group_id, overrides)

    def _set_group_configs(self, group_id: str, overrides: Mapping[str, str]) -> None:
        """Every broker takes group ``group_id``'s configs (cluster lock held); a broker that
        is down keeps them for its restart."""
        for node in self.nodes:
            node.broker.alter_group_configs(
                group_id, [(name, AlterConfigOp.SET, value) for name, value in overrides.items()],
                incremental=False)

    def describe_broker_configs(self, broker: int) -> list[ConfigEntry]:
        """Broker ``broker``'s settings, read-only, in name order (see
        :func:`~pcmodel.topics.broker_static_configs.broker_config_entries`); every broker of a
        cluster has the same. Raises ``IllegalArgumentError`` for an unknown broker id."""
        self._node(broker)
        return broker_config_entries(
            broker, num_partitions=1, auto_create_topics_enable=True,
            default_replication_factor=self.default_replication_factor,
            group_initial_rebalance_delay_ms=self.group_initial_rebalance_delay_ms,
            offsets_retention_minutes=self.offsets_retention_minutes,
            offsets_retention_check_interval_ms=self.offsets_retention_check_interval_ms,
            offset_metadata_max_bytes=self.offset_metadata_max_bytes,
            producer_id_expiration_ms=self.producer_id_expiration_ms,
            session_timeout_bounds=self.group_session_timeout_bounds,
            leader_balancing=(self.auto_leader_rebalance_enable,
                              self.leader_imbalance_check_interval_seconds),
            transactions=self._transaction_limits(),
            consumer_groups=self.consumer_group_settings)

    def _transaction_limits(self) -> tuple[int, int]:
        """``transaction.max.timeout.ms`` and ``transactional.id.expiration.ms`` as this
        cluster's coordinators apply them (given, or Kafka's defaults)."""
        settings = filled_transaction_settings(self.transaction_settings)
        return settings.max_timeout_ms, settings.id_expiration_ms

    @staticmethod
    def _topic_config(rf: int, options: Mapping[str, Any]) -> TopicConfig:
        """The replication settings ``topic_options`` gave (for a new topic, and for one whose
        configs change). ``min.insync.replicas`` is not checked against the factor: Kafka
        checks only that it is at least 1 (``topic_options`` does), and its leaders cap it at
        the replica count, which a reassignment may change."""
        return TopicConfig(rf, options.get("min_insync_replicas", 1),
                           options.get("unclean_leader_election_enable", False))

    def _reconfigure(self, name: str, config: Any, overrides: dict[str, str]) -> None:
        """Every broker applies topic ``name``'s new settings (cluster lock held)."""
        for node in self.nodes:
            node.reconfigure_topic(name, config, overrides)

    def delete_records(self, topic: str, partition: int, offset: int) -> int:
        """Delete the partition's records below ``offset`` (``-1``: below the high watermark)
        at its leader, which moves its log start there; followers follow at their next fetch
        (:meth:`low_watermark` tells when all live ones have). Returns the offset.

        Raises ``UnknownTopicOrPartitionError``, ``InvalidTopicError`` for an internal topic,
        ``LeaderNotAvailableError`` while the partition has no leader, and
        ``OffsetOutOfRangeError`` for an offset below ``-1`` or beyond the high watermark
        (records not yet committed cannot be deleted).
        """
        tp = TopicPartition(topic, partition)
        with self._lock:
            self._check_open()
            self._check_deletable(tp)
            target = self._produce_target(tp, None).delete_records_as_leader(tp, offset)
            self._notify()
            return target

    def low_watermark(self, topic: str, partition: int) -> int:
        """The smallest log start offset among the partition's live replicas: no live broker
        holds a record below it (Kafka's ``lowWatermarkIfLeader``); ``-1`` while none is
        alive."""
        starts = [r.log_start_offset for r in self.replica_status(topic, partition) if r.alive]
        return min(starts, default=-1)

    def _check_deletable(self, tp: TopicPartition) -> None:
        self._state(tp)  # UnknownTopicOrPartitionError
        if is_internal_topic(tp.topic):
            raise InvalidTopicError(f"{tp.topic!r} is an internal topic of the cluster; its "
                                    "records cannot be deleted")

    def add_partitions(self, name: str, total: int,
                       replica_assignment: Sequence[Sequence[int]] | None = None, *,
                       validate_only: bool = False) -> None:
        """Grow topic ``name`` to ``total`` partitions (Kafka's CreatePartitions); with
        ``validate_only``, only check, with the same errors, and change nothing.

        Existing partitions keep their records and leaders. The new ones have as many
        replicas as partition 0, placed round-robin or where ``replica_assignment`` says (a
        list of broker ids per new partition, as in ``create_topic``). Raises
        ``UnknownTopicOrPartitionError``, ``InvalidPartitionsError`` unless ``total`` is an
        int above the current count (partitions are never removed), and
        ``InvalidReplicationAssignmentError`` for an assignment the controller refuses, and
        ``InvalidReplicationFactorError`` to place partitions while every broker is fenced
        (:meth:`Controller.add_partitions
        <pcmodel.cluster.controller.Controller.add_partitions>`); first of all ``TypeError``
        unless ``validate_only`` is True or False.
        """
        _check_flag("validate_only", validate_only)
        with self._lock:
            self._check_open()
            count = self._existing(name)
            if isinstance(total, bool) or not isinstance(total, int):
                raise InvalidPartitionsError(f"the new total of partitions of topic {name} "
                                             f"must be an int, got {total!r}")
            check_partition_increase(name, count, total)
            added = self.controller.add_partitions(name, total, replica_assignment,
                                                   validate_only=validate_only)
            if validate_only:
                return
            self._grow_replicas(name, total, added, self.controller.topics[name])
            for tp in added:
                self._publish(tp)
                self._deliver(tp)
            self._topic_edits += 1
            self._notify()

    def _remove_replicas(self, name: str) -> None:
        """Every broker drops the topic (with the cluster lock held)."""
        for node in self.nodes:
            node.remove_topic(name)

    def _grow_replicas(self, name: str, total: int, added: list, config: Any) -> None:
        """Every broker grows the topic; replicas where it hosts one (cluster lock held)."""
        for node in self.nodes:
            mine = [tp for tp in added if node.node_id in self.controller.partitions[tp].replicas]
            node.add_partitions(name, total, mine, config)

    def _existing(self, name: str) -> int:
        """The partition count of topic ``name``; ``UnknownTopicOrPartitionError`` if none."""
        if name not in self.controller.topics:
            raise UnknownTopicOrPartitionError(f"unknown topic {name!r} in the cluster")
        return sum(1 for tp in self.controller.partitions if tp.topic == name)
