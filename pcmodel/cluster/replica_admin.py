"""Leader elections and replica reassignments asked by an administrator (a mixin of
``Cluster``).

Both go to the controller, which decides each partition alone, and every broker follows, as
after any other change of a partition's state: before the call returns on a cluster of threads
or steps, at their next heartbeat on a cluster of processes.

*Elections* (Kafka's ElectLeaders, :meth:`Controller.elect
<pcmodel.cluster.controller.Controller.elect>`) move a partition's leadership: back to its
preferred replica, or, unclean, to any live replica of a partition that has no leader.

*Reassignments* (Kafka's AlterPartitionReassignments, :meth:`Controller.reassign
<pcmodel.cluster.controller.Controller.reassign>`) move its replicas to other brokers. The new
replicas start empty and copy the log from the leader as any follower does; the old ones leave
once every new one is in sync (the rules are in :mod:`pcmodel.cluster.reassignment`), and the
brokers they leave delete their copy. A broker that is down when it gains or loses a replica
creates or deletes it when it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from pcmodel.topics.broker_checks import _check_election_type, _check_flag, _check_partitions
from pcmodel.topics.errors import BrokerResponseError, ElectionNotNeededError
from pcmodel.topics.replica_placement import reassignment_requests
from pcmodel.topics.structs import (
    ElectionType,
    PartitionReassignment,
    TopicPartition,
)

__all__ = ["ReplicaAdmin"]


class ReplicaAdmin:
    """The election and reassignment methods of :class:`~pcmodel.cluster.cluster.Cluster`."""

    def elect_leaders(self, election_type: ElectionType | int,
                      partitions: Iterable[TopicPartition] | None = None,
                      ) -> dict[TopicPartition, BrokerResponseError | None]:
        """Leader elections asked by an administrator (Kafka's ElectLeaders, KIP-460).

        ``election_type`` is an :class:`~pcmodel.topics.structs.ElectionType` (or its value);
        ``partitions`` the partitions to elect for, ``None`` for every partition of every
        topic. Returns ``{partition: None}`` where a leader was elected, else the reason as an
        error (see :meth:`Controller.elect <pcmodel.cluster.controller.Controller.elect>`),
        in the order asked. Given ``None``, partitions that need no election are left out of
        the answer, as Kafka's controller leaves them out. The brokers follow the new leaders
        as they learn them: before this returns on a cluster of threads, at their next
        heartbeat on a cluster of processes. Raises ``InvalidRequestError`` for an unknown
        election type, ``TypeError`` for one given as a float or a bool and for
        ``partitions`` that are not a list of ``TopicPartition`` (a bare str, a mapping, a
        single partition), before anything is elected.
        """
        kind = _check_election_type(election_type)
        asked = None if partitions is None else _check_partitions("partitions", partitions)
        return self._decide_each(
            lambda: sorted(self.controller.partitions) if asked is None else asked,
            lambda tp: self.controller.elect(tp, kind),
            # Asked for every partition, Kafka's controller leaves out those that needed none.
            unreported=(ElectionNotNeededError,) if asked is None else ())

    def alter_partition_reassignments(
        self, reassignments: Mapping[TopicPartition, Sequence[int] | None], *,
        allow_replication_factor_change: bool = True,
    ) -> dict[TopicPartition, BrokerResponseError | None]:
        """Move partitions' replicas to other brokers (Kafka's AlterPartitionReassignments).

        ``reassignments`` maps each partition to its target replica list (the first is the new
        preferred leader), or to ``None`` to cancel its reassignment in progress. Returns
        ``{partition: None}`` where the reassignment started (or completed at once: see
        :meth:`Controller.reassign <pcmodel.cluster.controller.Controller.reassign>`) or was
        cancelled, else the reason as an error, in the order given; each partition is decided
        alone. The move itself goes on after this returns, as the new replicas catch up:
        :meth:`list_partition_reassignments` shows what is still in progress. With
        ``allow_replication_factor_change=False`` a target of another length than the
        partition's replica count is refused (KIP-860). Raises ``TypeError`` unless
        ``reassignments`` is a mapping, and ``IllegalArgumentError`` for a key that is not a
        topic partition, and ``TypeError`` unless ``allow_replication_factor_change`` is a
        bool, before anything changes.
        """
        _check_flag("allow_replication_factor_change", allow_replication_factor_change)
        targets = reassignment_requests(reassignments)
        return self._decide_each(
            lambda: targets, lambda tp: self.controller.reassign(
                tp, targets[tp],
                allow_replication_factor_change=allow_replication_factor_change))

    def list_partition_reassignments(
        self, partitions: Iterable[TopicPartition] | None = None,
    ) -> dict[TopicPartition, PartitionReassignment]:
        """The reassignments in progress (Kafka's ListPartitionReassignments), of
        ``partitions`` or of every partition if ``None``, in partition order. Partitions with
        none in progress, or that the cluster does not have, are left out, as Kafka leaves
        them out. ``TypeError`` for ``partitions`` that are not a list of ``TopicPartition``
        (a bare str, a mapping, a single partition)."""
        asked = None if partitions is None else set(_check_partitions("partitions", partitions))
        with self._lock:
            self._check_open()
            return {tp: PartitionReassignment(st.replicas, st.adding, st.removing)
                    for tp, st in sorted(self.controller.partitions.items())
                    if (st.adding or st.removing) and (asked is None or tp in asked)}

    def _decide_each(self, partitions: Callable[[], Iterable[TopicPartition]],
                     decide: Callable[[TopicPartition], object], *,
                     unreported: tuple[type[BrokerResponseError], ...] = (),
                     ) -> dict[TopicPartition, BrokerResponseError | None]:
        """``decide(tp)`` for each of ``partitions()`` under the cluster lock, each alone:
        ``{tp: None}`` where it changed the partition, else the controller's refusal (left
        out if ``unreported``); then every change is published and delivered."""
        results: dict[TopicPartition, BrokerResponseError | None] = {}
        with self._lock:
            self._check_open()
            for tp in partitions():
                try:
                    decide(tp)
                except unreported:
                    continue
                except BrokerResponseError as exc:
                    results[tp] = exc
                else:
                    results[tp] = None
            self._apply_changes([tp for tp, error in results.items() if error is None])
        return results
