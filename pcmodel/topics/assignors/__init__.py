"""Group assignors: who owns which partition, as pure functions registered by name.

Prior art: Apache Kafka's ``ConsumerPartitionAssignor`` implementations (``range``,
``roundrobin``, ``sticky``, ``cooperative-sticky``: the names ``partition.assignment.strategy``
accepts) and kafka-python's ``kafka/coordinator/assignors/``.

Every assignor has one signature::

    assign(subscriptions, partitions_per_topic, previous=None) -> {member_id: [TopicPartition]}

``subscriptions`` maps member id -> topics it subscribes to, ``partitions_per_topic`` topic ->
partition count, ``previous`` member id -> partitions owned before (used by the sticky ones).
The result names every member, with a sorted list, possibly empty. They are pure and
deterministic: no clock, no randomness, no dependence on mapping order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import NamedTuple

from pcmodel.topics.assignors import cooperative_sticky, roundrobin, sticky
from pcmodel.topics.assignors import range as range_  # the module; keep the builtin unshadowed
from pcmodel.topics.assignors._common import Assignment, RebalanceProtocol
from pcmodel.topics.assignors.cooperative_sticky import cooperative_plan
from pcmodel.topics.errors import KafkaConfigurationError
from pcmodel.topics.structs import TopicPartition

__all__ = [
    "ASSIGNORS",
    "Assignment",
    "Assignor",
    "RebalanceProtocol",
    "cooperative_plan",
    "get_assignor",
]

Subscriptions = Mapping[str, Collection[str]]
Previous = Mapping[str, Collection[TopicPartition]]
AssignFunction = Callable[[Subscriptions, Mapping[str, int], Previous | None], Assignment]


class Assignor(NamedTuple):
    """One registered assignor: its Kafka name, rebalance protocol and ``assign`` function."""

    name: str
    protocol: RebalanceProtocol
    assign: AssignFunction

    def __call__(
        self,
        subscriptions: Subscriptions,
        partitions_per_topic: Mapping[str, int],
        previous: Previous | None = None,
    ) -> Assignment:
        """Call the assignor: ``ASSIGNORS["range"](subs, counts)`` is its ``assign``."""
        return self.assign(subscriptions, partitions_per_topic, previous)


#: Assignors by the name ``partition_assignment_strategy`` uses.
ASSIGNORS: dict[str, Assignor] = {
    module.name: Assignor(module.name, module.protocol, module.assign)
    for module in (range_, roundrobin, sticky, cooperative_sticky)
}


def get_assignor(name: str) -> Assignor:
    """Return the registered assignor called ``name``.

    Raises ``KafkaConfigurationError`` naming the legal choices when there is none.
    """
    try:
        return ASSIGNORS[name]
    except (KeyError, TypeError):
        legal = ", ".join(repr(n) for n in ASSIGNORS)
        raise KafkaConfigurationError(
            f"unknown partition assignment strategy {name!r}; choose from {legal}"
        ) from None
