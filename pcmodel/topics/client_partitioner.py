"""A partitioner of your own, in the shape Kafka's clients call it.

The Java client and kafka-python 3 call a custom partitioner as
``partition(topic, key, serialized_key, value, serialized_value, cluster)`` for every record
sent without an explicit partition, keyed or not: the partitioner decides everything, murmur2
included if it wants it. ``cluster`` answers ``partitions_for_topic(topic)`` and
``available_partitions_for_topic(topic)`` (kafka-python's names, sets of partition numbers;
None for a topic the producer has not looked up). pcmodel's own
:class:`~pcmodel.topics.partitioner.Partitioner` classes keep their simpler interface; an object
of any other class with a ``partition`` method is taken to be one of these.

When the record would open a new batch, the producer calls the object's
``on_new_batch(topic, cluster, prev_partition)`` if it has one, and asks ``partition()`` again:
the Java client does so for every record when a custom partitioner is set (kafka-python 3 only
for records without a key); for a record sent to an explicit partition it calls
``on_new_batch`` too and keeps that partition. The second call is why a partitioner that counts
its calls, as Kafka's ``RoundRobinPartitioner`` did before KAFKA-9965 was fixed, skips
partitions: worth seeing here. ``close()`` is called once when the producer closes, as the Java
client does.

A partition number that is not one of the topic's raises ``IllegalArgumentError`` from
``send()``, naming the partitioner; whatever the partitioner raises comes out of ``send()`` as it
is. Nothing is queued in either case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pcmodel.topics.errors import IllegalArgumentError, KafkaConfigurationError
from pcmodel.topics.partitioner import Partitioner, make_partitioner

__all__ = ["ClientPartitioner", "ClusterView", "resolve_partitioner"]


class ClusterView:
    """What a partitioner sees of the cluster: the producer's metadata, never a new request."""

    def __init__(self, known: Callable[[str], Sequence[int] | None]) -> None:
        self._known = known

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        """The topic's partition numbers, or None if the producer has not looked it up."""
        partitions = self._known(topic)
        return None if partitions is None else set(partitions)

    def available_partitions_for_topic(self, topic: str) -> set[int] | None:
        """The partitions that can take a record now: every one (each has its leader here)."""
        return self.partitions_for_topic(topic)


class ClientPartitioner:
    """A custom partitioner object, called as Kafka's clients call it (see the module)."""

    def __init__(self, given: Any, cluster: ClusterView) -> None:
        self.given = given
        self._partition = given.partition
        self._on_new_batch = getattr(given, "on_new_batch", None)
        self._cluster = cluster

    def partition(self, topic: str, key: Any, key_bytes: bytes | None, value: Any,
                  value_bytes: bytes | None, partitions: Sequence[int]) -> int:
        """The partitioner's choice for one record; IllegalArgumentError if it is not one of
        ``partitions``."""
        chosen = self._partition(topic, key, key_bytes, value, value_bytes, self._cluster)
        if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen not in partitions:
            raise IllegalArgumentError(
                f"the partitioner {type(self.given).__name__} chose partition {chosen!r} for "
                f"topic {topic!r}, which has partitions 0..{len(partitions) - 1}")
        return chosen

    def on_new_batch(self, topic: str, prev_partition: int) -> None:
        """Tell the partitioner that its choice would open a new batch (if it wants to know)."""
        if self._on_new_batch is not None:
            self._on_new_batch(topic, self._cluster, prev_partition)


def resolve_partitioner(
    given: Any, known: Callable[[str], Sequence[int] | None]
) -> tuple[Partitioner | None, ClientPartitioner | None]:
    """What a producer's ``partitioner=`` names: one of pcmodel's partitioners (by name or
    instance), or a client-shaped object seeing the cluster through ``known`` (the producer's
    cached partitions of a topic). Raises ``KafkaConfigurationError`` for anything else."""
    if isinstance(given, str):
        return make_partitioner(given), None
    if isinstance(given, Partitioner):
        return given, None
    if isinstance(given, type):
        raise KafkaConfigurationError(
            f"partitioner must be an object, got the class {given.__name__}; pass an "
            f"instance: partitioner={given.__name__}()")
    if not callable(getattr(given, "partition", None)):
        raise KafkaConfigurationError(
            "partitioner must be 'sticky', 'round_robin', 'default', a Partitioner or an object "
            "with partition(topic, key, serialized_key, value, serialized_value, cluster), "
            f"got {given!r}")
    return None, ClientPartitioner(given, ClusterView(known))

