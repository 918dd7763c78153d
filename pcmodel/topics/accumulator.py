"""The producer's record accumulator: batches per partition in a layer-1 bounded buffer.

``send()`` appends a record to its partition's open batch; when there is none with room it opens
a new :class:`ProducerBatch` and puts it into the accumulator, a bounded buffer from
:func:`pcmodel.buffers.make_buffer` holding ``buffer_memory // batch_size`` batches. When every
slot is taken that ``put()`` blocks for up to ``max_block_ms`` and then raises
``KafkaTimeoutError``: backpressure from a slow broker reaches the application.

Which partition: a keyless record placed by the built-in partitioner (KIP-794) goes through
:mod:`~pcmodel.topics.producer_partitioning`, which also counts the batches queued here per
partition for it; a sticky partitioner (KIP-480) is told when a keyless record would open a new
batch and asked again; a client partitioner is asked again for every record that would.

Ordering: a partition's records go to its newest batch only, and opening a batch is serialised
by one lock (``_opening``), so batches enter the buffer in the order they become visible to other
sending threads and each partition receives one producer's records in ``send()`` order.

:class:`AccumulatorMixin` is one part of :class:`~pcmodel.topics.producer.KafkaProducer`; it uses
the producer's ``_lock``, ``_batch_ready`` condition, ``_open`` batches and ``_accumulator``, and
its partitioners (``_partitioner``, ``_builtin``, ``_sticky``, ``_client_partitioner``: see
:mod:`~pcmodel.topics.producer_partitioning`).

Prior art: kafka-python's ``kafka/producer/record_accumulator.py`` and ``buffer.py``; the Java
client's ``RecordAccumulator`` and ``BufferPool`` for what blocking means.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from enum import Enum

from pcmodel.errors import ShutDown
from pcmodel.topics.errors import IllegalStateError, KafkaError, KafkaTimeoutError
from pcmodel.topics.futures import FutureRecordMetadata, FutureState, ProducerBatch
from pcmodel.topics.structs import TopicPartition

__all__ = ["AccumulatorMixin", "ProducerState"]


class ProducerState(Enum):
    """Life cycle of a producer: sending, then draining in close(), then closed."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class AccumulatorMixin:
    """Append records to open batches; open new ones into the bounded accumulator buffer."""

    def _append(
        self,
        topic: str,
        partition: int | None,
        partitions: list[int],
        key_bytes: bytes | None,
        record: tuple,
        size: int,
        sizes: tuple[int, int, int],
        deadline: float,
        repartition: Callable[[], int] | None = None,
    ) -> FutureRecordMetadata:
        # The built-in partitioner (KIP-794) places a keyless record itself, then counts it.
        builtin = self._builtin
        if (partition is None and repartition is None and builtin is not None
                and builtin.uses_sticky(key_bytes)):
            return self._append_builtin(topic, partitions, record, size, sizes, deadline)
        # As Kafka (KIP-480), only the sticky partitioner is told when a keyless record would
        # open a new batch, and asked again: round robin must not skip a partition then. A
        # client partitioner chose ``partition`` already, and ``repartition`` asks it again.
        sticky = partition is None and key_bytes is None and self._sticky
        if partition is None:
            partition = self._partitioner.partition(topic, key_bytes, partitions, partitions)
            if self._check_choices:
                self._check_choice(topic, partition, partitions)
        tps = self._tps.get(topic)
        tp = None if tps is None else tps.get(partition)
        if tp is None:
            tp = self._topic_partition(topic, partition)
        future = self._try_append(tp, record, size, sizes)
        if future is not None:
            return future
        if repartition is not None:
            # As the Java client does with a custom partitioner, for every record: tell it,
            # then ask again (see pcmodel.topics.client_partitioner).
            self._client_partitioner.on_new_batch(topic, partition)
            partition = repartition()
            tp = self._topic_partition(topic, partition)
            future = self._try_append(tp, record, size, sizes)
            if future is not None:
                return future
        elif sticky:
            # The sticky partition's batch is complete: move on, and try the new partition.
            self._partitioner.on_new_batch(topic, partition)
            partition = self._partitioner.partition(topic, None, partitions, partitions)
            if self._check_choices:
                self._check_choice(topic, partition, partitions)
            tp = self._topic_partition(topic, partition)
            future = self._try_append(tp, record, size, sizes)
            if future is not None:
                return future
        return self._append_new_batch(tp, record, size, sizes, deadline)

    def _topic_partition(self, topic: str, partition: int) -> TopicPartition:
        """The TopicPartition for (topic, partition), made once and reused (send() is hot)."""
        tps = self._tps.get(topic)
        if tps is None:
            tps = self._tps[topic] = {}
        tp = tps.get(partition)
        if tp is None:
            # int(): an IntEnum partition is sent as a plain int, which a broker process takes.
            tp = tps[partition] = TopicPartition(topic, int(partition))
        return tp

    def _try_append(
        self, tp: TopicPartition, record: tuple, size: int, sizes: tuple[int, int, int]
    ) -> FutureRecordMetadata | None:
        """Add the record to the partition's open batch if it has room; None if it has not."""
        with self._lock:
            if self._state is not ProducerState.OPEN:
                raise IllegalStateError("send() on a closed KafkaProducer; create a new producer")
            batch = self._open.get(tp)
            if batch is None or batch.full or batch.sealed:
                return None
            if batch.nbytes + size > self._batch_size:
                batch.full = True
                self._batch_ready.notify_all()
                return None
            return self._add_record(batch, record, size, sizes)

    def _add_record(
        self, batch: ProducerBatch, record: tuple, size: int, sizes: tuple[int, int, int]
    ) -> FutureRecordMetadata:
        # Called with _lock held.
        future = FutureRecordMetadata(batch, len(batch.records), record[3], sizes)
        batch.records.append(record)
        batch.futures.append(future)
        batch.nbytes += size
        if batch.nbytes >= self._batch_size:
            batch.full = True
            self._batch_ready.notify_all()
        return future

    def _append_new_batch(
        self,
        tp: TopicPartition,
        record: tuple,
        size: int,
        sizes: tuple[int, int, int],
        deadline: float,
    ) -> FutureRecordMetadata:
        """Open a batch for the record and put it into the accumulator, waiting for room."""
        started = self._clock()
        if not self._opening.acquire(timeout=max(0.0, deadline - started)):
            raise self._buffer_timeout()
        try:
            # While we waited, another sender of this producer may have opened a batch with room.
            future = self._try_append(tp, record, size, sizes)
            if future is not None:
                return future
            batch = ProducerBatch(tp, self._acks, self._clock())
            with self._lock:
                future = self._add_record(batch, record, size, sizes)
                # Known to flush() from now on, so a flush that starts during put() waits for it.
                self._incomplete.add(batch)
                self._count_queued(tp, +1)  # until the sender seals it (the partitioner's load)
            try:
                self._accumulator.put(batch, timeout=max(0.0, deadline - self._clock()))
            except (queue.Full, ShutDown) as exc:
                # The batch never reached the accumulator and its future was never returned: the
                # record is simply not sent. Finish the batch so that a waiting flush() goes on.
                if isinstance(exc, queue.Full):
                    error: KafkaError = self._buffer_timeout()
                else:
                    error = IllegalStateError("send() on a closed producer; create a new one")
                batch.finish(FutureState.FAILED, None, error)
                with self._lock:
                    self._counts["wait"] += self._clock() - started
                    self._incomplete.discard(batch)
                    self._count_queued(tp, -1)
                raise error from None
            with self._lock:
                self._counts["wait"] += self._clock() - started
                # The sender may already have taken (and sealed) it; then it is not open any more.
                if not batch.sealed:
                    self._open[tp] = batch
            return future
        finally:
            self._opening.release()

    def _buffer_timeout(self) -> KafkaTimeoutError:
        return KafkaTimeoutError(
            f"Failed to allocate memory within the configured max blocking time "
            f"{self.config['max_block_ms']} ms: the accumulator holds "
            f"{self.config['buffer_memory']} bytes ({self._accumulator.maxsize} batches) and "
            "the broker is not taking them fast enough; raise buffer_memory or max_block_ms"
        )
