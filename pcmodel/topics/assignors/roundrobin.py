"""The round-robin assignor: all partitions dealt out one at a time, like cards.

Prior art: Apache Kafka's ``RoundRobinAssignor`` and kafka-python's
``kafka/coordinator/assignors/roundrobin.py``. The result is exactly Kafka's for the same
members, topics and subscriptions.

All subscribed partitions, sorted by topic then partition, are dealt to the members sorted by
member id, going round in a circle. A member not subscribed to a partition's topic is skipped for
that partition (the deal moves on to the next member that is). With equal subscriptions the counts
differ by at most one; with unequal subscriptions they may not.

Example, members C0 and C1 both subscribed to topics t0 and t1, three partitions each::

    C0: [t0p0, t0p2, t1p1]
    C1: [t0p1, t1p0, t1p2]

Unequal subscriptions, t0 with one partition, t1 with two, t2 with three; C0 subscribed to t0,
C1 to t0 and t1, C2 to t0, t1 and t2::

    C0: [t0p0]
    C1: [t1p0]
    C2: [t1p1, t2p0, t2p1, t2p2]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pcmodel.topics.assignors._common import (
    Assignment,
    RebalanceProtocol,
    empty_assignment,
    java_order,
    normalize_inputs,
    normalize_previous,
)
from pcmodel.topics.structs import TopicPartition

__all__ = ["assign", "name", "protocol"]

name = "roundrobin"
protocol = RebalanceProtocol.EAGER


def assign(
    subscriptions: Mapping[str, Collection[str]],
    partitions_per_topic: Mapping[str, int],
    previous: Mapping[str, Collection[TopicPartition]] | None = None,
) -> Assignment:
    """Return Kafka's round-robin assignment: member id -> partitions, sorted; all members present.

    ``previous`` is checked but otherwise ignored (round robin is not sticky). Topics without a
    partition count are skipped, as Kafka skips topics without metadata. Raises ``TypeError`` /
    ``ValueError`` for malformed input (see ``normalize_inputs``).
    """
    members, subs, counts = normalize_inputs(subscriptions, partitions_per_topic)
    normalize_previous(previous)
    result = empty_assignment(members)
    topics = sorted({topic for topics in subs.values() for topic in topics}, key=java_order)
    # ``turn`` is Kafka's CircularIterator: the index of the member the deal is at.
    turn = 0
    for topic in topics:
        for partition in range(counts[topic]):
            # Some member subscribes to ``topic`` (it came from a subscription), so this ends.
            while topic not in subs[members[turn]]:
                turn = (turn + 1) % len(members)
            result[members[turn]].append(TopicPartition(topic, partition))
            turn = (turn + 1) % len(members)
    # Dealt in (topic, partition) order, so each member's list is already sorted.
    return result
