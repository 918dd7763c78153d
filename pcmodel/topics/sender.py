"""The producer's sender thread: takes batches from the accumulator and appends them to the logs.

The sender ``get()``s the oldest batch from the accumulator buffer, waits until it is *ready*
(full, ``linger_ms`` passed, or ``flush()`` / ``close()`` asked for it), seals it so that
``send()`` opens a new batch for the partition, then calls ``broker.append`` with retries for
retriable errors until the batch expires: ``delivery_timeout_ms`` after it was created, the
sender fails it with ``KafkaTimeoutError`` instead of appending it (again), and no append of it
waits past that moment (as the Java client's ``RecordAccumulator.expiredBatches`` and
``Sender.failBatch``; one sender handling one batch at a time, it checks before each append
rather than sweeping the accumulator, and a batch behind the one being retried is checked when
its turn comes, at the latest when that one expired). It resolves the batch's futures and runs
their callbacks, outside every lock.
A batch the broker refuses as larger than its topic's ``max.message.bytes`` is split in halves
(the first one the larger), sent again half by half, down to single records: only a record too
large by itself fails with ``MessageSizeTooLargeError``. So do the Java client and kafka-python 3
(librdkafka fails the whole batch).
``close()`` shuts the buffer down: the sender drains what is queued, then its ``get()`` raises
``ShutDown`` and it exits. ``close()`` called in a callback, on the sender thread, cannot wait
for that thread: as the Java client and kafka-python do, it closes as ``close(0)`` (with a
warning if a timeout was given), every record not yet sent fails (with the Java client's
``KafkaError("Producer is closed forcefully.")``, as after a ``close(timeout)`` that ran out),
and the sender releases the producer's resources itself when it exits, after the callback has
returned.

A transactional producer's batch first asks the transaction manager whether it may go
(:mod:`~pcmodel.topics.transaction_manager`: after an error or during an abort it fails at
once); the first batch to a partition in a transaction adds the partition to it
(``add_partitions_to_txn``) and every batch is appended with ``transactional=True``. A batch
that failed for good makes the transaction abortable instead of bumping the epoch at once, as
an idempotent producer does: the abort bumps it (see
:mod:`~pcmodel.topics.producer_transactions`).

:class:`SenderMixin` is one part of :class:`~pcmodel.topics.producer.KafkaProducer`.

Prior art: kafka-python's ``kafka/producer/sender.py``; the Java client's ``Sender``.
"""

from __future__ import annotations

import logging
from typing import Any

from pcmodel.errors import ShutDown
from pcmodel.topics.accumulator import ProducerState
from pcmodel.topics.broker_checks import INT16_MAX
from pcmodel.topics.errors import (
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
)
from pcmodel.topics.futures import FutureState, ProducerBatch
from pcmodel.topics.structs import TopicPartition

__all__ = ["SenderMixin"]

logger = logging.getLogger("pcmodel.topics.producer")


