"""What every partitioner shares: Kafka's murmur2 hash of a key, and the partitioner interface.

Prior art: Apache Kafka's ``Utils.murmur2`` / ``Utils.toPositive`` and
``BuiltInPartitioner.partitionForKey``; kafka-python's ``kafka/partitioner/default.py``.

A record with a key always lands on the partition ``(murmur2(key) & 0x7fffffff) %
num_partitions``, the same number real Kafka picks for the same serialized key and partition
count. :class:`Partitioner` is the interface of pcmodel's partitioners: keyed records by that
rule, keyless ones as each strategy decides. The strategies and their registry are in
:mod:`pcmodel.topics.partitioner` (which re-exports these names), the built-in one in
:mod:`pcmodel.topics.builtin_partitioner`.
"""

from __future__ import annotations

import abc
import struct
import threading
from collections.abc import Sequence

__all__ = ["Partitioner", "default_partition", "murmur2"]

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
