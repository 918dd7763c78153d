"""KafkaProducer: send() into a bounded record accumulator, a sender thread appends to the logs.

Prior art: kafka-python's ``kafka/producer/kafka.py`` (configuration names, ``send()`` checks),
``record_accumulator.py`` and ``buffer.py`` (batches per partition, memory in ``batch_size``
pages), ``future.py`` (one future per batch, one light future per record) and ``sender.py``;
the Java client's ``RecordAccumulator`` / ``BufferPool`` for what blocking means.

The path of one record::

    send() ── serialize, choose partition ──▶ open batch for the partition ─┐
                                                                           │ (a new batch is
    [ accumulator: bounded buffer of batches, buffer_memory // batch_size ] ◀┘  put here: blocks
           │ sender thread: get() the oldest batch, wait until it is ready       while full)
           ▼ (full, linger_ms passed, flush() or close())
    broker.append(topic, partition, records) ──▶ futures resolved, callbacks run (sender thread)

The accumulator is a layer-1 bounded buffer (:func:`pcmodel.buffers.make_buffer`). Each batch takes
one slot and holds at most ``batch_size`` bytes of records, so the buffer's capacity of
``buffer_memory // batch_size`` slots is ``buffer_memory`` bytes, accounted as kafka-python's
buffer pool does: a batch costs a whole ``batch_size`` page however full it is, and a record bigger
than ``batch_size`` travels alone in a batch of its own that also costs one page. When every slot
is taken, ``send()`` blocks in ``put()`` for up to ``max_block_ms`` and then raises
``KafkaTimeoutError``: backpressure from a slow broker reaches the application.

Ordering: batches leave the buffer in FIFO order and a partition's records are appended to its
newest batch only, so one producer's records reach each partition in ``send()`` order. Opening a
new batch is serialised by one lock (``_opening``) so that batches enter the buffer in the order
they become visible to other sending threads.

Two simplifications of Kafka's design: the batch the sender is appending has left the buffer, so
it no longer counts against ``buffer_memory`` (Kafka frees a batch's memory only when the broker
answered); and the sender handles one batch at a time, oldest first, so a batch still lingering
at the head holds back full ones behind it for at most ``linger_ms``.

Differences from kafka-python, on purpose: ``broker=`` replaces ``bootstrap_servers``;
``batch_size`` must be at least 1 (``batch_size=1`` sends every record in a batch of its own,
which is what ``0`` means in Kafka); a failing serializer is wrapped in ``SerializationError``
(the Java client's behaviour; kafka-python lets its exception through). As in kafka-python,
keys and values that are not bytes after serialization, and headers that are not a list of
``(str, bytes)``, raise ``TypeError``; a header's value may be ``None``, as in the Java client
(Kafka's null header value; kafka-python refuses it), and a consumer reads it back as ``None``.
A record with neither key nor value is sent, as the Java client's ``ProducerRecord`` allows
(kafka-python raises ``ValueError``); only a compacted topic refuses it, for its missing key.
The defaults are Kafka's: ``acks="all"``, idempotence, ``retries`` until
``delivery_timeout_ms``; where kafka-python differs, the Java client's rule is followed (see
:mod:`~pcmodel.topics.producer_config`).
Every kafka-python key is accepted: those with no effect here are listed with the reason in
``docs/settings.md``.

Where the parts live: this module is the facade with kafka-python's public surface (``send``,
``flush``, ``close``, ``metrics``); :mod:`~pcmodel.topics.producer_transactions` the calls of a
transactional producer (its states: :mod:`~pcmodel.topics.transaction_manager`; a lone
``Broker`` has transactions, a ``Cluster`` not); :mod:`~pcmodel.topics.accumulator` holds the
batches and the bounded accumulator they wait in, :mod:`~pcmodel.topics.sender` the sender thread,
:mod:`~pcmodel.topics.futures` ``FutureRecordMetadata``,
:mod:`~pcmodel.topics.producer_metadata` the partitions of each topic (cached, waited for),
:mod:`~pcmodel.topics.producer_partitioning` how each record's partition is chosen,
:mod:`~pcmodel.topics.producer_serialization` the key, value and header checks,
:mod:`~pcmodel.topics.producer_metrics` ``metrics()``,
:mod:`~pcmodel.topics.producer_closing` ``close()`` and what a failed construction frees, and
:mod:`~pcmodel.topics.producer_config` the configuration checks. The parts are mixins of
:class:`KafkaProducer` sharing its state under one lock, ``_lock``.
"""

