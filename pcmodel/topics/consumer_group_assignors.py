"""The server-side assignors of Kafka 4's consumer groups (KIP-848): ``uniform`` and ``range``.

In the classic protocol a *client* (the group leader) computes the assignment; in Kafka 4's
consumer groups the *coordinator* does, with an assignor a member names in its heartbeat
(``group.remote.assignor``; Kafka's default is ``uniform``). Each assignor here is a function

    assign(members, topics, current) -> {member id: {topic: frozenset of partitions}}

``members`` maps each member id to a :class:`MemberSpec` (its subscribed topics and instance
id), ``topics`` gives each subscribed topic's partition count and ``current`` is the previous
*target* assignment, which ``uniform`` keeps where it can (it is sticky: a partition moves only
when balance requires it, so a rebalance revokes as little as possible).

* ``range`` (Kafka's ``RangeAssignor``): per topic, the subscribed members in order (static
  members first by instance id, then the others by member id) take consecutive ranges, the first
  ``partitions % members`` of them one partition more. Members subscribed to the same topics get
  the same partition numbers of each (co-partitioning), which joins of two topics rely on.
  Kafka's result exactly.
* ``uniform`` (Kafka's ``UniformAssignor``): every member gets ``total // members`` partitions,
  the first ``total % members`` one more. When every member subscribes to the same topics it is
  Kafka's ``UniformHomogeneousAssignmentBuilder``: each member keeps its previous partitions up to
  its quota, then the partitions left over fill the members below quota. Kafka walks members in
  the order of a Java hash set; here they are walked by member id, so the *counts* are Kafka's
  and the partitions a fresh group gets may be numbered differently. When subscriptions differ,
  Kafka runs a longer balancing search (``UniformHeterogeneousAssignmentBuilder``); pcmodel keeps
  each previous owner that is still subscribed, gives every other partition to the subscribed
  member holding the fewest (the topics fewest members take first), then moves partitions one
  by one from a member holding two more than one that could take them: balanced and sticky,
  not always the same partitions as Kafka's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["ASSIGNORS", "DEFAULT_ASSIGNOR", "MemberSpec", "range_assign", "uniform_assign"]

#: One member's assignment: topic name -> partitions.
Assignment = dict[str, frozenset[int]]


@dataclass(frozen=True)
class MemberSpec:
    """What an assignor knows of a member: the topics it subscribes to (existing ones only)
    and its instance id (static members come first in ``range``)."""

    topics: frozenset[str]
    instance_id: str | None = None


def _ordered(members: Mapping[str, MemberSpec]) -> list[str]:
    """Kafka's ``RangeAssignor.sortMemberIds``: static members by instance id, then the
    others by member id."""
    return sorted(members, key=lambda m: (members[m].instance_id is None,
                                          members[m].instance_id or "", m))


def range_assign(members: Mapping[str, MemberSpec], topics: Mapping[str, int],
                 current: Mapping[str, Assignment]) -> dict[str, Assignment]:
    """Kafka's server-side ``range`` assignor (``current`` is not used: it is not sticky)."""
    result: dict[str, Assignment] = {m: {} for m in members}
    order = _ordered(members)
    for topic in sorted(topics):
        takers = [m for m in order if topic in members[m].topics]
        if not takers:
            continue
        quota, extra = divmod(topics[topic], len(takers))
        start = 0
        for index, member in enumerate(takers):
            end = start + quota + (1 if index < extra else 0)
            if start < end:
                result[member][topic] = frozenset(range(start, end))
            start = end
    return result


def uniform_assign(members: Mapping[str, MemberSpec], topics: Mapping[str, int],
                   current: Mapping[str, Assignment]) -> dict[str, Assignment]:
    """Kafka's ``uniform`` assignor: balanced counts, previous owners kept where possible."""
    if not members:
        return {}
    specs = list(members.values())
    if all(spec.topics == specs[0].topics for spec in specs):
        return _uniform_homogeneous(members, topics, current)
    return _uniform_heterogeneous(members, topics, current)


