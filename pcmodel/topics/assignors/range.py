"""The range assignor: each topic cut into contiguous ranges, one per subscribed member.

Prior art: Apache Kafka's ``RangeAssignor`` (without rack awareness) and kafka-python's
``kafka/coordinator/assignors/range.py``. The result is exactly Kafka's for the same members,
topics and subscriptions.

For each topic on its own, the members subscribed to it are sorted by member id; with ``n``
partitions and ``c`` members, each member gets ``n // c`` consecutive partitions and the first
``n % c`` members one more. Because every topic starts again from the first member, the first
members get the extra partition of *every* topic: with many topics the range assignor is
unbalanced. That is the point of the comparison with round robin.

Example, members C0 and C1 both subscribed to topics t0 and t1, three partitions each::

    C0: [t0p0, t0p1, t1p0, t1p1]
    C1: [t0p2, t1p2]
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
    sorted_partitions,
)
from pcmodel.topics.structs import TopicPartition

__all__ = ["assign", "name", "protocol"]

name = "range"
protocol = RebalanceProtocol.EAGER


def assign(
    subscriptions: Mapping[str, Collection[str]],
    partitions_per_topic: Mapping[str, int],
    previous: Mapping[str, Collection[TopicPartition]] | None = None,
) -> Assignment:
    """Return Kafka's range assignment: member id -> its partitions, sorted; every member present.

    ``previous`` is checked but otherwise ignored (range is not sticky). Topics without a
    partition count are skipped, as Kafka skips topics without metadata. Raises ``TypeError`` /
    ``ValueError`` for malformed input (see ``normalize_inputs``).
    """
    members, subs, counts = normalize_inputs(subscriptions, partitions_per_topic)
    normalize_previous(previous)
    result = empty_assignment(members)
    topics = sorted({topic for topics in subs.values() for topic in topics}, key=java_order)
    for topic in topics:
        consumers = [member for member in members if topic in subs[member]]
        per_consumer, extra = divmod(counts[topic], len(consumers))
        for index, member in enumerate(consumers):
            start = per_consumer * index + min(index, extra)
            length = per_consumer + (1 if index < extra else 0)
            result[member].extend(TopicPartition(topic, p) for p in range(start, start + length))
    return {member: sorted_partitions(owned) for member, owned in result.items()}