class SenderMixin:
    """The sender thread's loop: take a batch, wait until it is ready, deliver it."""

    def _run_sender(self) -> None:
        """The sender thread's body: deliver batches oldest first until the buffer shuts down."""
        while True:
            try:
                batch = self._accumulator.get()
            except ShutDown:
                break
            self._wait_until_ready(batch)
            self._deliver(batch)
        if self._release_when_stopped:
            self._release()
        self._stopped.set()

    def _close_from_callback(self, timeout: float | None) -> None:
        """``close()`` from a callback (this thread): refuse sends, fail every record not yet
        sent, and leave the rest to the end of this thread (see the module)."""
        if timeout != 0:
            logger.warning("close(timeout=%s) from a producer callback closes as close(0): "
                           "the sender thread cannot wait for itself", timeout)
        with self._lock:
            if self._state is ProducerState.OPEN:
                self._state = ProducerState.CLOSING
            self._release_when_stopped = True
            self._batch_ready.notify_all()
        self._aborted.set()
        self._accumulator.shutdown()

    def _wait_until_ready(self, batch: ProducerBatch) -> None:
        """Block until ``batch`` is full, has lingered long enough, or is flushed; seal it."""
        with self._lock:
            while not (batch.full or self._flushing or self._state is not ProducerState.OPEN):
                remaining = batch.created + self._linger - self._clock()
                if remaining <= 0:
                    break
                self._batch_ready.wait(remaining)
            batch.sealed = True
            self._count_queued(batch.tp, -1)  # drained, as Java's deque forgets a sent batch
            if self._open.get(batch.tp) is batch:
                del self._open[batch.tp]

    def _deliver(self, batch: ProducerBatch) -> None:
        """Append the batch to its partition log (with retries), resolve futures, run callbacks;
        for as long as that takes, its partition's leader counts as not answering (which the
        built-in partitioner's availability timeout looks at)."""
        self._stall_started(batch.tp)
        try:
            self._deliver_with_retries(batch)
        finally:
            self._stall_ended(batch.tp)

    def _deliver_with_retries(self, batch: ProducerBatch) -> None:
        tp = batch.tp
        txn = self._transaction_manager
        if txn is not None:
            refused = self._join_transaction(tp)
            if refused is not None:  # never numbered, never sent
                self._complete(batch, (FutureState.FAILED, None, refused))
                return
        request_timeout = self.config["request_timeout_ms"] / 1000
        expires = batch.created + self._delivery_timeout
        attempts = 0
        # One broker holds the only replica, so acks changes nothing there; a replicated
        # cluster's connection says it honours them (pcmodel.cluster.client).
        extra = {"acks": batch.acks} if getattr(self._broker, "honours_acks", False) else {}
        last_error: BaseException | None = None
        sequence = None
        if self._producer_id is not None:
            # Numbered once: every retry of this batch carries the same sequence, so a broker
            # that already stored it answers with the original offsets instead of a copy.
            sequence = self._sequences.get(tp, 0)
            self._sequences[tp] = sequence + len(batch.records)
        while True:
            if self._aborted.is_set():
                # The Java client's words and type (RecordAccumulator.abortIncompleteBatches):
                # a plain KafkaException, not an IllegalStateException.
                outcome = (FutureState.FAILED, None,
                           KafkaError("Producer is closed forcefully."))
                break
            left = expires - self._clock()
            if left <= 0:  # waited, was appended or retried for delivery_timeout_ms: give up
                outcome = (FutureState.FAILED, None, self._expired(batch, last_error))
                break
            try:
                result = self._append_batch(tp, batch.records, min(request_timeout, left),
                                            sequence, extra)
            except Exception as exc:
                if getattr(exc, "retriable", False) and attempts < self.config["retries"]:
                    attempts += 1
                    last_error = exc
                    # A wait, not a sleep: close() cuts the back-off short by setting _aborted.
                    self._aborted.wait(min(self.config["retry_backoff_ms"] / 1000,
                                           max(0.0, expires - self._clock())))
                    continue
                outcome = (FutureState.FAILED, None, exc)
                break
            # AppendResult(base_offset, log_start_offset, log_append_time_ms): the append
            # time is -1 unless the topic stamps its records with it (LogAppendTime).
            base_offset, _, log_append_time = tuple(result)[:3]
            outcome = (FutureState.SUCCEEDED, (base_offset, log_append_time), None)
            break
        if isinstance(outcome[2], MessageSizeTooLargeError) and len(batch.records) > 1:
            self._deliver_in_halves(batch, sequence)
            return
        if sequence is not None and outcome[0] is FutureState.FAILED:
            if txn is not None:
                txn.batch_failed(outcome[2], numbered=True)
            else:
                self._reset_sequences()
        self._complete(batch, outcome)

    def _expired(self, batch: ProducerBatch, cause: BaseException | None) -> KafkaTimeoutError:
        """The error of a batch that expired, in the Java client's words; its cause is the
        last retriable error the batch met, if any."""
        waited = round((self._clock() - batch.created) * 1000)
        error = KafkaTimeoutError(
            f"Expiring {len(batch.records)} record(s) for {batch.tp.topic}-"
            f"{batch.tp.partition}: {waited} ms has passed since batch creation")
        error.__cause__ = cause
        return error

    def _complete(self, batch: ProducerBatch, outcome: tuple) -> None:
        """Resolve the batch's futures with ``outcome``, count it, run its callbacks."""
        pending = batch.finish(*outcome)
        with self._lock:
            self._incomplete.discard(batch)
            self._counts["batches"] += 1
            self._counts["records"] += len(batch.records)
            if outcome[0] is FutureState.FAILED:
                self._counts["errors"] += len(batch.records)
            self._batch_ready.notify_all()
        for future, callbacks in pending:
            future._run(callbacks)

    def _deliver_in_halves(self, batch: ProducerBatch, sequence: int | None) -> None:
        """Deliver a batch the broker found too large as two batches, one after the other (each
        may be split again); then finish it, which wakes whoever waits on it."""
        if sequence is not None:
            self._sequences[batch.tp] = sequence  # nothing was appended: the halves renumber
        parts = batch.split()
        with self._lock:
            self._incomplete.discard(batch)
            self._incomplete.update(parts)
        for part in parts:
            self._deliver(part)
        error = next((part.error for part in parts if part.state is FutureState.FAILED), None)
        batch.finish(FutureState.SUCCEEDED if error is None else FutureState.FAILED, None, error)

    def _join_transaction(self, tp: TopicPartition) -> BaseException | None:
        """Before a transactional batch for ``tp`` is numbered and appended: the error to fail
        it with instead (the transaction failed or is being aborted), or None. Adds ``tp`` to
        the transaction first if this is its first batch there."""
        txn = self._transaction_manager
        refused = txn.refusal()
        if refused is not None or not txn.needs_adding(tp):
            return refused
        producer_id, producer_epoch = self._producer_id
        try:
            self._broker.add_partitions_to_txn(txn.transactional_id, producer_id,
                                               producer_epoch, [tp])
        except Exception as exc:  # the batch's failure, like a failed append
            txn.batch_failed(exc, numbered=False)
            return exc
        txn.added(tp)
        return None

    def _reset_sequences(self) -> None:
        """A numbered batch failed for good: its sequence numbers are a gap the broker would
        refuse for ever. Bump the producer epoch here, as Kafka's idempotent producer does
        itself (KIP-360, ``TransactionManager.bumpIdempotentProducerEpoch``: the broker answers
        any InitProducerId without a transactional id with a new id), and count again from
        0; past the int16's largest epoch, ask for a new producer id instead."""
        producer_id, producer_epoch = self._producer_id
        if producer_epoch < INT16_MAX:
            self._producer_id = (producer_id, producer_epoch + 1)
        else:
            try:
                self._producer_id = tuple(self._broker.init_producer_id())
            except Exception:  # noqa: BLE001 - the next batch fails with the broker's own error
                return
        self._sequences.clear()

    def _append_batch(self, tp: TopicPartition, records: list, timeout: float,
                      sequence: int | None, extra: dict[str, Any]) -> Any:
        """One append to the broker; with ``compression_type`` the broker stores it compressed;
        with idempotence it carries the producer id and the batch's first sequence number."""
        compression = self.config["compression_type"]
        if compression is not None:
            extra = {**extra, "compression": compression}
        if sequence is None:
            return self._broker.append(tp.topic, tp.partition, records, timeout=timeout, **extra)
        producer_id, producer_epoch = self._producer_id
        if self._transaction_manager is not None:
            extra = {**extra, "transactional": True}
        return self._broker.append_idempotent(
            tp.topic, tp.partition, records, producer_id=producer_id,
            producer_epoch=producer_epoch, first_sequence=sequence, timeout=timeout, **extra)
