"""Where a new topic's replicas go: the replication factor asked for, and assignments by hand.

The replication factor may be ``-1`` (the broker's default) or 1 up to the live brokers, as
Kafka's controller answers (``InvalidReplicationFactorError`` with Kafka's message otherwise).
Replicas are placed by the broker (a cluster's controller): an explicit assignment is accepted
only where it is the only possible one, a lone broker's own id
(``InvalidReplicationAssignmentError`` otherwise). ``KafkaAdminClient``, the Kafka listener and
a cluster's connection share these checks. A reassignment (which moves existing replicas) names
its target brokers itself: :func:`check_reassignment_target` checks them.

Prior art: Kafka's ``ReplicationControlManager.createTopic``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from pcmodel.topics.errors import (
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
)

__all__ = ["check_reassignment_target", "check_replica_assignment", "check_replication_factor"]


def check_replication_factor(replication_factor: object, live_brokers: int) -> int | None:
    """Check a requested replication factor against the brokers alive; return it, or
    ``None`` for ``-1`` (the broker's default).

    Raises ``InvalidReplicationFactorError`` with Kafka's message for a factor above the live
    brokers or below 1 (other than ``-1``), and for one that is not an int.
    """
    rf = replication_factor
    if isinstance(rf, bool) or not isinstance(rf, int):
        raise InvalidReplicationFactorError(
            f"Replication factor must be an int (or -1 for the default), got {rf!r}.")
    if rf == -1:
        return None
    if rf > live_brokers:
        raise InvalidReplicationFactorError(
            f"Replication factor: {rf} larger than available brokers: {live_brokers}.")
    if rf < 1:
        raise InvalidReplicationFactorError(
            f"Replication factor must be larger than 0 (or -1 for the default), got {rf}.")
    return rf


def check_replica_assignment(what: str, broker_ids: Iterable[int], *, replicates: bool,
                             node_id: int) -> None:
    """Refuse replicas placed on ``broker_ids`` by hand for ``what`` (a partition), unless it
    is the only possible placement: ``[node_id]`` on a lone broker. A replicated cluster's
    controller places replicas itself. Raises ``InvalidReplicationAssignmentError``."""
    brokers = list(broker_ids)
    if replicates:
        raise InvalidReplicationAssignmentError(
            f"{what} is assigned to brokers {brokers}; this cluster's controller places "
            "replicas itself: ask for a replication factor instead of an assignment")
    if brokers != [node_id]:
        raise InvalidReplicationAssignmentError(
            f"{what} is assigned to brokers {brokers}; the only broker is {node_id}")


def check_reassignment_target(target: object, brokers: Collection[int]) -> tuple[int, ...]:
    """A reassignment's target replica list, checked: a non-empty sequence of distinct ids
    of the cluster's ``brokers`` (Kafka's ``validateManualPartitionAssignment``). Raises
    ``InvalidReplicationAssignmentError`` saying what is wrong."""
    if isinstance(target, (str, bytes)) or not isinstance(target, Sequence):
        raise InvalidReplicationAssignmentError(
            f"a target replica list must be a list of broker ids, got {target!r}")
    if not target:
        raise InvalidReplicationAssignmentError(
            "the target replica list is empty: a partition needs at least one replica "
            "(cancel a reassignment with None)")
    seen: set[int] = set()
    for broker in target:
        if isinstance(broker, bool) or not isinstance(broker, int):
            raise InvalidReplicationAssignmentError(
                f"a target replica list holds broker ids (int), got {broker!r} in {list(target)}")
        if broker not in brokers:
            raise InvalidReplicationAssignmentError(
                f"the target replica list {list(target)} includes broker {broker}, but no such "
                f"broker is registered (brokers: {sorted(brokers)})")
        if broker in seen:
            raise InvalidReplicationAssignmentError(
                f"the target replica list {list(target)} includes broker {broker} more than once")
        seen.add(broker)
    return tuple(target)
