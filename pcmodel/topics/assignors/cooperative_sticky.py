"""The cooperative-sticky assignor: sticky's target, handed over in two rebalances.

Prior art: Apache Kafka's ``CooperativeStickyAssignor`` and the incremental cooperative rebalance
protocol (KIP-429). The target assignment is exactly the sticky assignor's; what differs is how
members get there, and that is the runtime's job. This module supplies the pure part of it,
:func:`cooperative_plan`, which computes the first of the two rounds.

Eager protocol: every member revokes *all* its partitions, then everyone gets the new
assignment, so the whole group stops consuming during a rebalance. Cooperative protocol: in
round 1 each member revokes only the partitions it will lose and keeps consuming the rest;
a partition that changes owner is given to nobody in round 1, because its old owner may still be
processing it. Once the old owners have revoked, a second rebalance assigns those partitions.

Example, C0 owns t0p0, t0p1, t0p2, t0p3 and C1 joins. The sticky target is C0: [t0p0, t0p1],
C1: [t0p2, t0p3]. Round 1 (``cooperative_plan``)::

    revoke:     C0: [t0p2, t0p3]   C1: []
    assign_now: C0: [t0p0, t0p1]   C1: []       (t0p2, t0p3 withheld: still C0's until revoked)

Round 2, after C0 revoked, assigns t0p2 and t0p3 to C1. C0 never stopped reading t0p0 and t0p1.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pcmodel.topics.assignors import sticky
from pcmodel.topics.assignors._common import (
    Assignment,
    RebalanceProtocol,
    java_order,
    normalize_previous,
    sorted_partitions,
)
from pcmodel.topics.structs import TopicPartition

__all__ = ["assign", "cooperative_plan", "name", "protocol"]

name = "cooperative-sticky"
protocol = RebalanceProtocol.COOPERATIVE


def assign(
    subscriptions: Mapping[str, Collection[str]],
    partitions_per_topic: Mapping[str, int],
    previous: Mapping[str, Collection[TopicPartition]] | None = None,
) -> Assignment:
    """Return the target assignment, identical to the sticky assignor's for the same input.

    The runtime reaches it in two rounds with :func:`cooperative_plan`. Raises ``TypeError`` /
    ``ValueError`` for malformed input.
    """
    return sticky.assign(subscriptions, partitions_per_topic, previous)


def cooperative_plan(
    previous: Mapping[str, Collection[TopicPartition]],
    target: Mapping[str, Collection[TopicPartition]],
) -> tuple[Assignment, Assignment]:
    """Compute round 1 of a cooperative rebalance: ``(revoke, assign_now)``.

    ``previous`` is what members owned before the rebalance, ``target`` the assignor's result for
    the current members. For every member of ``target`` (each present, lists sorted):

    - ``revoke[m]``: what ``m`` owned and does not own in the target; ``m`` stops consuming these
      (``on_partitions_revoked``) and may keep the rest.
    - ``assign_now[m]``: what ``m`` owns after round 1: its target minus every partition that
      another current member owned before (withheld from everybody until its old owner revoked
      it). Partitions nobody current owned (new, or owned by members who left) are given at once.

    Members of ``previous`` absent from ``target`` left the group and are ignored. After round 1
    no partition has two owners. A second call of the assignor with ``previous=assign_now`` gives
    the withheld partitions out; with equal subscriptions that second round revokes nothing.
    Raises ``ValueError`` if ``target`` gives one partition to two members, ``TypeError`` /
    ``ValueError`` for malformed partitions.
    """
    before = normalize_previous(previous)
    after = normalize_previous(target)
    members = sorted(after, key=java_order)
    new_owner: dict[TopicPartition, str] = {}
    for member in members:
        for tp in after[member]:
            if new_owner.setdefault(tp, member) != member:
                raise ValueError(
                    f"target gives {tp} to both {new_owner[tp]!r} and {member!r}; "
                    "an assignment must give each partition to one member"
                )
    # A partition is withheld when its new owner did not have it and another current member did.
    withheld: set[TopicPartition] = set()
    revoke: Assignment = {}
    for member in members:
        had = set(before.get(member, ()))
        revoke[member] = sorted_partitions(had - set(after[member]))
        for tp in had:
            owner = new_owner.get(tp)
            if owner is not None and owner != member and tp not in before.get(owner, ()):
                withheld.add(tp)
    assign_now = {
        member: sorted_partitions(tp for tp in set(after[member]) if tp not in withheld)
        for member in members
    }
    return revoke, assign_now