from __future__ import annotations

import atexit
import functools
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from pcmodel.buffers import make_buffer
from pcmodel.topics.accumulator import AccumulatorMixin, ProducerState
from pcmodel.topics.broker_checks import _check_int
from pcmodel.topics.brokers_clock import brokers_wall_clock
from pcmodel.topics.errors import IllegalArgumentError, IllegalStateError, KafkaTimeoutError
from pcmodel.topics.futures import FutureRecordMetadata, ProducerBatch
from pcmodel.topics.partitioner import Partitioner
from pcmodel.topics.producer_closing import ProducerClosingMixin, close_at_exit
from pcmodel.topics.producer_config import check_extra_keys, check_timeout, validate_config
from pcmodel.topics.producer_metadata import ProducerMetadataMixin, topic_name
from pcmodel.topics.producer_metrics import ProducerMetricsMixin
from pcmodel.topics.producer_partitioning import PartitioningMixin
from pcmodel.topics.producer_serialization import (
    MAX_TIMESTAMP_MS,
    MOST_FRAMING_BEYOND_OVERHEAD,
    RECORD_OVERHEAD,
    SerializerMixin,
    _check_headers,
)
from pcmodel.topics.producer_transactions import TransactionalProducerMixin
from pcmodel.topics.sender import SenderMixin
from pcmodel.topics.serde import converter
from pcmodel.topics.structs import TopicPartition
from pcmodel.topics.transaction_manager import TransactionManager

__all__ = ["FutureRecordMetadata", "KafkaProducer"]


