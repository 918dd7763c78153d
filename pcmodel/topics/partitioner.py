"""Which partition a produced record goes to: Kafka's partitioners, bit for bit where it matters.

Prior art: Apache Kafka's ``Utils.murmur2`` / ``Utils.toPositive`` and its producer partitioners
(``BuiltInPartitioner``, ``DefaultPartitioner``, ``UniformStickyPartitioner``,
``RoundRobinPartitioner``, with ``StickyPartitionCache``); kafka-python's
``kafka/partitioner/default.py``.

The rule a teacher wants to show: a record with a key always lands on the partition
``(murmur2(key) & 0x7fffffff) % num_partitions``, the same number real Kafka picks for the same
serialized key and partition count, so one key's records stay in order on one partition. Records
without a key have no such constraint and are spread for throughput:

- ``"sticky"`` (also ``"default"``, Kafka's default since 2.4, KIP-480): stay on one partition until
  the producer completes a batch for it (``on_new_batch``), then switch to another one. Batches
  fill up, so keyless records travel in fewer, bigger batches.
- ``"round_robin"``: each keyless record goes to the next partition in turn.

One deliberate difference from Kafka: Kafka's ``RoundRobinPartitioner`` and
``UniformStickyPartitioner`` ignore keys. Here every partitioner sends keyed records by
``murmur2``, so choosing a strategy for keyless records never breaks per-key ordering.
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

import abc
import random
import struct
import threading
from collections.abc import Sequence

from pcmodel.topics.errors import KafkaConfigurationError

__all__ = [
    "PARTITIONERS",
    "Partitioner",
    "RoundRobinPartitioner",
    "StickyPartitioner",
    "default_partition",
    "make_partitioner",
    "murmur2",
]

# Kafka's murmur2 constants (Utils.murmur2): the seed and the mixing multiplier.
_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK32 = 0xFFFFFFFF
_unpack_words = struct.Struct("<I").iter_unpack


def murmur2(data: bytes) -> int:
    """Return Kafka's 32-bit murmur2 hash of ``data`` as a *signed* int, like Java's ``int``.

    Bit-for-bit ``org.apache.kafka.common.utils.Utils.murmur2`` (seed ``0x9747b28c``): the same
    bytes give the same number as in Kafka, including negative results. Accepts ``bytes``,
    ``bytearray`` or ``memoryview``; raises ``TypeError`` for anything else (encode a ``str``
    first, as a key serializer does).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"murmur2 hashes bytes, got {type(data).__name__}; serialize the key first, "
            "e.g. key.encode('utf-8')"
        )
    data = bytes(data)
    length = len(data)
    tail = length & ~3
    # Python ints do not overflow, so every multiplication is masked back to 32 bits; ``k >> 24``
    # on the unsigned value is Java's unsigned shift ``k >>> 24``.
    h = (_SEED ^ length) & _MASK32
    for (k,) in _unpack_words(data[:tail]):
        k = (k * _M) & _MASK32
        k ^= k >> 24
        k = (k * _M) & _MASK32
        h = ((h * _M) & _MASK32) ^ k
    remaining = length & 3
    # Java's switch falls through from case 3 to case 1; so do these ifs.
    if remaining == 3:
        h ^= data[tail + 2] << 16
    if remaining >= 2:
        h ^= data[tail + 1] << 8
    if remaining >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK32
    h ^= h >> 13
    h = (h * _M) & _MASK32
    h ^= h >> 15
    # Back to a signed 32-bit value, as Java returns it.
    return h - 0x100000000 if h & 0x80000000 else h


def default_partition(key_bytes: bytes, num_partitions: int) -> int:
    """Return the partition Kafka's default partitioner picks for a serialized key.

    ``(murmur2(key_bytes) & 0x7fffffff) % num_partitions``: the mask is Kafka's
    ``Utils.toPositive`` (not ``abs``, which would fold two hashes onto one). Raises ``ValueError``
    when ``num_partitions < 1`` and ``TypeError`` when the key is not bytes.
    """
    if isinstance(num_partitions, bool) or not isinstance(num_partitions, int):
        raise TypeError(f"num_partitions must be an int, got {type(num_partitions).__name__}")
    if num_partitions < 1:
        raise ValueError(f"num_partitions must be >= 1, got {num_partitions}")
    return (murmur2(key_bytes) & 0x7FFFFFFF) % num_partitions


class Partitioner(abc.ABC):
    """Chooses a partition for each record; keyed records always go by :func:`default_partition`.

    Subclasses decide only where keyless records go (``_partition_keyless``). The producer calls
    ``partition()`` once per ``send()`` and ``on_new_batch()`` when it closes a batch for a
    partition. Thread-safe: one instance may serve several sending threads.
    """

    #: The registry name of this strategy.
    name: str = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def partition(
        self,
        topic: str,
        key_bytes: bytes | None,
        all_partitions: Sequence[int],
        available: Sequence[int],
    ) -> int:
        """Return the partition number for one record of ``topic``.

        ``all_partitions`` are the topic's partition numbers in ascending order (``0..n-1``);
        ``available`` are those that can take a record right now (Kafka: those with a leader);
        pass ``all_partitions`` again when all are. A keyed record ignores ``available``: moving a
        key to another partition would break its order. Raises ``ValueError`` when the topic has
        no partitions.
        """
        if not all_partitions:
            raise ValueError(f"topic {topic!r} has no partitions to choose from")
        if key_bytes is not None:
            return all_partitions[default_partition(key_bytes, len(all_partitions))]
        with self._lock:
            return self._partition_keyless(topic, all_partitions, available)

    def on_new_batch(self, topic: str, prev_partition: int) -> None:
        """Tell the partitioner that a batch for ``prev_partition`` of ``topic`` was completed."""
        with self._lock:
            self._on_new_batch(topic, prev_partition)

    @abc.abstractmethod
    def _partition_keyless(
        self, topic: str, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        """Choose a partition for a keyless record; called with the lock held."""

    @abc.abstractmethod
    def _on_new_batch(self, topic: str, prev_partition: int) -> None:
        """React to a completed batch; called with the lock held."""


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
#: Kafka's default behaviour since 2.4: keyed records by murmur2, keyless ones sticky.
PARTITIONERS: dict[str, type[Partitioner]] = {
    "default": StickyPartitioner,
    "round_robin": RoundRobinPartitioner,
    "sticky": StickyPartitioner,
}


def make_partitioner(name: str, *, seed: int | None = None) -> Partitioner:
    """Return a fresh partitioner for the strategy ``name`` (a key of ``PARTITIONERS``).

    ``seed`` fixes the sticky partitioner's random choices (ignored by round robin, which has
    none). Raises ``KafkaConfigurationError`` naming the legal choices for an unknown name.
    """
    if name not in PARTITIONERS:
        legal = ", ".join(repr(n) for n in sorted(PARTITIONERS))
        raise KafkaConfigurationError(f"unknown partitioner {name!r}; choose one of {legal}")
    cls = PARTITIONERS[name]
    if issubclass(cls, StickyPartitioner):
        return cls(seed=seed)
    return cls()
