"""The sticky assignor: balanced like round robin, but moves as few partitions as possible.

Prior art: Apache Kafka's ``StickyAssignor`` / ``AbstractStickyAssignor`` (KIP-54) and
kafka-python's ``kafka/coordinator/assignors/sticky/``. Same goals in the same order of priority;
a shorter algorithm, so the exact partitions chosen can differ from Kafka's:

1. *Valid*: each partition of a subscribed topic is owned by exactly one member subscribed to it.
2. *Balanced*, in Kafka's sense: no partition can move from its owner to another member that
   could own it and has at least two fewer partitions. Members with equal subscriptions
   therefore differ by at most one partition.
3. *Sticky*: within 1 and 2, as many partitions as possible stay with their previous owner.

How: (a) every member keeps the partitions of ``previous`` that are still valid for it (when two
members claim one partition, the first member id in order keeps it); (b) the remaining partitions,
the ones whose topic fewest members can take first, each go to the eligible member with the fewest
partitions; (c) while some member has two or more partitions more than another member that could
take one of them, one moves, preferably one placed in step (b), which changes hands anyway. Each
move in (c) lowers the sum of squared counts, so (c) ends. A result fed back as ``previous`` with
the same members and topics comes back unchanged.

Kafka's own example (its ``StickyAssignor`` documentation; the same result here): three members
subscribed to t0..t3, two partitions each, no previous assignment::

    C0: [t0p0, t1p1, t3p0]
    C1: [t0p1, t2p0, t3p1]
    C2: [t1p0, t2p1]

C1 leaves. Round robin would also swap t1p0 and t1p1 between C0 and C2, for no gain;
sticky keeps C0's and C2's partitions and shares out only C1's::

    C0: [t0p0, t1p1, t2p0, t3p0]
    C2: [t0p1, t1p0, t2p1, t3p1]

Unequal subscriptions, t0 with one partition, t1 with two, t2 with three; C0 subscribed to t0,
C1 to t0 and t1, C2 to t0, t1 and t2. Round robin gives C2 four partitions and C1 one; sticky::

    C0: [t0p0]
    C1: [t1p0, t1p1]
    C2: [t2p0, t2p1, t2p2]

and when C0 leaves, only t0p0 moves (to C1, the less loaded member that can take it).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pcmodel.topics.assignors._common import (
    Assignment,
    RebalanceProtocol,
    java_order,
    normalize_inputs,
    normalize_previous,
    sorted_partitions,
)
from pcmodel.topics.structs import TopicPartition

__all__ = ["assign", "name", "protocol"]

name = "sticky"
protocol = RebalanceProtocol.EAGER


def assign(
    subscriptions: Mapping[str, Collection[str]],
    partitions_per_topic: Mapping[str, int],
    previous: Mapping[str, Collection[TopicPartition]] | None = None,
) -> Assignment:
    """Return a balanced assignment that keeps as much of ``previous`` as balance allows.

    Member id -> owned partitions, sorted; every member present. Entries of ``previous`` for
    members that left, topics no longer subscribed or partitions that no longer exist are
    ignored. Deterministic: the same inputs, in any mapping order, give the same result. Raises
    ``TypeError`` / ``ValueError`` for malformed input.
    """
    members, subs, counts = normalize_inputs(subscriptions, partitions_per_topic)
    prev = normalize_previous(previous)
    rank = {member: index for index, member in enumerate(members)}
    owned: dict[str, set[TopicPartition]] = {member: set() for member in members}
    owner: dict[TopicPartition, str] = {}

    # (a) Keep what is still valid, first claimant in member order winning a conflict.
    for member in members:
        for tp in prev.get(member, ()):
            if tp.topic in subs[member] and tp.partition < counts[tp.topic] and tp not in owner:
                owner[tp] = member
                owned[member].add(tp)
    kept = {tp: member for tp, member in owner.items()}

    # (b) Place the rest, most constrained topics first, each on the least loaded eligible member.
    topics = sorted({topic for topics in subs.values() for topic in topics}, key=java_order)
    eligible = {topic: [m for m in members if topic in subs[m]] for topic in topics}
    unplaced = [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in range(counts[topic])
        if TopicPartition(topic, partition) not in owner
    ]
    unplaced.sort(key=lambda tp: (len(eligible[tp.topic]), java_order(tp.topic), tp.partition))
    for tp in unplaced:
        member = min(eligible[tp.topic], key=lambda m: (len(owned[m]), rank[m]))
        owner[tp] = member
        owned[member].add(tp)

    # (c) Rebalance by single moves until no member could take from one with two more.
    while True:
        move = _find_move(members, subs, owned, rank, kept)
        if move is None:
            break
        tp, donor, receiver = move
        owned[donor].remove(tp)
        owned[receiver].add(tp)

    return {member: sorted_partitions(owned[member]) for member in members}


def _find_move(
    members: list[str],
    subs: Mapping[str, frozenset[str]],
    owned: Mapping[str, set[TopicPartition]],
    rank: Mapping[str, int],
    kept: Mapping[TopicPartition, str],
) -> tuple[TopicPartition, str, str] | None:
    """Return (partition, donor, receiver) for one balancing move, or ``None`` when balanced.

    The receiver is the least loaded member that can take something from a member with at least
    two more partitions; the donor the most loaded such member. The partition moved is preferably
    one the donor did not keep from ``previous`` (moving it costs no extra hand-over), then the
    last in order. Ties between members break by member order, so the result is deterministic.
    """
    ascending = sorted(members, key=lambda m: (len(owned[m]), rank[m]))
    descending = sorted(members, key=lambda m: (-len(owned[m]), rank[m]))
    for receiver in ascending:
        for donor in descending:
            if len(owned[donor]) - len(owned[receiver]) < 2:
                break
            movable = [tp for tp in owned[donor] if tp.topic in subs[receiver]]
            if movable:
                tp = max(
                    movable,
                    key=lambda tp: (kept.get(tp) != donor, java_order(tp.topic), tp.partition),
                )
                return tp, donor, receiver
    return None
