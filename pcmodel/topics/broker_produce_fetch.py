"""The broker's data path: appending records (Produce) and reading them (Fetch, long polling).

:class:`ProduceFetchMixin` is the part of :class:`~pcmodel.topics.broker.Broker` that moves
records. An append takes consecutive offsets, never interleaved with another append's; on a
``"block"`` topic it first reserves space in the partition's bounded buffer *with the broker
lock released*, then checks the partition still exists before appending. A fetch reads several
partitions from given offsets and, while none has records, waits on the broker's
``_data_arrived`` condition (notified on every append, topic change and close) up to its
timeout: Kafka's ``max.wait.ms`` long poll, in one ``while`` loop with one deadline.
Idempotent appends go through :mod:`pcmodel.topics.idempotence`. A transactional producer's
append is accepted only while its transaction holds the partition
(:mod:`pcmodel.topics.transactions`), checked under the lock with the append, so that no batch
slips in after the transaction's marker; a ``read_committed`` fetch reads up to each
partition's last stable offset and is told the aborted transactions of what it read
(:mod:`pcmodel.topics.log_transactions`). A consumer closing in this process ends its fetch's
wait at once: the fetch takes the consumer's ``cancel`` event, and
:meth:`ProduceFetchMixin.wake_fetches` wakes the waiting fetches to look at it. The answers'
types are in :mod:`~pcmodel.topics.broker_results`. Prior art: Kafka's Produce and Fetch APIs
(``ReplicaManager.appendRecords`` / ``fetchMessages``, the delayed fetch purgatory).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence

from pcmodel.topics.broker_checks import (
    INT64_MAX,
    _check_cancel,
    _check_flag,
    _check_int,
    _check_mapping,
    _check_partitions,
    _check_timeout,
)
from pcmodel.topics.broker_results import AppendResult, FetchError, FetchResult
from pcmodel.topics.compression import CompressedBatch, get_codec
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidRecordError,
    InvalidTimestampError,
    InvalidTxnStateError,
    KafkaConfigurationError,
    MessageSizeTooLargeError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
    UnsupportedCompressionTypeError,
)
from pcmodel.topics.log import PartitionLog
from pcmodel.topics.log_batches import StoredBatch
from pcmodel.topics.log_records import (
    NO_TIMESTAMP,
    RECORD_BATCH_OVERHEAD,
    NewRecord,
    record_batch_size,
    record_batch_size_bound,
    validate_records,
)
from pcmodel.topics.log_settings import LogSettings
from pcmodel.topics.log_transactions import check_isolation_level
from pcmodel.topics.structs import PartitionProducers, TopicPartition, validate_topic_partition

__all__ = ["ProduceFetchMixin"]


def _refused_records(settings: LogSettings, batch: Sequence[tuple], now_ms: int,
                     tp: TopicPartition) -> InvalidRecordError | InvalidTimestampError:
    """The error that refuses ``batch``, with ``record_errors``: ``(index, message)`` for every
    record refused, in Kafka's words (its ``LogValidator`` lists them all, so that a client can
    name each one): a record without a key on a compacted topic, else one whose create time
    lies outside the topic's window. INVALID_TIMESTAMP if any record is refused for its time,
    else INVALID_RECORD, as Kafka's ``processRecordErrors`` chooses."""
    keyless = set(settings.keyless(batch))
    # A record is refused for its first fault only, its key before its time, as Kafka's.
    untimely = set(settings.untimely(batch, now_ms)) - keyless
    earliest, latest = settings.window(now_ms)
    errors: list[tuple[int, str]] = []
    for index in sorted(keyless | untimely):
        if index in keyless:
            errors.append((index, "Compacted topic cannot accept message without key in "
                                  f"topic partition {tp.topic}-{tp.partition}"))
        else:
            # A produced batch's base offset is 0, so a record's offset is its index.
            errors.append((index, f"Timestamp {batch[index][3]} of message with offset "
                                  f"{index} is out of range. The timestamp should be within "
                                  f"[{earliest}, {latest}]"))
    error = InvalidTimestampError(settings.timestamp_error(batch, now_ms)) if untimely \
        else InvalidRecordError(settings.key_error(batch))
    error.record_errors = tuple(errors)
    return error