class KafkaProducer(AccumulatorMixin, SenderMixin, ProducerMetadataMixin, SerializerMixin,
                    TransactionalProducerMixin, ProducerMetricsMixin, PartitioningMixin,
                    ProducerClosingMixin):
    """Sends records to a broker's partition logs, batching them per partition.

    ``KafkaProducer(broker=b, value_serializer=str.encode, linger_ms=5)``; every other keyword is a
    kafka-python producer setting with its meaning there (see the parameters below). The other
    keys kafka-python has are accepted with no effect (``docs/settings.md`` says why); a key
    nobody has raises ``KafkaConfigurationError`` naming the closest legal one.

    Parameters:
        broker: a ``Broker`` or a ``RemoteBroker`` (anything with the broker's client methods).
        client_id: a str naming this producer (the sender thread is named after it).
        key_serializer / value_serializer: ``f(obj) -> bytes``, or an object with
            ``serialize(topic, headers, data)`` (kafka-python 3's and the Java client's
            ``Serializer``, closed by :meth:`close`; see :mod:`~pcmodel.topics.serde`); without
            one, keys and values must already be bytes (or ``None``).
        acks: ``0``, ``1`` or ``"all"`` (``-1``). On a ``Cluster``, ``1`` waits for the
            partition's leader and ``"all"`` for every in-sync replica; a lone ``Broker`` holds
            the only replica, so there they mean the same. With ``0`` metadata carries offset
            ``-1``, as in kafka-python.
        retries / retry_backoff_ms: how often, and how far apart, a batch whose append failed
            with a retriable error (``error.retriable``) is tried again before its futures fail.
            Default ``float('inf')`` (kafka-python 3; Java: ``Integer.MAX_VALUE``).
        delivery_timeout_ms: once this long has passed since a batch was created (waiting,
            being appended or between retries) its futures fail with ``KafkaTimeoutError``, as
            in the Java client (see :mod:`~pcmodel.topics.sender`); it may still have been
            stored. At least ``linger_ms + request_timeout_ms``; unset, 120000 or that sum.
        batch_size: most bytes of records in one batch (at least 1).
        linger_ms: how long a batch that is not full waits for more records before it is sent.
        buffer_memory: bytes the accumulator holds (``buffer_memory // batch_size`` batches).
        max_block_ms: how long ``send()`` waits for room (and for topic metadata) before
            ``KafkaTimeoutError``.
        max_request_size: largest record ``send()`` accepts, weighed as the Java client
            weighs it: a batch of that record alone, batch header included.
        request_timeout_ms: timeout of each ``broker.append`` (which may wait on a log whose
            retention policy is ``"block"``).
        metadata_max_age_ms: how long a topic's partition count is cached.
        partitioner: ``"default"`` (Kafka 3.3+'s built-in partitioner, KIP-794: keyless
            records stick to a partition for ``batch_size`` bytes, the next one favouring
            short queues), ``"sticky"`` (KIP-480) or ``"round_robin"`` for records without a
            key, or a :class:`~pcmodel.topics.partitioner.Partitioner` instance, or any object
            with Kafka's clients' ``partition(topic, key, serialized_key, value,
            serialized_value, cluster)``, which then decides for every record (see
            :mod:`~pcmodel.topics.client_partitioner`). Otherwise keyed records always go to
            ``default_partition(serialized_key, partitions)``.
        partitioner_adaptive_partitioning_enable / partitioner_availability_timeout_ms /
            partitioner_ignore_keys: Kafka's ``partitioner.*`` settings of the built-in
            partitioner (defaults ``True``, ``0``, ``False``; see
            :mod:`~pcmodel.topics.producer_partitioning`).
        compression_type: ``None``, ``"gzip"``, ``"snappy"``, ``"lz4"`` or ``"zstd"``: each
            batch is stored compressed in the log (``broker.log_stats(topic)`` shows the
            saving). A codec whose package is missing raises ``KafkaConfigurationError``.
        allow_auto_create_topics: let ``send()`` create a missing topic (if the broker allows).
        enable_idempotence: a producer id and per-batch sequence numbers, so that a retried
            batch is stored once. Unset: ``True`` unless a setting conflicts, then silently
            ``False``; ``True`` with a conflict is an error (the Java client's rule, see
            :func:`~pcmodel.topics.producer_config.check_idempotence`).
        transactional_id: makes the producer transactional (see the module); ``send()`` is
            then allowed only between ``begin_transaction()`` and its commit or abort.
        transaction_timeout_ms: a transaction open longer is aborted, and the producer fenced.
        buffer_variant: which layer-1 buffer variant the accumulator uses (pcmodel's own key).
        buffer_instrument: ``"off"``, ``"counters"`` or ``"timeline"`` for the accumulator's
            statistics, read with :meth:`buffer_stats` (pcmodel's own key).
    """

    def __init__(
        self,
        *,
        broker: Any = None,
        client_id: str | None = None,
        key_serializer: Callable[[Any], bytes] | Any | None = None,
        value_serializer: Callable[[Any], bytes] | Any | None = None,
        acks: int | str = "all",
        retries: int | float = float("inf"),
        retry_backoff_ms: int = 100,
        batch_size: int = 16384,
        linger_ms: float = 0,
        buffer_memory: int = 33554432,
        max_block_ms: int = 60000,
        max_request_size: int = 1048576,
        request_timeout_ms: int = 30000,
        delivery_timeout_ms: int | None = None,
        metadata_max_age_ms: int = 300000,
        partitioner: str | Partitioner | Any = "default",
        partitioner_adaptive_partitioning_enable: bool = True,
        partitioner_availability_timeout_ms: float = 0,
        partitioner_ignore_keys: bool = False,
        compression_type: str | None = None,
        allow_auto_create_topics: bool = True,
        enable_idempotence: bool | None = None,
        transactional_id: str | None = None,
        transaction_timeout_ms: int = 60000,
        buffer_variant: str = "condition",
        buffer_instrument: str = "off",
        **configs: Any,
    ) -> None:
        check_extra_keys(configs)
        self.config = validate_config(broker, {
            "client_id": client_id or f"producer-{id(self):x}",
            "acks": acks,
            "retries": retries,
            "retry_backoff_ms": retry_backoff_ms,
            "batch_size": batch_size,
            "linger_ms": linger_ms,
            "buffer_memory": buffer_memory,
            "max_block_ms": max_block_ms,
            "max_request_size": max_request_size,
            "request_timeout_ms": request_timeout_ms,
            "delivery_timeout_ms": delivery_timeout_ms,
            # No effect here, but it decides whether idempotence may be on.
            "max_in_flight_requests_per_connection": configs.get(
                "max_in_flight_requests_per_connection", 5),
            "metadata_max_age_ms": metadata_max_age_ms,
            "compression_type": compression_type,
            "allow_auto_create_topics": allow_auto_create_topics,
            "enable_idempotence": enable_idempotence,
            "transactional_id": transactional_id,
            "transaction_timeout_ms": transaction_timeout_ms,
            "buffer_variant": buffer_variant,
            "buffer_instrument": buffer_instrument,
        })
        serializers = {"key_serializer": key_serializer, "value_serializer": value_serializer}
        convert_key, key_sees_headers = converter("key_serializer", key_serializer, "serialize")
        convert_value, value_sees_headers = converter("value_serializer", value_serializer,
                                                      "serialize")
        self._batch_size = batch_size
        self._init_partitioning(partitioner, {  # checked before anything is connected
            "partitioner_adaptive_partitioning_enable": partitioner_adaptive_partitioning_enable,
            "partitioner_availability_timeout_ms": partitioner_availability_timeout_ms,
            "partitioner_ignore_keys": partitioner_ignore_keys})
        self._given_broker = broker
        self._serializers = serializers  # as given: the objects among them are closed by close()
        self._key_serializer = convert_key
        self._value_serializer = convert_value
        # Which of them are objects that take the record's headers (see pcmodel.topics.serde).
        self._key_sees_headers = key_sees_headers
        self._value_sees_headers = value_sees_headers
        self._acks = self.config["acks"]
        # Idempotence: a producer id and epoch from the broker, and per partition the sequence
        # number of the next record (kept by the sender thread alone). A transactional producer
        # gets its id from init_transactions(), and its state from the transaction manager.
        self._transaction_manager = (
            None if transactional_id is None else TransactionManager(transactional_id))
        self._transaction_calls = threading.Lock()  # one transactional call at a time
        self._producer_id: tuple[int, int] | None = None  # asked for once connected
        self._sequences: dict[TopicPartition, int] = {}
        self._linger = linger_ms / 1000
        self._delivery_timeout = self.config["delivery_timeout_ms"] / 1000
        self._max_block = max_block_ms / 1000
        # Below this, no record can be too large (see _check_record_size).
        self._size_checked_from = min(max_request_size - MOST_FRAMING_BEYOND_OVERHEAD,
                                      buffer_memory)
        self._metadata_max_age = metadata_max_age_ms / 1000
        self._clock = time.monotonic

        # Locking protocol. ``_lock`` guards ``_open``, ``_incomplete``, ``_state``, the counters
        # and the contents of open batches; it is never held while blocking, serializing or
        # calling the broker or a callback. ``_batch_ready`` (on ``_lock``) is what the sender
        # waits on for its current batch to become ready. ``_opening`` is held by the one send()
        # that is putting a new batch into the accumulator (possibly blocking there), so batches
        # enter the buffer in the order in which they become visible in ``_open``.
        self._lock = threading.Lock()
        self._batch_ready = threading.Condition(self._lock)
        self._opening = threading.Lock()
        self._open: dict[TopicPartition, ProducerBatch] = {}
        self._incomplete: set[ProducerBatch] = set()
        self._flushing = 0
        self._state = ProducerState.OPEN
        # _aborted: close() ran out of time, unsent batches fail; _stopped: the sender exited.
        self._aborted = threading.Event()
        self._stopped = threading.Event()
        self._release_when_stopped = False  # close() from a callback: see SenderMixin
        self._metadata: dict[str, tuple[list[int], float]] = {}
        self._metadata_conn: Any = None
        self._tps: dict[str, dict[int, TopicPartition]] = {}
        self._counts = {"records": 0, "errors": 0, "batches": 0, "wait": 0.0}

        self._accumulator = make_buffer(
            buffer_variant,
            buffer_memory // batch_size,
            instrument=buffer_instrument,
            name=f"{self.config['client_id']}-accumulator",
        )
        # As kafka-python: the sender is a daemon thread and an atexit hook closes the producer,
        # flushing what is queued. A forgotten close() thus neither loses queued records at a
        # normal exit nor keeps the interpreter waiting for ever for a non-daemon thread.
        self._sender = threading.Thread(
            target=self._run_sender, name=f"{self.config['client_id']}-sender", daemon=True
        )
        self._close_at_exit = functools.partial(close_at_exit, weakref.ref(self))
        self._broker = broker  # until connected: _release() never closes the given broker
        try:  # a producer that fails from here on keeps no connection, thread or exit hook
            # One connection of its own: the broker itself in process, a proxy otherwise.
            self._broker = broker.connect()
            if self.config["enable_idempotence"] and transactional_id is None:
                self._producer_id = tuple(self._broker.init_producer_id())
            # Records are dated by the brokers' wall clock: a stepped cluster's moves with its
            # virtual time (see pcmodel.topics.brokers_clock).
            self._wall_ms = brokers_wall_clock(self._broker)
            atexit.register(self._close_at_exit)
            self._sender.start()
        except BaseException:
            self._release()
            raise

    # --- sending -----------------------------------------------------------------------------

    def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        headers: Sequence[tuple[str, bytes | None]] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> FutureRecordMetadata:
        """Queue one record for ``topic`` and return a future of its metadata.

        Blocks only while the accumulator is full or topic metadata is being waited for (a
        topic that does not exist yet, a ``partition`` the topic does not have yet), for at
        most ``max_block_ms`` in all, then raises ``KafkaTimeoutError``, as the Java client
        does. Raises, with nothing queued: ``IllegalStateError`` after ``close()`` and, on a
        transactional producer, outside a transaction (after a failed or fatal one: its error);
        ``UnknownTopicOrPartitionError`` for a topic the broker does not have; ``TypeError``
        for a ``topic`` not a str (a ``StrEnum`` member is sent as its text);
        ``IllegalArgumentError`` for a negative partition, a header key with no UTF-8 form;
        ``TypeError`` / ``IllegalArgumentError`` for a timestamp not an int from 0 to 2**63-1;
        ``SerializationError`` when a serializer fails or a key/value is not bytes;
        ``MessageSizeTooLargeError`` for a record that could never fit.
        """
        # This is the hot path of every benchmark: checks are ordered so that the common case
        # (bytes or serialized values, no headers, no explicit timestamp) does little work.
        if self._state is not ProducerState.OPEN:
            raise IllegalStateError("send() on a closed KafkaProducer; create a new producer")
        now = self._clock()
        if type(topic) is not str:  # a str subclass becomes its text; anything else: TypeError
            topic = topic_name(topic)
        if not topic:
            raise IllegalArgumentError("topic must be a non-empty str, got ''")
        if timestamp_ms is not None and (type(timestamp_ms) is not int
                                         or not 0 <= timestamp_ms <= MAX_TIMESTAMP_MS):
            timestamp_ms = int(_check_int("timestamp_ms", timestamp_ms, 0, IllegalArgumentError,
                                          MAX_TIMESTAMP_MS))  # an IntEnum: its plain value
        # As kafka-python: -1 without headers (None or an empty list), as for a missing key.
        if headers is None:
            header_list, header_size = (), -1
        else:
            header_list, header_size = _check_headers(headers)
            if not header_list:
                header_size = -1
        # The headers a serializer object sees, and may add to (as the Java client's may).
        written = None
        if self._key_sees_headers or self._value_sees_headers:
            written = list(header_list)
        if key is None:
            key_bytes, key_size = None, -1
        elif type(key) is bytes and self._key_serializer is None:
            key_bytes, key_size = key, len(key)
        else:
            key_bytes = self._serialize("key", self._key_serializer, topic,
                                        written if self._key_sees_headers else None, key)
            key_size = -1 if key_bytes is None else len(key_bytes)
        if value is None:
            value_bytes, value_size = None, -1
        elif type(value) is bytes and self._value_serializer is None:
            value_bytes, value_size = value, len(value)
        else:
            value_bytes = self._serialize("value", self._value_serializer, topic,
                                          written if self._value_sees_headers else None, value)
            value_size = -1 if value_bytes is None else len(value_bytes)
        if written is not None and tuple(written) != header_list:
            header_list, header_size = _check_headers(written)
            if not header_list:
                header_size = -1
        size = RECORD_OVERHEAD
        if header_size > 0:
            size += header_size
        if key_size > 0:
            size += key_size
        if value_size > 0:
            size += value_size
        # Perhaps too large (each header may add 10 bytes of framing): weighed as Java weighs it.
        if size + 10 * len(header_list) > self._size_checked_from:
            self._check_record_size(size, key_bytes, value_bytes, header_list)
        partitions = self._partitions_for_send(topic, partition, now)
        # A client partitioner chooses now, and again if the record would open a new batch.
        partition, repartition = self._client_choice(topic, partition, key, key_bytes, value,
                                                     value_bytes, partitions)
        if timestamp_ms is None:
            timestamp_ms = self._wall_ms()
        # A plain tuple in NewRecord's field order: the broker accepts it, and it is cheaper.
        record = (key_bytes, value_bytes, header_list, timestamp_ms)
        sizes = (key_size, value_size, header_size)
        deadline = now + self._max_block
        # A commit or an abort waits for the send() calls let in here (rule 2 of
        # pcmodel.topics.transaction_manager): no record of the transaction slips past them.
        txn = self._transaction_manager
        if txn is not None:
            txn.enter_send()
        try:
            return self._append(topic, partition, partitions, key_bytes, record, size, sizes,
                                deadline, repartition)
        finally:
            if txn is not None:
                txn.exit_send()

    # --- flush, introspection (close: pcmodel.topics.producer_closing) ------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Send every record queued so far now (ignoring ``linger_ms``) and wait for them.

        Blocks until each record sent before the call is acknowledged or failed; raises
        ``KafkaTimeoutError`` after ``timeout`` seconds. Must not be called from a callback,
        which runs in the sender thread (it would wait for itself): ``IllegalStateError``.
        """
        check_timeout("flush()", timeout, negative_ok=True)  # negative: time is up at once
        if threading.current_thread() is self._sender:
            raise IllegalStateError("flush() from a producer callback would wait for itself")
        deadline = None if timeout is None else self._clock() + timeout
        with self._lock:
            waiting = list(self._incomplete)
            self._flushing += 1
            self._batch_ready.notify_all()
        try:
            for batch in waiting:
                remaining = None if deadline is None else max(0.0, deadline - self._clock())
                if not batch.wait(remaining):
                    raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")
        finally:
            with self._lock:
                self._flushing -= 1

    def __enter__(self) -> KafkaProducer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<KafkaProducer {self.config['client_id']} {self._state.value} "
            f"batches={self._accumulator.qsize()}/{self._accumulator.maxsize}>"
        )

