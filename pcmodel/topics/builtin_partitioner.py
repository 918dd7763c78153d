"""The Java producer's built-in partitioner (Kafka 3.3+, KIP-794): sticky by bytes, adaptive.

Prior art: Apache Kafka's ``BuiltInPartitioner`` and the parts of ``RecordAccumulator`` that
drive it (``append``, ``partitionChanged``, ``partitionReady``), with the producer settings
``partitioner.adaptive.partitioning.enable`` (true), ``partitioner.availability.timeout.ms``
(0) and ``partitioner.ignore.keys`` (false).

A keyed record goes to ``murmur2(key) % partitions`` as with every pcmodel partitioner (unless
``ignore_keys``). A keyless record goes to the topic's current *sticky* partition, and the
partitioner moves on once ``batch_size`` bytes of records have been produced to it, not when a
batch completes as KIP-480's sticky partitioner did. The KIP-480 rule sent more records to
slower brokers: a batch waiting for a slow leader keeps filling, so the partition stays sticky
longer. Counting bytes gives every stay the same size, and the choice of the next partition
can then favour the fast ones:

- *adaptive* (the default): the next partition is drawn with probability proportional to
  ``max_queue + 1 - queue`` of each partition, where ``queue`` is how many of the producer's
  batches for it wait to be sent. A partition with a long queue (a slow leader) is picked less
  often. The draw is Java's: a cumulative frequency table and a binary search. It is used only
  once every partition of the topic has had a batch, and not when all queues are equal.
- *availability timeout* (``availability_timeout_ms > 0``, adaptive only): a partition whose
  leader has not accepted the producer's records for that long is left out of the draw.
- otherwise the next partition is drawn uniformly among the available ones.

Switching is put off while the sticky partition's open batch still has room (a high
``linger_ms`` would otherwise leave a small batch behind), but never beyond twice
``batch_size`` bytes, as Java does.

Differences from the Java client, on purpose: the bytes counted are those of the records (what
fills a pcmodel batch against ``batch_size``), not a batch's estimated size with its header;
the queue sizes are read when the partitioner switches, not on each pass of the sender; a
partition is judged unavailable by how long the producer's batch for it has waited for the
leader's answer (one sender, one batch at a time), not by the leader's network readiness.
The producer's :mod:`~pcmodel.topics.accumulator` drives it (``record_appended``); used on its
own, as any :class:`~pcmodel.topics.partitioner.Partitioner`, it stays on one partition.

Thread-safe: the per-topic state sits behind the partitioner's lock. ``seed`` makes the random
draws repeatable (Java draws from ``ThreadLocalRandom``).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from pcmodel.topics.config import MAX_WAIT_MS, waitable_ms
from pcmodel.topics.errors import KafkaConfigurationError
from pcmodel.topics.partitioner_base import Partitioner, default_partition

__all__ = [
    "BuiltInPartitioner",
    "LoadSource",
    "PartitionLoad",
    "check_settings",
    "cumulative_frequencies",
    "weighted_partition",
]


class PartitionLoad(NamedTuple):
    """What the producer knows of a topic's partitions when the partitioner switches.

    ``queue_sizes``: batches waiting to be sent, per partition (Java: the length of each
    partition's deque). ``unavailable``: partitions whose leader has not accepted records for
    ``availability_timeout_ms``.
    """

    queue_sizes: Mapping[int, int]
    unavailable: frozenset[int] = frozenset()


#: A producer's view of a topic's load, ``load(topic, all_partitions)``, asked for only when the
#: partitioner draws a partition (None: not known yet). It is called with the partitioner's lock
#: held, so it must not call the partitioner.
LoadSource = Callable[[str, Sequence[int]], PartitionLoad | None]


def cumulative_frequencies(
    load: PartitionLoad, all_partitions: Sequence[int]
) -> tuple[list[int], list[int]] | None:
    """Java's ``updatePartitionLoadStats``: the cumulative frequency table and the partitions it
    covers, or ``None`` when the draw should be uniform: a partition has never had a batch (its
    queue is not known yet), the topic has fewer than two partitions, none is left after the
    unavailable ones, or all queues are equal with none left out.

    Each partition's weight is ``max_queue + 1 - queue``; the table holds running sums, so a
    random ``r`` in ``[0, table[-1])`` picks the first entry greater than ``r``. Example: queues
    ``0 3 1`` give weights ``4 1 3`` and the table ``4 5 8``.
    """
    if len(all_partitions) < 2 or any(p not in load.queue_sizes for p in all_partitions):
        return None
    ids = [p for p in all_partitions if p not in load.unavailable]
    if not ids:
        return None
    sizes = [load.queue_sizes[p] for p in ids]
    if len(set(sizes)) == 1 and len(ids) == len(all_partitions):
        return None
    top = max(sizes) + 1
    table = []
    total = 0
    for size in sizes:
        total += top - size
        table.append(total)
    return table, ids


def weighted_partition(table: Sequence[int], ids: Sequence[int], r: int) -> int:
    """The partition a random ``r >= 0`` picks from a cumulative frequency ``table``: the first
    entry strictly greater than ``r % table[-1]`` (Java's binary search)."""
    return ids[bisect.bisect_right(table, r % table[-1])]


class _Sticky:
    """A topic's current sticky partition and the record bytes produced to it so far."""

    __slots__ = ("partition", "produced")

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.produced = 0


class BuiltInPartitioner(Partitioner):
    """Kafka's default partitioner since 3.3 (KIP-794); see the module for the rules.

    ``batch_size``: record bytes produced to a sticky partition before switching (the
    producer's ``batch_size``). ``adaptive``: favour partitions with shorter queues.
    ``availability_timeout_ms``: leave out partitions whose leader has not accepted records for
    this long (0: never; adaptive only). ``ignore_keys``: treat keyed records as keyless.
    Raises ``KafkaConfigurationError`` for a bad setting.
    """

    name = "default"

    def __init__(self, batch_size: int = 16384, *, adaptive: bool = True,
                 availability_timeout_ms: float = 0, ignore_keys: bool = False,
                 seed: int | None = None) -> None:
        super().__init__()
        check_settings(adaptive, availability_timeout_ms, ignore_keys)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise KafkaConfigurationError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        self.adaptive = adaptive
        self.availability_timeout_ms = availability_timeout_ms
        self.ignore_keys = ignore_keys
        self._random = random.Random(seed)
        self._sticky: dict[str, _Sticky] = {}

    def partition(
        self,
        topic: str,
        key_bytes: bytes | None,
        all_partitions: Sequence[int],
        available: Sequence[int],
        load: LoadSource | None = None,
    ) -> int:
        """The partition for one record: ``murmur2`` for a key (unless ``ignore_keys``), else
        the topic's sticky partition, chosen now if it has none (by ``load`` when adaptive).
        Raises ``ValueError`` when the topic has no partitions."""
        if not all_partitions:
            raise ValueError(f"topic {topic!r} has no partitions to choose from")
        if key_bytes is not None and not self.ignore_keys:
            return all_partitions[default_partition(key_bytes, len(all_partitions))]
        with self._lock:
            return self._current(topic, all_partitions, available, load).partition

    def sticky_partition(self, topic: str, all_partitions: Sequence[int],
                         load: LoadSource | None = None) -> tuple[int, bool]:
        """The topic's sticky partition for a keyless record (chosen now if it has none), and
        whether enough bytes were produced there to switch once its batch has no room left
        (Java's ``peekCurrentPartitionInfo``; the producer then calls :meth:`record_appended`
        with ``nbytes=0``)."""
        with self._lock:
            sticky = self._sticky.get(topic)
            if sticky is None or sticky.partition >= len(all_partitions):
                sticky = self._current(topic, all_partitions, all_partitions, load)
            return sticky.partition, sticky.produced >= self.batch_size

    def uses_sticky(self, key_bytes: bytes | None) -> bool:
        """Whether a record with this key goes to the sticky partition (and counts there)."""
        return key_bytes is None or self.ignore_keys

    def record_appended(self, topic: str, partition: int, nbytes: int, *, batch_full: bool,
                        all_partitions: Sequence[int], load: LoadSource | None = None) -> bool:
        """Count ``nbytes`` of records appended to ``partition`` of ``topic`` and switch to the
        next partition if enough were produced there; return True if it switched.

        ``batch_full``: the partition has no open batch with room left (Java's
        ``allBatchesFull``); until it has, the switch waits, up to twice ``batch_size``. A
        record that went to a partition other than the sticky one (a keyed record, or one
        that raced a switch) changes nothing. Call with ``nbytes=0`` to complete a switch put
        off earlier.
        """
        with self._lock:
            sticky = self._sticky.get(topic)
            if sticky is None or sticky.partition != partition:
                return False
            sticky.produced += nbytes
            produced = sticky.produced
            if not (produced >= self.batch_size and batch_full
                    or produced >= 2 * self.batch_size):
                return False
            self._sticky[topic] = _Sticky(self._next(topic, all_partitions, all_partitions, load))
            return True

    def _current(self, topic: str, all_partitions: Sequence[int], available: Sequence[int],
                 load: LoadSource | None) -> _Sticky:
        sticky = self._sticky.get(topic)
        # A partition that vanished (topic recreated with fewer partitions) cannot stay sticky.
        if sticky is None or sticky.partition not in all_partitions:
            sticky = self._sticky[topic] = _Sticky(self._next(topic, all_partitions, available,
                                                              load))
        return sticky

    def _next(self, topic: str, all_partitions: Sequence[int], available: Sequence[int],
              load: LoadSource | None) -> int:
        """Java's ``nextPartition``: weighted by the queues when adaptive and known, else
        uniform among the available partitions (among all when none is)."""
        r = self._random.getrandbits(31)  # Java: Utils.toPositive(random int)
        if self.adaptive and load is not None:
            snapshot = load(topic, all_partitions)
            stats = None if snapshot is None else cumulative_frequencies(snapshot,
                                                                         all_partitions)
            if stats is not None:
                return weighted_partition(*stats, r)
        choices = available if available else all_partitions
        return choices[r % len(choices)]

    def _partition_keyless(self, topic: str, all_partitions: Sequence[int],
                           available: Sequence[int]) -> int:
        return self._current(topic, all_partitions, available, None).partition

    def _on_new_batch(self, topic: str, prev_partition: int) -> None:
        # Nothing to do: the built-in partitioner switches by bytes produced, not by batches.
        return


def check_settings(adaptive: object, availability_timeout_ms: object,
                   ignore_keys: object) -> None:
    """Check the three ``partitioner_*`` settings' types and ranges, naming the producer's
    keys; raises ``KafkaConfigurationError``."""
    for key, value in (("partitioner_adaptive_partitioning_enable", adaptive),
                       ("partitioner_ignore_keys", ignore_keys)):
        if not isinstance(value, bool):
            raise KafkaConfigurationError(f"{key} must be True or False, got {value!r}")
    if (isinstance(availability_timeout_ms, bool)
            or not isinstance(availability_timeout_ms, (int, float))
            or not waitable_ms(availability_timeout_ms)):
        raise KafkaConfigurationError(
            f"partitioner_availability_timeout_ms must be a number of milliseconds from 0 to "
            f"{MAX_WAIT_MS:g} (0 turns it off), got "
            f"{availability_timeout_ms!r}")
