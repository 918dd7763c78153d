"""Leader elections and partition reassignments, as a one-broker Kafka cluster answers them.

:class:`PlacementMixin` is the part of :class:`~pcmodel.topics.broker.Broker` behind Kafka's
ElectLeaders, AlterPartitionReassignments and ListPartitionReassignments. On a lone broker
every partition has one replica, the broker itself, which leads it and is its preferred
leader: no election is ever needed, no replica can move, and no reassignment is ever in
progress. The answers say so per partition, with Kafka's errors, so that an administrator's
program written for a cluster runs here unchanged. :mod:`pcmodel.cluster` answers the same
calls among replicas that really move (:mod:`pcmodel.cluster.replica_admin`). It runs under
the broker's one lock (``_lock``) and reads the topic table of
:mod:`~pcmodel.topics.broker_topics`.

Prior art: Kafka's ``KafkaApis.handleElectLeaders``, ``ReplicationControlManager``
(``electLeaders``, ``alterPartitionReassignments``, ``listPartitionReassignments``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pcmodel.topics.broker_checks import _check_election_type, _check_flag, _check_partitions
from pcmodel.topics.errors import (
    BrokerResponseError,
    ElectionNotNeededError,
    NoReassignmentInProgressError,
)
from pcmodel.topics.replica_placement import (
    NO_REASSIGNMENT_IN_PROGRESS,
    check_replica_list,
    reassignment_requests,
    unknown_elected_partition,
    unknown_reassigned_partition,
)
from pcmodel.topics.structs import (
    ElectionType,
    PartitionReassignment,
    TopicPartition,
)

__all__ = ["PlacementMixin"]


class PlacementMixin:
    """Elections and reassignments on a lone broker (Broker part)."""

    def elect_leaders(self, election_type: ElectionType | int,
                      partitions: Iterable[TopicPartition] | None = None,
                      ) -> dict[TopicPartition, BrokerResponseError | None]:
        """Leader elections asked by an administrator (Kafka's ElectLeaders), as a one-broker
        Kafka cluster answers them: every partition has one replica, the broker itself, which
        leads it and is its preferred leader, so no election is ever needed.

        Returns ``{partition: ElectionNotNeededError}`` for each partition asked, or
        ``UnknownTopicOrPartitionError`` for one the broker does not have; with ``partitions``
        ``None`` (every partition), ``{}``: Kafka leaves out the partitions that need no
        election. Raises ``InvalidRequestError`` for an unknown election type, ``TypeError``
        for one given as a float or a bool, a bare str or another entry that is not a
        ``TopicPartition``. See
        :meth:`Cluster.elect_leaders <pcmodel.cluster.replica_admin.ReplicaAdmin.elect_leaders>`
        for elections among replicas.
        """
        _check_election_type(election_type)
        asked = [] if partitions is None else _check_partitions("partitions", partitions)
        results: dict[TopicPartition, BrokerResponseError | None] = {}
        with self._lock:
            self._check_open()
            for tp in asked:  # each answered with the message Kafka's controller gives
                topic = self._topics.get(tp.topic)
                if topic is None or tp.partition >= len(topic.logs):
                    results[tp] = unknown_elected_partition(tp, self._topics)
                else:  # the broker is the partition's only replica, and leads it
                    results[tp] = ElectionNotNeededError(
                        "Leader election not needed for topic partition.")
        return results

    def alter_partition_reassignments(
        self, reassignments: Mapping[TopicPartition, Sequence[int] | None], *,
        allow_replication_factor_change: bool = True, node_id: int = 0,
    ) -> dict[TopicPartition, BrokerResponseError | None]:
        """Reassignments (Kafka's AlterPartitionReassignments), as a one-broker Kafka cluster
        answers them: every partition has one replica, this broker (``node_id``, the id its
        clients know it by), and cannot move.

        Returns, in the order given, ``{partition: None}`` for a target of just this broker
        (nothing to move), else the reason: ``InvalidReplicationAssignmentError`` for any other
        target, ``NoReassignmentInProgressError`` for a cancellation (``None``),
        ``UnknownTopicOrPartitionError`` for a partition the broker does not have (each
        answer in the words of Kafka's controller: "Unable to find a topic named T.",
        "Unable to find partition T:P.", "No partition reassignment is in progress."). Raises
        ``TypeError`` unless ``reassignments`` is a mapping and the flag a bool. See
        :meth:`Cluster.alter_partition_reassignments
        <pcmodel.cluster.replica_admin.ReplicaAdmin.alter_partition_reassignments>` for
        replicas that move.
        """
        asked = reassignment_requests(reassignments)
        _check_flag("allow_replication_factor_change", allow_replication_factor_change)
        results: dict[TopicPartition, BrokerResponseError | None] = {}
        with self._lock:
            self._check_open()
            for tp, target in asked.items():
                try:
                    topic = self._topics.get(tp.topic)
                    if topic is None or not 0 <= tp.partition < len(topic.logs):
                        raise unknown_reassigned_partition(tp, self._topics)
                    if target is None:
                        raise NoReassignmentInProgressError(NO_REASSIGNMENT_IN_PROGRESS)
                    check_replica_list(target, (node_id,), what="the target replica list")
                except BrokerResponseError as exc:
                    results[tp] = exc
                else:
                    results[tp] = None
        return results

    def list_partition_reassignments(
        self, partitions: Iterable[TopicPartition] | None = None,
    ) -> dict[TopicPartition, PartitionReassignment]:
        """The reassignments in progress (Kafka's ListPartitionReassignments): none on a lone
        broker, ``{}``. Raises ``TypeError`` / ``ValueError`` for a bare str or an entry of
        ``partitions`` that is not a topic partition."""
        if partitions is not None:
            _check_partitions("partitions", partitions)
        with self._lock:
            self._check_open()
        return {}
