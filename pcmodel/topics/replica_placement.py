"""Where a new topic's replicas go: the replication factor asked for, and assignments by hand.

The replication factor may be ``-1`` (the broker's default) or 1 up to the *registered*
brokers, alive or not, as long as one of them is not fenced: Kafka's KRaft controller places a
topic's replicas on fenced brokers too (after the others), and refuses only a factor above the
registered brokers, or any topic while every broker is fenced (``InvalidReplicationFactorError``
with Kafka's message). So three replicas are placed with one broker of three down, where the
ZooKeeper-era rule (``larger than available brokers``) counted only live brokers.
An assignment by hand (CreateTopics' and CreatePartitions' assignments, a reassignment's
target) names each partition's brokers itself, preferred leader first: each list must be
distinct brokers of the cluster, a topic's partitions must all have as many replicas, and
each new partition needs a live broker to lead it (``InvalidReplicationAssignmentError``
otherwise). Each partition is checked whole before the next, and each mistake is named in
the words of Kafka's controller, so that a request with several is answered as Kafka answers
it. A lone broker is the only broker there is: only its own id passes. ``KafkaAdminClient``,
the Kafka listener and a cluster's controller share these checks.

Prior art: Kafka's ``ReplicationControlManager.createTopic``, ``createPartitions`` and
``validateManualPartitionAssignment``; ``StripedReplicaPlacer.place`` for the factor's checks.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Sequence
from typing import Any

from pcmodel.topics.broker_checks import _check_mapping
from pcmodel.topics.errors import (
    InvalidPartitionsError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import TopicPartition, validate_topic_partition
from pcmodel.topics.topic_settings import check_operation_size

__all__ = [
    "NO_REASSIGNMENT_IN_PROGRESS",
    "add_partitions_placed",
    "assignable_brokers",
    "check_added_assignment",
    "check_assignment",
    "check_partition_increase",
    "check_replica_list",
    "check_replication_factor",
    "manual_assignment",
    "new_topic_assignment",
    "reassignment_requests",
    "replication_factor_on",
    "unknown_elected_partition",
    "unknown_reassigned_partition",
]


def check_replication_factor(replication_factor: object, registered_brokers: int,
                             unfenced_brokers: int | None = None, *,
                             default: int = 1, partitions: object = -1) -> int | None:
    """Check a requested replication factor as Kafka's KRaft controller does; return it, or
    ``None`` for ``-1`` (the broker's ``default``, checked the same way).

    ``registered_brokers`` counts every broker of the cluster, fenced (down) or not;
    ``unfenced_brokers`` those alive (default: all of them, as for a lone broker). Raises
    ``InvalidReplicationFactorError`` with Kafka's messages, in Kafka's order: for a factor that
    is not an int, for one below 1 other than ``-1``, while every broker is fenced, and for a
    factor above the registered brokers. A factor above the *live* brokers is accepted: the
    replicas of fenced brokers are placed after the live ones and catch up on their return.
    Between the factor's own checks and its placement, Kafka checks the topic's partition
    count: ``partitions`` other than ``-1`` (the broker's default) or a positive int is
    ``InvalidPartitionsError`` there, in Kafka's words.
    """
    rf = replication_factor
    if isinstance(rf, bool) or not isinstance(rf, int):
        raise InvalidReplicationFactorError(
            f"Replication factor must be an int (or -1 for the default), got {rf!r}.")
    if rf < -1 or rf == 0:
        raise InvalidReplicationFactorError(
            "Replication factor must be larger than 0, or -1 to use the default value.")
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise InvalidPartitionsError(f"The number of partitions must be an int, got "
                                     f"{partitions!r}.")
    if partitions < -1 or partitions == 0:
        raise InvalidPartitionsError(
            "Number of partitions was set to an invalid non-positive value.")
    wanted = default if rf == -1 else rf
    unfenced = registered_brokers if unfenced_brokers is None else unfenced_brokers
    if unfenced < 1:
        raise InvalidReplicationFactorError(
            f"Unable to replicate the partition {wanted} time(s): All brokers are currently "
            "fenced.")
    if wanted > registered_brokers:
        raise InvalidReplicationFactorError(
            f"Unable to replicate the partition {wanted} time(s): The target replication "
            f"factor of {wanted} cannot be reached because only {registered_brokers} "
            "broker(s) are registered.")
    return None if rf == -1 else rf


def replication_factor_on(broker: Any, replication_factor: object, *,
                          partitions: object = -1) -> int | None:
    """:func:`check_replication_factor` (with the ``partitions`` of the new topic) against
    ``broker``'s brokers: a cluster connection's registered and live ones and its default
    factor, or a lone broker, which is one."""
    if _replicates(broker):
        return check_replication_factor(
            replication_factor, len(broker.broker_ids()), broker.live_broker_count(),
            default=broker.default_replication_factor, partitions=partitions)
    return check_replication_factor(replication_factor, 1, partitions=partitions)


def check_replica_list(replicas: object, brokers: Collection[int], *,
                       what: str = "the replica list") -> tuple[int, ...]:
    """A replica list placed by hand, checked as Kafka's controller checks one
    (``ReplicationControlManager.validateManualPartitionAssignment``): not empty, then each
    broker id in ascending order, registered (one of ``brokers``) and named once; the first
    failure is raised as ``InvalidReplicationAssignmentError`` in Kafka's words. A value that
    is not a list of ints, which Kafka's typed requests cannot carry, is refused first, with
    ``what`` naming it in the message. Returns the list as a tuple, in the order given."""
    if isinstance(replicas, (str, bytes)) or not isinstance(replicas, Sequence):
        raise InvalidReplicationAssignmentError(
            f"{what} must be a list of broker ids, got {replicas!r}")
    for broker in replicas:
        if isinstance(broker, bool) or not isinstance(broker, int):
            raise InvalidReplicationAssignmentError(
                f"{what} holds broker ids (int), got {broker!r} in {list(replicas)}")
    if not replicas:
        raise InvalidReplicationAssignmentError(
            "The manual partition assignment includes an empty replica list.")
    previous = None
    for broker in sorted(replicas):  # Kafka walks the sorted ids: the lowest culprit is named
        if broker not in brokers:
            raise InvalidReplicationAssignmentError(
                f"The manual partition assignment includes broker {broker}, but no such "
                "broker is registered.")
        if broker == previous:
            raise InvalidReplicationAssignmentError(
                f"The manual partition assignment includes the broker {broker} more than "
                "once.")
        previous = broker
    return tuple(replicas)


def check_assignment(assignment: Sequence[Sequence[int]], brokers: Collection[int], *,
                     first_partition: int = 0, replication_factor: int | None = None,
                     live: Container[int] | None = None) -> list[tuple[int, ...]]:
    """The replica lists placed by hand for new partitions ``first_partition``,
    ``first_partition + 1``, ..., checked one partition after the other as Kafka's controller
    checks them (:func:`_check_placed`): each as long as the one before, or
    ``replication_factor`` if given (the topic's, for partitions added to it), and, if
    ``live`` (the unfenced brokers) is given, with a live broker to lead it. Raises
    ``InvalidReplicationAssignmentError`` in Kafka's words."""
    checked: list[tuple[int, ...]] = []
    for p, replicas in enumerate(assignment, start=first_partition):
        size = replication_factor if replication_factor is not None or not checked \
            else len(checked[0])
        checked.append(_check_placed(p, replicas, brokers, size, live))
    return checked


def _check_placed(partition: int, replicas: object, brokers: Collection[int],
                  size: int | None, live: Container[int] | None) -> tuple[int, ...]:
    """One partition's replica list placed by hand, in the order of Kafka's checks: the
    list itself (:func:`check_replica_list`), its length (``size``, unless ``None``), then
    (unless ``live`` is ``None``) a live broker among its replicas, to lead it."""
    checked = check_replica_list(replicas, brokers,
                                 what=f"the replica list of partition {partition}")
    if size is not None and len(checked) != size:
        raise InvalidReplicationAssignmentError(
            f"The manual partition assignment includes a partition with {len(checked)} "
            f"replica(s), but this is not consistent with previous partitions, which have "
            f"{size} replica(s).")
    if live is not None and not any(r in live for r in checked):
        raise InvalidReplicationAssignmentError(
            f"All brokers specified in the manual partition assignment for partition "
            f"{partition} are fenced or in controlled shutdown.")
    return checked


def check_added_assignment(assignment: Sequence[Sequence[int]], brokers: Collection[int], *,
                           current: int, total: int, replication_factor: int,
                           live: Container[int] | None = None) -> list[tuple[int, ...]]:
    """The replica lists placed by hand for the partitions CreatePartitions adds to a topic
    of ``current`` partitions (``current`` up to ``total - 1``), checked: one per new
    partition, each as :func:`check_assignment` wants, ``replication_factor`` long (Kafka's
    rule: partition 0's count), with a ``live`` broker if given. Raises
    ``InvalidReplicationAssignmentError``."""
    if len(assignment) != total - current:
        raise InvalidReplicationAssignmentError(
            f"Attempted to add {total - current} additional partition(s), but only "
            f"{len(assignment)} assignment(s) were specified.")
    return check_assignment(assignment, brokers, first_partition=current,
                            replication_factor=replication_factor, live=live)


def manual_assignment(num_partitions: int, replication_factor: int,
                      assignments: Iterable[tuple[int, Sequence[int]]],
                      brokers: Collection[int], live: Container[int] | None = None,
                      ) -> list[tuple[int, ...]]:
    """One topic's CreateTopics assignments, ``(partition, replica list)`` pairs in any
    order, checked in Kafka's order (``ReplicationControlManager.createTopic``) and returned
    as replica lists in partition order.

    The request must leave the partition count and the replication factor to them (``-1``
    both): ``InvalidRequestError`` otherwise. Then each pair, in the order given: a partition
    assigned twice, a list :func:`_check_placed` refuses (of ``brokers``, as long as the one
    before, with a ``live`` broker if given); then partitions that are not 0, 1, 2...: each
    ``InvalidReplicationAssignmentError``. Kafka's messages.
    """
    if replication_factor != -1:
        raise InvalidRequestError("A manual partition assignment was specified, but "
                                  "replication factor was not set to -1.")
    if num_partitions != -1:
        raise InvalidRequestError("A manual partition assignment was specified, but "
                                  "numPartitions was not set to -1.")
    by_partition: dict[int, tuple[int, ...]] = {}
    size: int | None = None
    for partition, replicas in assignments:
        if partition in by_partition:
            raise InvalidReplicationAssignmentError(
                f"Found multiple manual partition assignments for partition {partition}")
        by_partition[partition] = _check_placed(partition, replicas, brokers, size, live)
        size = len(by_partition[partition])
    if sorted(by_partition) != list(range(len(by_partition))):
        raise InvalidReplicationAssignmentError(
            "partitions should be a consecutive 0-based integer sequence")
    return [by_partition[p] for p in range(len(by_partition))]


def assignable_brokers(broker: Any, node_id: int) -> Collection[int]:
    """The broker ids a replica list may name on ``broker``: a cluster connection's brokers,
    alive or not, or a lone broker's own id, ``node_id`` (as its clients know it)."""
    return broker.broker_ids() if _replicates(broker) else (node_id,)


def new_topic_assignment(broker: Any, num_partitions: int, replication_factor: int,
                         assignments: Iterable[tuple[int, Sequence[int]]], *,
                         node_id: int) -> list[tuple[int, ...]]:
    """CreateTopics' assignments for one topic on ``broker``, for pcmodel's admin client and
    the Kafka listener, checked by :func:`manual_assignment` against
    :func:`assignable_brokers` (and, on a cluster, its live brokers: a partition on brokers
    that are all down is refused, as its controller refuses it); in partition order."""
    live = broker.live_broker_ids() if _replicates(broker) else None
    return manual_assignment(num_partitions, replication_factor, assignments,
                             assignable_brokers(broker, node_id), live)


def check_partition_increase(topic: str, current: int, total: int) -> None:
    """Refuse growing ``topic`` from ``current`` partitions to ``total`` unless that adds
    some, as Kafka's controller does (``ReplicationControlManager.createPartitions``):
    ``InvalidPartitionsError`` in its words; partitions are never removed.
    ``PolicyViolationError`` for more partitions added at once than Kafka's controller
    writes records for (:data:`~pcmodel.topics.topic_settings.MAX_RECORDS_PER_OPERATION`)."""
    if total == current:
        raise InvalidPartitionsError(f"Topic already has {current} partition(s).")
    if total < current:
        raise InvalidPartitionsError(f"The topic {topic} currently has {current} "
                                     f"partition(s); {total} would not be an increase.")
    check_operation_size(total - current)  # one record per partition added


def add_partitions_placed(broker: Any, name: str, total: int,
                          assignment: Sequence[Sequence[int]], *, node_id: int,
                          validate_only: bool = False) -> None:
    """CreatePartitions for pcmodel's admin client and the Kafka listener: grow topic
    ``name`` to ``total`` partitions on ``broker`` (a ``Broker``, a broker process, a cluster
    connection), placed by the controller or by ``assignment``, a replica list per new
    partition (empty: none). A lone broker, which its clients know as ``node_id``, is the only
    broker a list may name; a cluster's controller also refuses a partition on brokers that
    are all down. ``validate_only`` checks and changes nothing, and a cluster's controller
    checks as for the real request (as Kafka's, which runs the same code and leaves its
    records uncommitted).

    Raises ``UnknownTopicOrPartitionError``, ``InvalidPartitionsError`` for a total not above
    the current count, ``InvalidReplicationAssignmentError`` (:func:`check_added_assignment`;
    a cluster's, also for a partition on brokers all fenced), and a cluster's
    ``InvalidReplicationFactorError`` for a placement while every broker is fenced.
    """
    current = len(broker.partitions_for(name))
    replicates = _replicates(broker)
    grows = isinstance(total, int) and not isinstance(total, bool) and total > current
    if validate_only and not grows:
        if isinstance(total, bool) or not isinstance(total, int):
            raise InvalidPartitionsError(f"the new total of partitions of topic {name} must "
                                         f"be an int, got {total!r}")
        check_partition_increase(name, current, total)
    if assignment and grows:
        rf = len(broker.describe_partitions(name)[0].replicas) if replicates else 1
        check_added_assignment(assignment, assignable_brokers(broker, node_id),
                               current=current, total=total, replication_factor=rf,
                               live=broker.live_broker_ids() if replicates else None)
    if validate_only:
        if replicates:
            broker.add_partitions(name, total, list(assignment) or None, validate_only=True)
        return
    if replicates:
        broker.add_partitions(name, total, list(assignment) or None)
    else:
        broker.add_partitions(name, total)


#: Kafka's answer to cancelling a reassignment where none is in progress (it may have
#: completed): NO_REASSIGNMENT_IN_PROGRESS, in the words of Kafka's ``Errors``.
NO_REASSIGNMENT_IN_PROGRESS = "No partition reassignment is in progress."


def unknown_reassigned_partition(tp: TopicPartition, topics: Container[str]
                                 ) -> UnknownTopicOrPartitionError:
    """Kafka's controller's answer to a reassignment (or its cancellation) of partition
    ``tp``, which it does not have; ``topics`` are the topics it has. Kafka's
    ``ReplicationControlManager.alterPartitionReassignment`` looks the topic up first, then
    the partition, and names them in these words."""
    if tp.topic not in topics:
        return UnknownTopicOrPartitionError(f"Unable to find a topic named {tp.topic}.")
    return UnknownTopicOrPartitionError(
        f"Unable to find partition {tp.topic}:{tp.partition}.")


def unknown_elected_partition(tp: TopicPartition, topics: Container[str]
                              ) -> UnknownTopicOrPartitionError:
    """Kafka's controller's answer to an election (ElectLeaders) for partition ``tp``, which
    it does not have; ``topics`` are the topics it has (``ReplicationControlManager.
    electLeader``'s words: "No such topic as T", "No such partition as T-P")."""
    if tp.topic not in topics:
        return UnknownTopicOrPartitionError(f"No such topic as {tp.topic}")
    return UnknownTopicOrPartitionError(f"No such partition as {tp.topic}-{tp.partition}")


def reassignment_requests(reassignments: object) -> dict[TopicPartition, Any]:
    """The partitions and targets of an AlterPartitionReassignments call, keys checked (the
    targets are each partition's own business: :func:`check_replica_list`, or ``None`` to
    cancel). Raises ``TypeError`` unless ``reassignments`` is a mapping, and
    ``IllegalArgumentError`` (a ``ValueError``) or ``TypeError`` for a key that is not a
    topic partition."""
    checked = _check_mapping("reassignments", reassignments,
                             "TopicPartition to a list of broker ids (or None)")
    return {validate_topic_partition(tp): target for tp, target in checked.items()}


def _replicates(broker: Any) -> bool:
    return getattr(broker, "replicates", False) is True
