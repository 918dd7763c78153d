"""What every assignor shares: input validation, Java's string order, the result's shape.

Prior art: Apache Kafka's ``AbstractPartitionAssignor`` (topics without metadata are skipped;
every member appears in the result, with an empty list if need be) and kafka-python's
``kafka/coordinator/assignors/abstract.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping

from pcmodel.topics.structs import TopicPartition, validate_topic_partition

__all__ = [
    "Assignment",
    "RebalanceProtocol",
    "empty_assignment",
    "java_order",
    "normalize_inputs",
    "normalize_previous",
    "sorted_partitions",
]

#: member id -> the partitions it owns, sorted; every member present.
Assignment = dict[str, list[TopicPartition]]


class RebalanceProtocol(str, enum.Enum):
    """How members hand partitions over during a rebalance (Kafka's ``RebalanceProtocol``).

    ``EAGER``: every member revokes everything before anyone is assigned anything.
    ``COOPERATIVE``: only partitions that change owner are revoked, and they are assigned to
    their new owner in a second rebalance. A ``str`` enum, so it compares equal to ``"eager"``
    and ``"cooperative"``.
    """

    EAGER = "eager"
    COOPERATIVE = "cooperative"


def java_order(text: str) -> bytes:
    """Sort key that orders strings as Java's ``String.compareTo`` does.

    Java compares UTF-16 code units; Python compares code points. They differ only for
    characters beyond U+FFFF against ones in U+E000..U+FFFF, but an assignor must match Kafka on
    every input, and big-endian UTF-16 bytes compare exactly like Java's code units.
    """
    return text.encode("utf-16-be", "surrogatepass")


def _partition_order(tp: TopicPartition) -> tuple[bytes, int]:
    return java_order(tp.topic), tp.partition


def sorted_partitions(partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
    """Return ``partitions`` sorted by topic (Java string order), then partition number."""
    return sorted(partitions, key=_partition_order)


def normalize_inputs(
    subscriptions: Mapping[str, Collection[str]], partitions_per_topic: Mapping[str, int]
) -> tuple[list[str], dict[str, frozenset[str]], dict[str, int]]:
    """Check an assignor's inputs; return (members in Java order, subscriptions, counts).

    Subscribed topics missing from ``partitions_per_topic`` are dropped, as Kafka skips topics
    without metadata. Raises ``TypeError`` for a member id or topic that is not a ``str``, a
    subscription given as a bare string (``{"c0": "t0"}`` would mean topics ``"t"`` and ``"0"``),
    or a partition count that is not an ``int``; ``ValueError`` for a negative partition count.
    """
    counts: dict[str, int] = {}
    for topic, count in partitions_per_topic.items():
        if not isinstance(topic, str):
            raise TypeError(f"topic names must be str, got {topic!r} in partitions_per_topic")
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"partition count of topic {topic!r} must be an int, got {count!r}")
        if count < 0:
            raise ValueError(f"partition count of topic {topic!r} must be >= 0, got {count}")
        counts[topic] = count
    subs: dict[str, frozenset[str]] = {}
    for member, topics in subscriptions.items():
        if not isinstance(member, str):
            raise TypeError(f"member ids must be str, got {member!r}")
        if isinstance(topics, (str, bytes)):
            raise TypeError(
                f"subscription of member {member!r} must be a collection of topic names, got the "
                f"string {topics!r}; write [{topics!r}]"
            )
        for topic in topics:
            if not isinstance(topic, str):
                raise TypeError(f"member {member!r} subscribes to {topic!r}, which is not a str")
        subs[member] = frozenset(t for t in topics if t in counts)
    members = sorted(subs, key=java_order)
    return members, subs, counts


def normalize_previous(
    previous: Mapping[str, Collection[TopicPartition]] | None,
) -> dict[str, list[TopicPartition]]:
    """Check a previous assignment; return it as member -> list of ``TopicPartition``.

    Raises ``TypeError`` / ``ValueError`` (from ``validate_topic_partition``) for malformed
    entries. Does not drop stale entries: which ones still count is the assignor's decision.
    """
    if previous is None:
        return {}
    result: dict[str, list[TopicPartition]] = {}
    for member, owned in previous.items():
        if not isinstance(member, str):
            raise TypeError(f"member ids must be str, got {member!r} in previous")
        result[member] = [validate_topic_partition(tp) for tp in owned]
    return result


def empty_assignment(members: Iterable[str]) -> Assignment:
    """Return ``{member: []}`` for every member, in the given order."""
    return {member: [] for member in members}
