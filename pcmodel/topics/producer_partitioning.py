"""How the producer chooses each record's partition, and what its partitioner learns from it.

Three kinds of partitioner (``partitioner=``), each driven as the Java client drives it:

- the built-in one, ``"default"`` (:mod:`~pcmodel.topics.builtin_partitioner`, KIP-794): a
  keyless record goes to the topic's sticky partition, and after the record is in a batch the
  partitioner counts its bytes there (``record_appended``) and may switch. When it draws the
  next partition it asks for the topic's load: how many batches per partition wait in the
  accumulator (counted when a batch is put in and when the sender seals it: Java's deque
  lengths) and which partitions have had a batch waiting for the leader's answer longer than
  ``partitioner_availability_timeout_ms`` (measured from the moment the sender starts a
  batch's append until that batch is done). The producer's settings
  ``partitioner_adaptive_partitioning_enable``, ``partitioner_availability_timeout_ms`` and
  ``partitioner_ignore_keys`` configure it.
- pcmodel's other partitioners (``"sticky"``, ``"round_robin"`` or a
  :class:`~pcmodel.topics.partitioner.Partitioner`): see :mod:`~pcmodel.topics.accumulator`.
  A partition that a ``Partitioner`` subclass of the application's chooses outside the topic's
  raises ``IllegalArgumentError`` from ``send()``, as a client partitioner's does (the Java
  client refuses only a negative one there; a larger one waits ``delivery_timeout_ms``).
- a partitioner in Kafka's clients' shape: :mod:`~pcmodel.topics.client_partitioner`.

One deliberate difference from the Java client: it ignores the three ``partitioner.*``
settings when another partitioner is configured; here a value other than Kafka's default
with another partitioner is a ``KafkaConfigurationError``, because it would change nothing.

:class:`PartitioningMixin` is one part of :class:`~pcmodel.topics.producer.KafkaProducer`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from pcmodel.topics.builtin_partitioner import BuiltInPartitioner, PartitionLoad, check_settings
from pcmodel.topics.client_partitioner import resolve_partitioner
from pcmodel.topics.errors import IllegalArgumentError, KafkaConfigurationError
from pcmodel.topics.futures import FutureRecordMetadata
from pcmodel.topics.partitioner import RoundRobinPartitioner, StickyPartitioner
from pcmodel.topics.structs import TopicPartition

__all__ = ["PartitioningMixin"]

#: The built-in partitioner's settings with Kafka's defaults, by the producer's keyword.
BUILTIN_DEFAULTS = {
    "partitioner_adaptive_partitioning_enable": True,
    "partitioner_availability_timeout_ms": 0,
    "partitioner_ignore_keys": False,
}


class PartitioningMixin:
    """Choose partitions; keep the accumulator's load per partition for the partitioner."""

    def _init_partitioning(self, partitioner: Any, settings: dict[str, Any]) -> None:
        """Set up the partitioner ``partitioner=`` names, with the built-in one's ``settings``
        (the three ``partitioner_*`` keywords). Raises ``KafkaConfigurationError`` for a bad
        value, or a non-default one that the chosen partitioner would ignore."""
        check_settings(settings["partitioner_adaptive_partitioning_enable"],
                       settings["partitioner_availability_timeout_ms"],
                       settings["partitioner_ignore_keys"])
        if isinstance(partitioner, str) and partitioner == BuiltInPartitioner.name:
            chosen, client = BuiltInPartitioner(
                self._batch_size,
                adaptive=settings["partitioner_adaptive_partitioning_enable"],
                availability_timeout_ms=settings["partitioner_availability_timeout_ms"],
                ignore_keys=settings["partitioner_ignore_keys"]), None
        else:
            chosen, client = resolve_partitioner(partitioner, self._known_partitions)
            changed = [key for key, default in BUILTIN_DEFAULTS.items()
                       if settings[key] != default]
            if changed:
                raise KafkaConfigurationError(
                    f"{changed[0]}={settings[changed[0]]!r} configures the built-in "
                    f"partitioner, partitioner='default', and has no effect with "
                    f"partitioner={partitioner!r}: leave it out, or use the built-in one")
        self._partitioner = chosen  # used only when there is no client partitioner
        self._client_partitioner = client
        # A Partitioner subclass of the application's is held to the topic's partitions, as a
        # client partitioner is: a partition the topic lacks would wait delivery_timeout_ms in
        # retries. pcmodel's own choose among the partitions they are given.
        self._check_choices = (chosen is not None
                               and type(chosen) not in (BuiltInPartitioner, StickyPartitioner,
                                                        RoundRobinPartitioner))
        # Which kind it is, decided once here rather than for every record (send() is hot).
        self._builtin = chosen if isinstance(chosen, BuiltInPartitioner) else None
        self._sticky = isinstance(chosen, StickyPartitioner)
        # For the built-in partitioner: batches waiting in the accumulator per topic and
        # partition (an entry once a partition had a batch, as Java's deques), and since when
        # the sender has waited for each partition's leader (only with an availability timeout).
        self._queued: dict[str, dict[int, int]] = {}
        self._stalled: dict[TopicPartition, float] = {}
        self._track_stalls = (isinstance(chosen, BuiltInPartitioner) and chosen.adaptive
                              and chosen.availability_timeout_ms > 0)

    def _check_choice(self, topic: str, chosen: object, partitions: list[int]) -> None:
        """``IllegalArgumentError`` unless ``chosen``, the partitioner's choice for a record of
        ``topic``, is one of its ``partitions``."""
        if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen not in partitions:
            raise IllegalArgumentError(
                f"the partitioner {type(self._partitioner).__name__} chose partition "
                f"{chosen!r} for topic {topic!r}, which has partitions 0..{len(partitions) - 1}")

    def _client_choice(self, topic: str, partition: int | None, key: Any,
                       key_bytes: bytes | None, value: Any, value_bytes: bytes | None,
                       partitions: list[int]) -> tuple[int | None, Callable[[], int] | None]:
        """With a client partitioner: the record's partition and how to ask again should it
        open a new batch (see :mod:`~pcmodel.topics.client_partitioner`); else as given."""
        if self._client_partitioner is None:
            return partition, None
        if partition is not None:  # the Java client tells it of the new batch even then
            return partition, functools.partial(int, partition)
        repartition = functools.partial(self._client_partitioner.partition, topic, key,
                                        key_bytes, value, value_bytes, partitions)
        return repartition(), repartition

    def _append_builtin(self, topic: str, partitions: list[int], record: tuple, size: int,
                        sizes: tuple[int, int, int], deadline: float) -> FutureRecordMetadata:
        """Append a record the built-in partitioner places (Java's ``RecordAccumulator.append``
        with an unknown partition): to the sticky partition, then count its bytes there."""
        partitioner: BuiltInPartitioner = self._partitioner
        load = self._partition_load
        while True:
            partition, due = partitioner.sticky_partition(topic, partitions, load)
            tp = self._topic_partition(topic, partition)
            # Java's partitionChanged: a switch put off while the partition's batch had room
            # happens once it has none (it filled up, or the sender took it).
            if due and not self._has_room(tp) and partitioner.record_appended(
                    topic, partition, 0, batch_full=True, all_partitions=partitions, load=load):
                continue
            future = self._try_append(tp, record, size, sizes)
            if future is None:
                future = self._append_new_batch(tp, record, size, sizes, deadline)
            # Read without the lock: a batch the sender seals meanwhile only delays a switch
            # to the next record (and never beyond twice batch_size).
            batch = future._batch
            partitioner.record_appended(topic, partition, size,
                                        batch_full=batch.full or batch.sealed,
                                        all_partitions=partitions, load=load)
            return future

    def _has_room(self, tp: TopicPartition) -> bool:
        """Whether ``tp`` has an open batch that may still take records."""
        with self._lock:
            batch = self._open.get(tp)
            return batch is not None and not (batch.full or batch.sealed)

    def _count_queued(self, tp: TopicPartition, change: int) -> None:
        """A batch for ``tp`` entered (+1) or left (-1) the accumulator; called with ``_lock``."""
        queued = self._queued.get(tp.topic)
        if queued is None:
            queued = self._queued[tp.topic] = {}
        queued[tp.partition] = queued.get(tp.partition, 0) + change

    def _stall_started(self, tp: TopicPartition) -> None:
        """The sender starts appending a batch to ``tp``: its leader has not answered yet."""
        if self._track_stalls:
            with self._lock:
                self._stalled.setdefault(tp, self._clock())

    def _stall_ended(self, tp: TopicPartition) -> None:
        """The sender is done with a batch for ``tp`` (stored, or failed for good)."""
        if self._track_stalls:
            with self._lock:
                self._stalled.pop(tp, None)

    def _partition_load(self, topic: str, partitions: Sequence[int]) -> PartitionLoad | None:
        """The topic's load for the built-in partitioner: None until every partition has had a
        batch (Java: until each has a deque), else the queue sizes and the partitions whose
        leader has kept a batch waiting longer than the availability timeout."""
        timeout = self._partitioner.availability_timeout_ms / 1000
        with self._lock:
            queued = self._queued.get(topic)
            if queued is None or any(p not in queued for p in partitions):
                return None
            sizes = dict(queued)
            now = self._clock()
            unavailable = frozenset(tp.partition for tp, since in self._stalled.items()
                                    if tp.topic == topic and now - since > timeout)
        return PartitionLoad(sizes, unavailable if self._track_stalls else frozenset())
