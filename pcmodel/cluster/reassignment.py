"""The rules of a partition reassignment, as pure functions.

A reassignment moves a partition's replicas to other brokers (Kafka's
``kafka-reassign-partitions.sh``, the admin clients' ``alter_partition_reassignments``). It
never copies data behind the replication protocol's back: the new replicas join as ordinary
followers, fetch from the leader like any follower, and the move is over only once every one
of them is in sync. In between, the partition has *more* replicas than before and after:

1. **Start.** The replica list becomes the target followed by the replicas being removed
   (:func:`start`); the new ones are *adding*, the old ones *removing*. The leader and the ISR
   stay: nothing has moved yet, and the removing replicas still count for ``acks="all"``.
2. **Catch up.** The adding replicas fetch from the leader until it adds them to the ISR.
3. **Complete** (:func:`completed`), at the first ISR change that has every target replica in
   sync: the removing replicas leave the replica list and the ISR. If the leader was one of
   them, the first target replica in sync takes over, and the removed brokers delete their
   copy.

Cancelling (:func:`reverted`) takes out the replicas being added and keeps the ones being
removed: the partition is back on its original brokers.

Every function takes the partition's replica list in its current order and returns lists in
Kafka's orders: targets as given, ``adding`` and ``removing`` sorted.

Prior art: Kafka ``PartitionReassignmentReplicas`` (``maybeCompleteReassignment``,
``originalReplicas``), ``PartitionReassignmentRevert`` and
``ReplicationControlManager.changePartitionReassignment``. A target is checked by
:func:`pcmodel.topics.replica_placement.check_replica_list`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple

__all__ = ["Reassigning", "completed", "reverted", "start"]


class Reassigning(NamedTuple):
    """A partition's replicas during (or after) a reassignment.

    ``replicas`` is the full list, target first; ``adding`` and ``removing`` are empty when no
    reassignment is in progress.
    """

    replicas: tuple[int, ...]
    adding: tuple[int, ...]
    removing: tuple[int, ...]


def start(current: Sequence[int], target: Sequence[int]) -> Reassigning:
    """The replicas once a reassignment from ``current`` to ``target`` starts.

    ``current`` is the partition's replica list as it is, an earlier reassignment's included:
    a new target replaces it. Replicas that were being added and are not in the new target
    are now removed; those that are count as current, no longer as adding (Kafka does the
    same), and the move still waits for them to be in sync. A target that only reorders the
    replicas adds and removes nothing.
    """
    removing = tuple(sorted(set(current) - set(target)))
    adding = tuple(sorted(set(target) - set(current)))
    return Reassigning(tuple(target) + removing, adding, removing)


def completed(moving: Reassigning, isr: Collection[int]
              ) -> tuple[tuple[int, ...], frozenset[int]] | None:
    """The replicas and ISR once the reassignment ``moving`` completes with ISR ``isr``, or
    ``None`` while it cannot: some target replica is not in sync yet (or no target replica
    would be left in the ISR)."""
    if not moving.adding and not moving.removing:
        return None
    replicas = tuple(r for r in moving.replicas if r not in moving.removing)
    new_isr = frozenset(r for r in isr if r not in moving.removing)
    if not replicas or not new_isr or not new_isr >= set(replicas):
        return None
    return replicas, new_isr


def reverted(moving: Reassigning, isr: Collection[int]
             ) -> tuple[tuple[int, ...], frozenset[int], bool]:
    """The replicas and ISR once the reassignment ``moving`` is cancelled, and whether that
    needs an unclean election.

    The replicas being added leave, the ones being removed stay. If every in-sync replica was
    one being added, the first original replica becomes the ISR: it may lack acknowledged
    records, so that is an unclean election, allowed only where the topic allows them.
    """
    replicas = tuple(r for r in moving.replicas if r not in moving.adding)
    new_isr = frozenset(r for r in isr if r not in moving.adding)
    if new_isr:
        return replicas, new_isr, False
    return replicas, frozenset(replicas[:1]), True
