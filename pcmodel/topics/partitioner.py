"""Which partition a produced record goes to: Kafka's partitioners, bit for bit where it matters.

Prior art: Apache Kafka's ``Utils.murmur2`` / ``Utils.toPositive`` and its producer partitioners
(``BuiltInPartitioner``, ``DefaultPartitioner``, ``UniformStickyPartitioner``,
``RoundRobinPartitioner``, with ``StickyPartitionCache``); kafka-python's
``kafka/partitioner/default.py``.

The rule a teacher wants to show: a record with a key always lands on the partition
``(murmur2(key) & 0x7fffffff) % num_partitions``, the same number real Kafka picks for the same
serialized key and partition count, so one key's records stay in order on one partition
(:mod:`pcmodel.topics.partitioner_base` has the hash and the interface). Records without a key
have no such constraint and are spread for throughput, three ways to compare:

- ``"default"``, Kafka's default since 3.3 (KIP-794, the Java client's ``BuiltInPartitioner``,
  :mod:`pcmodel.topics.builtin_partitioner`): stay on one partition until ``batch_size`` bytes
  were produced to it, then draw the next one, favouring partitions whose queue of batches is
  short (slow leaders get fewer records).
- ``"sticky"``, Kafka's default from 2.4 to 3.2 (KIP-480): stay on one partition until the
  producer completes a batch for it (``on_new_batch``), then switch to another one. Batches
  fill up, so keyless records travel in fewer, bigger batches; but a batch that waits for a
  slow leader keeps filling, so the slow partition gets more records, which is why KIP-794
  replaced it.
- ``"round_robin"``: each keyless record goes to the next partition in turn.

One deliberate difference from Kafka: Kafka's ``RoundRobinPartitioner`` and
``UniformStickyPartitioner`` ignore keys. Here every partitioner sends keyed records by
``murmur2`` (only the built-in one's ``ignore_keys``, Kafka's ``partitioner.ignore.keys``, turns
that off), so choosing a strategy for keyless records never breaks per-key ordering.
Because ``on_new_batch`` is a separate call that does nothing for round robin, the Java
``RoundRobinPartitioner``'s habit of skipping partitions when a batch fills (KAFKA-9965) does not
exist here.

These are pcmodel's own partitioners, with the interface above. A partitioner written for
Kafka's clients (``partition(topic, key, serialized_key, value, serialized_value, cluster)``)
is passed to the producer the same way and then decides every record:
:mod:`pcmodel.topics.client_partitioner`.

Partitioners hold per-topic state and may be called from several sending threads at once, so that
state sits behind a lock; ``murmur2`` and ``default_partition`` are pure functions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from pcmodel.topics.builtin_partitioner import BuiltInPartitioner
from pcmodel.topics.errors import KafkaConfigurationError
from pcmodel.topics.partitioner_base import Partitioner, default_partition, murmur2

__all__ = [
    "PARTITIONERS",
    "BuiltInPartitioner",
    "Partitioner",
    "RoundRobinPartitioner",
    "StickyPartitioner",
    "default_partition",
    "make_partitioner",
    "murmur2",
]


class RoundRobinPartitioner(Partitioner):
    """Keyless records go to the partitions in turn, one record each, per topic.

    As Kafka's ``RoundRobinPartitioner``: a per-topic counter indexes into the available
    partitions (into all partitions when none is available).
    """

    name = "round_robin"

    def __init__(self) -> None:
        super().__init__()
        self._next: dict[str, int] = {}

    def _partition_keyless(
        self, topic: str, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        counter = self._next.get(topic, 0)
        self._next[topic] = counter + 1
        choices = available if available else all_partitions
        return choices[counter % len(choices)]

    def _on_new_batch(self, topic: str, prev_partition: int) -> None:
        # Nothing to do: round robin moves on with every record, batch or no batch.
        return


class StickyPartitioner(Partitioner):
    """Keyless records stick to one partition per topic until a batch for it completes.

    As Kafka's ``StickyPartitionCache``: the first keyless record of a topic picks a random
    available partition (a random one of all partitions when none is available) and later ones
    follow it. ``on_new_batch(topic, prev)`` unsticks the topic if ``prev`` is its current sticky
    partition (a late call about an older partition changes nothing); the next keyless record then
    picks a random available partition other than ``prev`` (``prev`` again only if it is the only
    one). ``seed`` makes the random choices repeatable.
    """

    name = "sticky"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        self._random = random.Random(seed)
        self._sticky: dict[str, int] = {}
        # topic -> the partition whose batch just completed, to be avoided by the next pick.
        self._leaving: dict[str, int] = {}

    def _partition_keyless(
        self, topic: str, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        current = self._sticky.get(topic)
        # A partition that vanished (topic recreated with fewer partitions) cannot stay sticky.
        if current is not None and current in all_partitions:
            return current
        choices = list(available) if available else list(all_partitions)
        leaving = self._leaving.pop(topic, None)
        if leaving is not None and len(choices) > 1 and leaving in choices:
            choices.remove(leaving)
        current = self._random.choice(choices)
        self._sticky[topic] = current
        return current

    def _on_new_batch(self, topic: str, prev_partition: int) -> None:
        if self._sticky.get(topic) != prev_partition:
            return
        del self._sticky[topic]
        self._leaving[topic] = prev_partition


#: Partitioner classes by the name a producer's ``partitioner=`` option uses. ``"default"`` is
#: Kafka's default behaviour since 3.3: keyed records by murmur2, keyless ones by the built-in
#: partitioner (KIP-794); ``"sticky"`` was the default before (KIP-480).
PARTITIONERS: dict[str, type[Partitioner]] = {
    "default": BuiltInPartitioner,
    "round_robin": RoundRobinPartitioner,
    "sticky": StickyPartitioner,
}


def make_partitioner(name: str, *, seed: int | None = None,
                     batch_size: int = 16384) -> Partitioner:
    """Return a fresh partitioner for the strategy ``name`` (a key of ``PARTITIONERS``).

    ``seed`` fixes the random choices of the sticky and built-in partitioners (round robin has
    none); ``batch_size`` is the built-in one's bytes per sticky partition (its other settings
    keep Kafka's defaults: build a :class:`BuiltInPartitioner` to change them). Raises
    ``KafkaConfigurationError`` naming the legal choices for an unknown name.
    """
    if name not in PARTITIONERS:
        legal = ", ".join(repr(n) for n in sorted(PARTITIONERS))
        raise KafkaConfigurationError(f"unknown partitioner {name!r}; choose one of {legal}")
    cls = PARTITIONERS[name]
    if issubclass(cls, BuiltInPartitioner):
        return cls(batch_size, seed=seed)
    if issubclass(cls, StickyPartitioner):
        return cls(seed=seed)
    return cls()