def _uniform_homogeneous(members: Mapping[str, MemberSpec], topics: Mapping[str, int],
                         current: Mapping[str, Assignment]) -> dict[str, Assignment]:
    subscribed = sorted(t for t in next(iter(members.values())).topics if t in topics)
    total = sum(topics[t] for t in subscribed)
    quota, extra = divmod(total, len(members))
    result: dict[str, dict[str, set[int]]] = {}
    unfilled: list[tuple[str, int]] = []
    kept: set[tuple[str, int]] = set()
    for member in sorted(members):
        room = quota + (1 if extra > 0 else 0)
        extra -= 1 if extra > 0 else 0
        mine: dict[str, set[int]] = {}
        # Keep what the member had, of the topics still subscribed, up to its quota.
        for topic, partitions in sorted(current.get(member, {}).items()):
            if topic not in subscribed:
                continue
            for partition in sorted(partitions):
                if room > 0 and partition < topics[topic]:
                    mine.setdefault(topic, set()).add(partition)
                    kept.add((topic, partition))
                    room -= 1
        result[member] = mine
        if room > 0:
            unfilled.append((member, room))
    free = [(t, p) for t in subscribed for p in range(topics[t]) if (t, p) not in kept]
    for member, room in unfilled:
        for topic, partition in free[:room]:
            result[member].setdefault(topic, set()).add(partition)
        free = free[room:]
    return {m: {t: frozenset(ps) for t, ps in a.items()} for m, a in result.items()}


def _uniform_heterogeneous(members: Mapping[str, MemberSpec], topics: Mapping[str, int],
                           current: Mapping[str, Assignment]) -> dict[str, Assignment]:
    owner: dict[tuple[str, int], str] = {}
    # 1. Previous owners keep what they still subscribe to.
    for member in sorted(members):
        for topic, partitions in current.get(member, {}).items():
            if topic in topics and topic in members[member].topics:
                for partition in partitions:
                    if partition < topics[topic]:
                        owner.setdefault((topic, partition), member)
    counts = dict.fromkeys(members, 0)
    for member in owner.values():
        counts[member] += 1
    takers = {t: sorted(m for m in members if t in members[m].topics) for t in topics}
    # The topics fewest members can take come first: they have the least choice.
    order = sorted((t for t in topics if takers[t]), key=lambda t: (len(takers[t]), t))
    # 2. Every other partition goes to the subscribed member holding the fewest.
    for topic in order:
        for partition in range(topics[topic]):
            if (topic, partition) not in owner:
                taker = min(takers[topic], key=lambda m: counts[m])
                owner[topic, partition] = taker
                counts[taker] += 1
    # 3. Move partitions, one at a time, from a member holding two more than another member
    #    that could take them, until no such move is left (each move evens the counts).
    moved = True
    while moved:
        moved = False
        for topic in order:
            for partition in reversed(range(topics[topic])):
                holder = owner[topic, partition]
                taker = min(takers[topic], key=lambda m: counts[m])
                if counts[taker] + 1 < counts[holder]:
                    owner[topic, partition] = taker
                    counts[holder] -= 1
                    counts[taker] += 1
                    moved = True
    result: dict[str, dict[str, set[int]]] = {m: {} for m in members}
    for (topic, partition), member in owner.items():
        result[member].setdefault(topic, set()).add(partition)
    return {m: {t: frozenset(ps) for t, ps in a.items()} for m, a in result.items()}


#: The assignors a consumer group member may name, by Kafka's names.
ASSIGNORS: dict[str, Callable[..., dict[str, Assignment]]] = {
    "uniform": uniform_assign,
    "range": range_assign,
}

#: Kafka's ``group.consumer.assignors`` default puts ``uniform`` first: the group's assignor
#: when no member names one.
DEFAULT_ASSIGNOR = "uniform"
