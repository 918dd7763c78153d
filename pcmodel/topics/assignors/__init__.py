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

``partition_assignment_strategy`` takes either those names or kafka-python's assignor classes,
provided here under kafka-python's names (:class:`RangePartitionAssignor`,
:class:`RoundRobinPartitionAssignor`, :class:`StickyPartitionAssignor`,
:class:`CooperativeStickyPartitionAssignor`), so ``partition_assignment_strategy=
[RoundRobinPartitionAssignor]`` carries over to kafka-python unchanged. kafka-python's own
classes are accepted too (by their ``name``).
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
    "AbstractPartitionAssignor",
    "Assignment",
    "Assignor",
    "CooperativeStickyAssignor",
    "CooperativeStickyPartitionAssignor",
    "RangePartitionAssignor",
    "RoundRobinPartitionAssignor",
    "StickyPartitionAssignor",
    "assignor_names",
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


class AbstractPartitionAssignor:
    """Base of the assignor classes: ``name`` and ``protocol`` say which registered assignor.

    The classes are what ``partition_assignment_strategy`` accepts in kafka-python; the
    assignment itself is the pure function ``ASSIGNORS[name]``, also reachable as
    ``RangePartitionAssignor.assign(subscriptions, partitions_per_topic, previous)``.
    """

    name: str = ""
    protocol: RebalanceProtocol = RebalanceProtocol.EAGER

    @classmethod
    def assign(
        cls,
        subscriptions: Subscriptions,
        partitions_per_topic: Mapping[str, int],
        previous: Previous | None = None,
    ) -> Assignment:
        """Run this assignor (see the module docstring for the arguments and the result)."""
        return ASSIGNORS[cls.name](subscriptions, partitions_per_topic, previous)


class RangePartitionAssignor(AbstractPartitionAssignor):
    """Kafka's range assignor: each topic cut into contiguous ranges (eager)."""

    name = range_.name
    protocol = range_.protocol


class RoundRobinPartitionAssignor(AbstractPartitionAssignor):
    """Kafka's round-robin assignor: all partitions dealt out in turn (eager)."""

    name = roundrobin.name
    protocol = roundrobin.protocol


class StickyPartitionAssignor(AbstractPartitionAssignor):
    """Kafka's sticky assignor: balanced, moving as few partitions as possible (eager)."""

    name = sticky.name
    protocol = sticky.protocol


class CooperativeStickyPartitionAssignor(AbstractPartitionAssignor):
    """Kafka's cooperative-sticky assignor: sticky, with incremental rebalances."""

    name = cooperative_sticky.name
    protocol = cooperative_sticky.protocol


#: kafka-python's own name for the class (``kafka.coordinator.assignors.cooperative_sticky``).
CooperativeStickyAssignor = CooperativeStickyPartitionAssignor


def assignor_names(strategy: object) -> tuple[str, ...]:
    """Turn a ``partition_assignment_strategy`` value into registered assignor names.

    Accepts a name or an assignor class (ours or kafka-python's: anything with a ``name``
    attribute naming a registered assignor), or a non-empty list or tuple of them. Raises
    ``KafkaConfigurationError`` naming the legal choices otherwise.
    """
    items = (strategy,) if isinstance(strategy, str) or hasattr(strategy, "name") else strategy
    if not isinstance(items, (list, tuple)) or not items:
        raise KafkaConfigurationError(
            "partition_assignment_strategy must be a list of assignor classes such as "
            "[RangePartitionAssignor, CooperativeStickyPartitionAssignor] or of names such as "
            f"['range', 'cooperative-sticky'], got {strategy!r}"
        )
    names = []
    for item in items:
        name = item if isinstance(item, str) else getattr(item, "name", None)
        names.append(get_assignor(name).name)
    return tuple(names)
