"""Where a new topic's replicas go: the replication factor asked for, and assignments by hand.

The replication factor may be ``-1`` (the broker's default) or 1 up to the *registered*
brokers, alive or not, as long as one of them is not fenced: Kafka's KRaft controller places a
topic's replicas on fenced brokers too (after the others), and refuses only a factor above the
registered brokers, or any topic while every broker is fenced (``InvalidReplicationFactorError``
with Kafka's message). So three replicas are placed with one broker of three down, where the
ZooKeeper-era rule (``larger than available brokers``) counted only live brokers.
An assignment by hand (CreateTopics' and CreatePartitions' assignments, a reassignment's
target) names each partition's brokers itself, preferred leader first: each list must be
distinct brokers of the cluster, and a topic's partitions must all have as many replicas
(``InvalidReplicationAssignmentError`` otherwise). A lone broker is the only broker there is:
only its own id passes. ``KafkaAdminClient``, the Kafka listener and a cluster's controller
share these checks.

Prior art: Kafka's ``ReplicationControlManager.createTopic``, ``createPartitions`` and
``validateManualPartitionAssignment``; ``StripedReplicaPlacer.place`` for the factor's checks.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from typing import Any

from pcmodel.topics.errors import (
    InvalidPartitionsError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import TopicPartition, validate_topic_partition

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
                             default: int = 1) -> int | None:
    """Check a requested replication factor as Kafka's KRaft controller does; return it, or
    ``None`` for ``-1`` (the broker's ``default``, checked the same way).

    ``registered_brokers`` counts every broker of the cluster, fenced (down) or not;
    ``unfenced_brokers`` those alive (default: all of them, as for a lone broker). Raises
    ``InvalidReplicationFactorError`` with Kafka's messages, in Kafka's order: for a factor that
    is not an int, for one below 1 other than ``-1``, while every broker is fenced, and for a
    factor above the registered brokers. A factor above the *live* brokers is accepted: the
    replicas of fenced brokers are placed after the live ones and catch up on their return.
    """
    rf = replication_factor
    if isinstance(rf, bool) or not isinstance(rf, int):
        raise InvalidReplicationFactorError(
            f"Replication factor must be an int (or -1 for the default), got {rf!r}.")
    if rf < -1 or rf == 0:
        raise InvalidReplicationFactorError(
            "Replication factor must be larger than 0, or -1 to use the default value.")
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


def replication_factor_on(broker: Any, replication_factor: object) -> int | None:
    """:func:`check_replication_factor` against ``broker``'s brokers: a cluster connection's
    registered and live ones and its default factor, or a lone broker, which is one."""
    if _replicates(broker):
        return check_replication_factor(
            replication_factor, len(broker.broker_ids()), broker.live_broker_count(),
            default=broker.default_replication_factor)
    return check_replication_factor(replication_factor, 1)


def check_replica_list(replicas: object, brokers: Collection[int], *,
                       what: str = "the replica list") -> tuple[int, ...]:
    """A replica list placed by hand, checked: a non-empty sequence of distinct ids of the
    cluster's ``brokers`` (Kafka's ``validateManualPartitionAssignment``); ``what`` names it
    in the messages. Raises ``InvalidReplicationAssignmentError`` saying what is wrong."""
    if isinstance(replicas, (str, bytes)) or not isinstance(replicas, Sequence):
        raise InvalidReplicationAssignmentError(
            f"{what} must be a list of broker ids, got {replicas!r}")
    if not replicas:
        raise InvalidReplicationAssignmentError(
            f"{what} is empty: a partition needs at least one replica")
    seen: set[int] = set()
    for broker in replicas:
        if isinstance(broker, bool) or not isinstance(broker, int):
            raise InvalidReplicationAssignmentError(
                f"{what} holds broker ids (int), got {broker!r} in {list(replicas)}")
        if broker not in brokers:
            raise InvalidReplicationAssignmentError(
                f"{what} {list(replicas)} includes broker {broker}, but no such broker is "
                f"registered (brokers: {sorted(brokers)})")
        if broker in seen:
            raise InvalidReplicationAssignmentError(
                f"{what} {list(replicas)} includes broker {broker} more than once")
        seen.add(broker)
    return tuple(replicas)


def check_assignment(assignment: Sequence[Sequence[int]], brokers: Collection[int], *,
                     first_partition: int = 0, replication_factor: int | None = None,
                     ) -> list[tuple[int, ...]]:
    """The replica lists placed by hand for new partitions ``first_partition``,
    ``first_partition + 1``, ..., checked: each by :func:`check_replica_list`, and all of one
    length, ``replication_factor`` if given (the topic's, for partitions added to it), as
    Kafka's controller checks them. Raises ``InvalidReplicationAssignmentError``."""
    checked: list[tuple[int, ...]] = []
    for p, replicas in enumerate(assignment, start=first_partition):
        checked.append(check_replica_list(replicas, brokers,
                                          what=f"the replica list of partition {p}"))
        expected = replication_factor if replication_factor is not None else len(checked[0])
        if len(checked[-1]) != expected:
            raise InvalidReplicationAssignmentError(
                f"the replica list of partition {p} has {len(checked[-1])} replica(s), but "
                f"this is not consistent with the other partitions, which have {expected}")
    return checked


def check_added_assignment(assignment: Sequence[Sequence[int]], brokers: Collection[int], *,
                           current: int, total: int, replication_factor: int
                           ) -> list[tuple[int, ...]]:
    """The replica lists placed by hand for the partitions CreatePartitions adds to a topic
    of ``current`` partitions (``current`` up to ``total - 1``), checked: one per new
    partition, each as :func:`check_assignment` wants, ``replication_factor`` long (Kafka's
    rule: partition 0's count). Raises ``InvalidReplicationAssignmentError``."""
    if len(assignment) != total - current:
        raise InvalidReplicationAssignmentError(
            f"Attempted to add {total - current} additional partition(s), but only "
            f"{len(assignment)} assignment(s) were specified.")
    return check_assignment(assignment, brokers, first_partition=current,
                            replication_factor=replication_factor)


def manual_assignment(num_partitions: int, replication_factor: int,
                      assignments: Iterable[tuple[int, Sequence[int]]]) -> list[Sequence[int]]:
    """One topic's CreateTopics assignments, ``(partition, replica list)`` pairs in any
    order, as a list in partition order (each list is for :func:`check_assignment`).

    The request must leave the partition count and the replication factor to them (``-1``
    both): ``InvalidRequestError`` otherwise. A partition assigned twice, or partitions that
    are not 0, 1, 2..., are ``InvalidReplicationAssignmentError``. Kafka's messages.
    """
    if replication_factor != -1:
        raise InvalidRequestError("A manual partition assignment was specified, but "
                                  "replication factor was not set to -1.")
    if num_partitions != -1:
        raise InvalidRequestError("A manual partition assignment was specified, but "
                                  "numPartitions was not set to -1.")
    by_partition: dict[int, Sequence[int]] = {}
    for partition, replicas in assignments:
        if partition in by_partition:
            raise InvalidReplicationAssignmentError(
                f"Found multiple manual partition assignments for partition {partition}")
        by_partition[partition] = replicas
    if sorted(by_partition) != list(range(len(by_partition))):
        raise InvalidReplicationAssignmentError(
            "partitions should be a consecutive 0-based integer sequence, got "
            f"{sorted(by_partition)}")
    return [by_partition[p] for p in range(len(by_partition))]


def assignable_brokers(broker: Any, node_id: int) -> Collection[int]:
    """The broker ids a replica list may name on ``broker``: a cluster connection's brokers,
    alive or not, or a lone broker's own id, ``node_id`` (as its clients know it)."""
    return broker.broker_ids() if _replicates(broker) else (node_id,)


def new_topic_assignment(broker: Any, num_partitions: int, replication_factor: int,
                         assignments: Iterable[tuple[int, Sequence[int]]], *,
                         node_id: int) -> list[tuple[int, ...]]:
    """CreateTopics' assignments for one topic on ``broker``, for pcmodel's admin client and
    the Kafka listener: in partition order (:func:`manual_assignment`), each list checked
    against :func:`assignable_brokers` (:func:`check_assignment`; a cluster's controller
    also refuses a partition on brokers that are all down)."""
    return check_assignment(manual_assignment(num_partitions, replication_factor, assignments),
                            assignable_brokers(broker, node_id))


def check_partition_increase(topic: str, current: int, total: int) -> None:
    """Refuse growing ``topic`` from ``current`` partitions to ``total`` unless that adds
    some, as Kafka's controller does (``ReplicationControlManager.createPartitions``):
    ``InvalidPartitionsError`` in its words; partitions are never removed."""
    if total == current:
        raise InvalidPartitionsError(f"Topic already has {current} partition(s).")
    if total < current:
        raise InvalidPartitionsError(f"The topic {topic} currently has {current} "
                                     f"partition(s); {total} would not be an increase.")


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
                               current=current, total=total, replication_factor=rf)
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
    if not isinstance(reassignments, Mapping):
        raise TypeError(f"reassignments must map each TopicPartition to a list of broker "
                        f"ids (or None), not {type(reassignments).__name__}")
    return {validate_topic_partition(tp): target for tp, target in reassignments.items()}


def _replicates(broker: Any) -> bool:
    return getattr(broker, "replicates", False) is True