class ProduceFetchMixin:
    """Appends (plain and idempotent) and long-polling fetches (Broker part)."""

    def append(
        self,
        topic: str,
        partition: int,
        records: Sequence[NewRecord | tuple],
        *,
        timeout: float | None = None,
        compression: str | None = None,
        batch_bytes: int | None = None,
    ) -> AppendResult:
        """Append ``records`` (serialized ``(key, value, headers, timestamp_ms)``) in order.

        All records get consecutive offsets; records of one call are never interleaved with
        another's. On a ``"block"`` topic this waits while the partition is full, for at most
        ``timeout`` seconds (``None``: for ever), then raises ``KafkaTimeoutError`` with nothing
        appended. ``compression`` (``"gzip"``, ``"snappy"``, ``"lz4"``, ``"zstd"``) is the codec
        the producer compressed them with; the topic's ``compression.type`` decides the codec
        the log keeps them with (the producer's by default), as one compressed batch made
        before the broker lock is taken.

        A batch weighing more than the topic's ``max.message.bytes`` is refused whole, as Kafka
        refuses it: ``batch_bytes`` is its size as a Kafka client sent it (the Kafka listener
        knows it); without it, or when the topic stores it with another codec than it came
        with (Kafka weighs the batch it keeps), the records are weighed as Kafka's record
        format v2 holds them (a compressed batch by its compressed bytes).

        A create time outside the window the topic accepts around the broker's clock (its
        ``message.timestamp.before.max.ms`` and ``message.timestamp.after.max.ms``; one hour
        ahead at most by default, as in Kafka 4) refuses the batch too. A record a Kafka
        client sent (a :class:`~pcmodel.topics.log_records.WireRecord`) may carry a negative
        create time, as Kafka's broker takes it: ``-1`` means none (kept as ``-1``, never
        refused), any other is judged by the window like every create time.

        A compacted topic (``cleanup.policy=compact``) refuses a batch with a record without a key.

        Raises ``MessageSizeTooLargeError`` for a batch too large, ``InvalidTimestampError``
        for a create time out of range, ``InvalidRecordError`` for a record without a key on a
        compacted topic (both with ``record_errors``, ``(index, message)`` for each record
        refused, as Kafka lists them), ``UnknownTopicOrPartitionError``,
        ``UnsupportedCompressionTypeError`` for a codec that is unknown or not installed,
        ``TypeError`` / ``IllegalArgumentError`` for malformed records; nothing is appended then.
        """
        return self._append(topic, partition, records, timeout, compression, batch_bytes)

    def _append(self, topic: str, partition: int, records: Sequence[NewRecord | tuple],
                timeout: float | None, compression: str | None, batch_bytes: int | None,
                producer: tuple[int, int, bool] | None = None,
                coordinator_check: bool = True, first_sequence: int = -1) -> AppendResult:
        """:meth:`append`; ``producer`` is ``(producer_id, producer_epoch, transactional)`` for
        an idempotent producer's batch, checked against its transaction under the lock (by
        this broker's coordinator unless ``coordinator_check`` is False: see
        :meth:`_check_transactional`), and stored with ``first_sequence``, the batch's first
        sequence number, for a fetch to send as the producer wrote it."""
        tp = validate_topic_partition((topic, partition))
        _check_timeout(timeout)
        batch = validate_records(records)
        if not batch:
            raise IllegalArgumentError("append needs at least one record")
        try:
            get_codec(compression)
        except KafkaConfigurationError as exc:
            raise UnsupportedCompressionTypeError(str(exc)) from None
        with self._lock:
            self._check_open()
            log = self._log(tp)
            settings = log.settings
        now_ms = self._timestamp_clock()
        if settings.key_error(batch) is not None or \
                settings.timestamp_error(batch, now_ms) is not None:
            raise _refused_records(settings, batch, now_ms, tp)
        limit = settings.max_message_bytes
        compressed = None
        stored, level = settings.stored_codec(compression)
        if stored != compression:
            batch_bytes = None  # Kafka weighs the batch it keeps: the one sent is gone
        codec = get_codec(stored, level)  # installed: the config said so
        if codec is not None:
            compressed = CompressedBatch.build(codec, batch)
            if batch_bytes is None:
                batch_bytes = RECORD_BATCH_OVERHEAD + compressed.stored_size
        if batch_bytes is None and record_batch_size_bound(batch) > limit:
            batch_bytes = record_batch_size(batch)  # weighed only when it may be too heavy
        if batch_bytes is not None and batch_bytes > limit:
            raise MessageSizeTooLargeError(
                f"The record batch size in the append to {tp.topic}-{tp.partition} is "
                f"{batch_bytes} bytes which exceeds the maximum configured value of {limit} "
                "(the topic's max.message.bytes); send smaller batches or raise it")
        log.reserve(len(batch), timeout)
        with self._lock:
            current = self._topics.get(topic)
            if (
                self._closed
                or current is None
                or tp.partition >= len(current.logs)
                or current.logs[tp.partition] is not log
            ):
                log.cancel_reservation(len(batch))
                raise UnknownTopicOrPartitionError(
                    f"topic {topic!r} was deleted while the append waited"
                )
            transactional = None
            if producer is not None:
                try:
                    transactional = self._check_transactional(tp, log, *producer,
                                                              coordinator_check)
                except InvalidTxnStateError:
                    log.cancel_reservation(len(batch))
                    raise
            base, append_time, max_timestamp = log.append(
                batch, compressed=compressed, transactional=transactional,
                producer=None if producer is None else (*producer[:2], first_sequence))
            self._data_arrived.notify_all()
            # Kafka's batch maxTimestamp starts at NO_TIMESTAMP: never below -1.
            return AppendResult(base, log.log_start_offset,
                                append_time if log.settings.log_append_time else -1,
                                max(max_timestamp, NO_TIMESTAMP))

    def describe_producers(
        self, partitions: Iterable[TopicPartition],
    ) -> dict[TopicPartition, PartitionProducers]:
        """Kafka's DescribeProducers: the idempotent producers each partition's log remembers.

        Per partition, in the order asked: its :class:`~pcmodel.topics.structs.ActiveProducer`
        entries by producer id (each one's epoch, last sequence number and last timestamp, and
        where its transaction open there began), or
        the partition's ``error`` (``UnknownTopicOrPartitionError``). A producer that never
        wrote to the partition is not listed there; a deleted topic's producers are forgotten.
        A producer silent there for ``producer_id_expiration_ms`` is forgotten (see
        :meth:`expire_producers`). Returns at once; raises only ``TypeError`` / ``ValueError``
        for a bare str or an entry that is not a topic partition.
        """
        asked = _check_partitions("partitions", partitions)
        results: dict[TopicPartition, PartitionProducers] = {}
        with self._lock:
            self._check_open()
            self._check_producer_expiration()
            for tp in asked:
                try:
                    log = self._log(tp)
                except UnknownTopicOrPartitionError as exc:
                    results[tp] = PartitionProducers((), exc)
                    continue
                open_at = {} if log.transactions is None else log.transactions.open
                results[tp] = PartitionProducers(tuple(
                    p._replace(current_transaction_start_offset=open_at.get(p.producer_id, -1))
                    for p in self._producers.active(tp)))
        return results

    def append_idempotent(
        self,
        topic: str,
        partition: int,
        records: Sequence[NewRecord | tuple],
        *,
        producer_id: int,
        producer_epoch: int,
        first_sequence: int,
        timeout: float | None = None,
        compression: str | None = None,
        batch_bytes: int | None = None,
        transactional: bool = False,
    ) -> AppendResult:
        """:meth:`append` for an idempotent producer: a retried batch is not appended twice.

        ``first_sequence`` numbers the first record (the producer's per-partition counter).
        A batch the broker already appended returns its original :class:`AppendResult`; the
        first batch of a producer the partition does not know (never did, or forgot: see
        :meth:`expire_producers`) is appended whatever its sequence number, as in Kafka.
        ``transactional`` marks a transactional producer's batch: it is part of the producer's
        ongoing transaction, which must hold the partition (see :meth:`add_partitions_to_txn`).
        Raises ``OutOfOrderSequenceNumberError`` for a gap, ``InvalidProducerEpochError`` for a
        fenced producer, ``InvalidTxnStateError`` for a transactional batch outside a
        transaction holding the partition (or a plain batch from a producer whose transaction
        is open there), ``IllegalArgumentError`` for an id, epoch or sequence beyond its int64,
        int16 or int32 (or below 0), and whatever :meth:`append` raises; nothing is appended then.
        """
        _check_flag("transactional", transactional)
        with self._lock:
            self._check_producer_expiration()
        return self._producers.append(
            (topic, partition), producer_id, producer_epoch, first_sequence, len(records),
            lambda: self._append(topic, partition, records, timeout, compression, batch_bytes,
                                 (producer_id, producer_epoch, transactional),
                                 first_sequence=first_sequence),
        )

    def expire_producers(self, now_ms: int | None = None) -> dict[TopicPartition, tuple[int, ...]]:
        """Run Kafka's producer-expiration check now, as at ``now_ms`` (epoch ms; default: the
        broker's wall clock): each partition forgets the idempotent producers whose newest
        batch there has a largest timestamp ``producer_id_expiration_ms`` or more before it.
        Returns the producer ids forgotten, per partition (those with any). Returns at once;
        a producer whose append is under way is judged at the next check.
        """
        if now_ms is not None:
            _check_int("now_ms", now_ms, 0, IllegalArgumentError)
        with self._lock:
            self._check_open()
            return self._expire_producers(self._timestamp_clock() if now_ms is None else now_ms)

    def fetch(
        self,
        offsets: Mapping[TopicPartition, int],
        *,
        max_records: int = 500,
        timeout: float = 0.0,
        replica_id: int = -1,
        isolation_level: str = "read_uncommitted",
        whole_batches: bool = False,
        cancel: threading.Event | None = None,
    ) -> dict[TopicPartition, FetchResult]:
        """Read from several partitions at once, each from its given offset; long-polls.

        Returns as soon as at least one partition has records (or an error), or after
        ``timeout`` seconds with empty results. At most ``max_records`` records in total, taken
        from the partitions in the order given (rotate the order for fairness). A partition whose
        offset is outside ``[log_start_offset, end_offset]`` answers ``OFFSET_OUT_OF_RANGE``;
        one that no longer exists, ``UNKNOWN_TOPIC_OR_PARTITION`` (as :class:`FetchError`).
        Raises ``TypeError`` / ``IllegalArgumentError`` for malformed requests (``offsets``
        not a mapping, an offset outside 0 to an int64's max, ``whole_batches`` not a bool).

        Consumers (``replica_id=-1``, as in Kafka's FetchRequest) read only below each
        partition's high watermark; a follower replica (its broker id, ``>= 0``) reads up to the
        log end, since replication is consumption of the leader's log. With
        ``isolation_level="read_committed"`` a consumer reads only below each partition's last
        stable offset, and each result lists the aborted transactions of what it read (see
        :class:`FetchResult`). With ``whole_batches`` each partition answers whole batches,
        from the start of the one holding its offset, and may exceed ``max_records`` to end
        the last one (see :class:`FetchResult`): what the Kafka listener sends.

        ``cancel`` (a client in this process: a ``threading.Event``) abandons the wait: once
        it is set the fetch stops waiting and returns what it read (empty results) when it
        next wakes, at the latest when :meth:`wake_fetches` is called (a consumer's
        ``close()``); ``TypeError`` for anything but an event or ``None``.
        """
        read_committed = check_isolation_level(isolation_level)
        asked = _check_mapping("offsets", offsets, "TopicPartition to int")
        requests = [(validate_topic_partition(tp),
                     _check_int(f"offset of {tp}", offset, 0, IllegalArgumentError, INT64_MAX))
                    for tp, offset in asked.items()]
        _check_int("max_records", max_records, 1, IllegalArgumentError)
        _check_timeout(timeout)
        _check_flag("whole_batches", whole_batches)
        _check_cancel(cancel)
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self._check_open()
                self._check_transactions()
                results, found = self._read(requests, max_records, replica_id >= 0,
                                            read_committed, whole_batches)
                remaining = deadline - time.monotonic()
                # cancel is read under the lock that wake_fetches() takes to notify: a cancel
                # set before that notify is seen here, or the notify finds this fetch waiting.
                if found or remaining <= 0 or (cancel is not None and cancel.is_set()):
                    return results
                self._data_arrived.wait(remaining)

    def wake_fetches(self) -> None:
        """Wake every fetch waiting at this broker: one whose ``cancel`` event is set returns,
        the others read again and go on waiting (so do the other waiters on the condition,
        ``await_metadata_change``): a wake-up for nothing, which each loop survives. Returns
        at once. Not a client method: an event cannot travel to a broker process."""
        with self._lock:
            self._data_arrived.notify_all()

    # --- internals (called with the lock held) -------------------------------------------------

    def _check_producer_expiration(self) -> None:
        """Run the producer-expiration check if its interval has passed since the last one."""
        now_ms = self._check_due(self.producer_id_expiration_check_interval_ms,
                                 self._producers_checked_ms)
        if now_ms is not None:
            self._expire_producers(now_ms)

    def _expire_producers(self, now_ms: int) -> dict[TopicPartition, tuple[int, ...]]:
        self._producers_checked_ms = now_ms
        forgotten: dict[TopicPartition, list[int]] = {}
        for producer_id, key in self._producers.expire(now_ms, self._in_transaction):
            forgotten.setdefault(TopicPartition(*key), []).append(producer_id)
        return {tp: tuple(sorted(ids)) for tp, ids in sorted(forgotten.items())}

    def _in_transaction(self, producer_id: int, key: tuple[str, int]) -> bool:
        """Whether the producer has a transaction open in partition ``key``."""
        topic = self._topics.get(key[0])
        if topic is None or key[1] >= len(topic.logs):
            return False
        transactions = topic.logs[key[1]].transactions
        return transactions is not None and producer_id in transactions.open

    def _read(
        self,
        requests: Sequence[tuple[TopicPartition, int]],
        max_records: int,
        to_log_end: bool = False,
        read_committed: bool = False,
        whole_batches: bool = False,
    ) -> tuple[dict[TopicPartition, FetchResult], bool]:
        results: dict[TopicPartition, FetchResult] = {}
        budget = max_records
        found = False
        for tp, offset in requests:
            topic = self._topics.get(tp.topic)
            if topic is None or tp.partition >= len(topic.logs):
                results[tp] = FetchResult((), -1, -1, FetchError.UNKNOWN_TOPIC_OR_PARTITION)
                found = True
                continue
            log = topic.logs[tp.partition]
            try:
                upper = (None if to_log_end else
                         log.last_stable_offset if read_committed else log.high_watermark)
                stored: tuple[StoredBatch, ...] = ()
                if not budget:
                    records = ()
                elif whole_batches:
                    found_records, stored = log.read_batches(offset, budget, upper=upper)
                    records = tuple(found_records)
                else:
                    records = tuple(log.read(offset, budget, upper=upper))
            except OffsetOutOfRangeError:
                results[tp] = FetchResult(
                    (), log.high_watermark, log.log_start_offset, FetchError.OFFSET_OUT_OF_RANGE
                )
                found = True
                continue
            budget = max(0, budget - len(records))  # whole batches may take more
            found = found or bool(records)
            batches, aborted = (), None
            if log.transactions is not None:
                first = min(offset, records[0].offset) if records else offset
                end = records[-1].offset + 1 if records else offset
                batches = log.transactions.batches_in(first, end)
                if read_committed:
                    aborted = log.transactions.aborted_in(first, end)
            results[tp] = FetchResult(records, log.high_watermark, log.log_start_offset, None,
                                      log.last_stable_offset, batches, aborted, stored)
        return results, found

    def _check_transactional(self, tp: TopicPartition, log: PartitionLog, producer_id: int,
                             producer_epoch: int, transactional: bool,
                             coordinator_check: bool = True) -> tuple[int, int] | None:
        """Whether an idempotent producer's batch may be appended to ``tp`` now: a
        transactional one only in a transaction holding the partition, a plain one only if the
        producer has no transaction open there (Kafka's ``ProducerAppendInfo``). Returns what
        :meth:`PartitionLog.append` takes as ``transactional``. Without ``coordinator_check``
        a transactional batch is taken as holding the partition: a cluster's coordinator,
        not this broker's, decided that."""
        if transactional:
            if coordinator_check and not self._transactions.holds(producer_id, producer_epoch,
                                                                  tp):
                raise InvalidTxnStateError(
                    f"partition {tp.topic}-{tp.partition} was not added to the transaction of "
                    f"producer {producer_id} (epoch {producer_epoch}), or no transaction of it "
                    "is ongoing")
            return producer_id, producer_epoch
        if log.transactions is not None and producer_id in log.transactions.open:
            raise InvalidTxnStateError(
                f"producer {producer_id} sent a non-transactional batch to "
                f"{tp.topic}-{tp.partition}, where its transaction is open")
        return None
