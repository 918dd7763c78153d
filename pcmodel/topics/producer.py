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

Differences from kafka-python, on purpose: ``broker=`` replaces ``bootstrap_servers``; values and
keys without a serializer must be bytes (as there) and any other type is a ``SerializationError``
raised by ``send()``; ``batch_size`` must be at least 1 (``batch_size=1`` sends every record in a
batch of its own, which is what ``0`` means in Kafka); unsupported kafka-python keys raise
``KafkaConfigurationError`` instead of being ignored.
"""

from __future__ import annotations

import atexit
import functools
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

from pcmodel.buffers import VARIANTS, make_buffer
from pcmodel.errors import ShutDown
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    KafkaConfigurationError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    SerializationError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.partitioner import Partitioner, StickyPartitioner, make_partitioner
from pcmodel.topics.structs import RecordMetadata, TopicPartition

__all__ = ["FutureRecordMetadata", "KafkaProducer"]

log = logging.getLogger(__name__)

#: Bytes a record costs beyond its key, value and headers (Kafka's record framing is 14 to 21).
RECORD_OVERHEAD = 14

#: kafka-python producer keys that have no meaning here. Each raises KafkaConfigurationError
#: naming it, so that a program never believes a setting took effect when it did not.
UNSUPPORTED_KAFKA_KEYS = frozenset(
    {
        "api_version",
        "api_version_auto_timeout_ms",
        "bootstrap_topics_filter",
        "compression_type",
        "connections_max_idle_ms",
        "delivery_timeout_ms",
        "enable_idempotence",
        "kafka_client",
        "max_in_flight_requests_per_connection",
        "metric_reporters",
        "metrics_enabled",
        "metrics_num_samples",
        "metrics_sample_window_ms",
        "receive_buffer_bytes",
        "reconnect_backoff_max_ms",
        "reconnect_backoff_ms",
        "sasl_kerberos_domain_name",
        "sasl_kerberos_service_name",
        "sasl_mechanism",
        "sasl_oauth_token_provider",
        "sasl_plain_password",
        "sasl_plain_username",
        "security_protocol",
        "selector",
        "send_buffer_bytes",
        "sock_chunk_buffer_count",
        "sock_chunk_bytes",
        "socket_options",
        "ssl_cafile",
        "ssl_certfile",
        "ssl_check_hostname",
        "ssl_ciphers",
        "ssl_context",
        "ssl_crlfile",
        "ssl_keyfile",
        "ssl_password",
        "transaction_timeout_ms",
        "transactional_id",
        "allow_auto_create_topics",
    }
)

_ACKS = {0: 0, 1: 1, -1: -1, "all": -1}


class ProducerState(Enum):
    """Life cycle of a producer: sending, then draining in close(), then closed."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class FutureState(Enum):
    """Outcome of a produce request (of one batch, shared by its records' futures)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _wall_clock_ms() -> int:
    """Milliseconds since the epoch: a record's create timestamp (a date, not a duration)."""
    return time.time_ns() // 1_000_000


class _Batch:
    """Records for one partition that travel to the broker in one ``append`` call.

    ``records``/``futures`` are appended to under the producer's lock while the batch is open;
    after the sender sealed it, only the sender touches them. The outcome fields are written once,
    under ``done`` (a Condition on the batch's own lock), which futures wait on.
    """

    __slots__ = (
        "tp",
        "acks",
        "records",
        "futures",
        "nbytes",
        "created",
        "full",
        "sealed",
        "state",
        "base_offset",
        "log_start_offset",
        "error",
        "done",
    )

    def __init__(self, tp: TopicPartition, acks: int, created: float) -> None:
        self.tp = tp
        self.acks = acks
        # Tuples in the field order of pcmodel.topics.log.NewRecord, which append() takes.
        self.records: list[tuple] = []
        self.futures: list[FutureRecordMetadata] = []
        self.nbytes = 0
        self.created = created
        # full: no further record will be added (a record did not fit, or batch_size reached).
        self.full = False
        # sealed: the sender took it; send() must open a new batch for this partition.
        self.sealed = False
        self.state = FutureState.PENDING
        self.base_offset = -1
        self.log_start_offset = -1
        self.error: BaseException | None = None
        self.done = threading.Condition(threading.Lock())

    def wait(self, timeout: float | None) -> bool:
        """Block until the batch succeeded or failed, or ``timeout`` seconds; True if done."""
        with self.done:
            return self.done.wait_for(lambda: self.state is not FutureState.PENDING, timeout)

    def finish(
        self, state: FutureState, result: tuple[int, int] | None, error: BaseException | None
    ) -> list[tuple[FutureRecordMetadata, list]]:
        """Record the outcome; return each future with the callbacks it must now run.

        The callbacks are taken under the lock, so one added concurrently is either in this list
        or (seeing the outcome) run at once by ``add_callback`` itself: never lost, never twice.
        """
        with self.done:
            if result is not None:
                self.base_offset, self.log_start_offset = result
            self.error = error
            self.state = state
            self.done.notify_all()
            pending = [(f, f._take_callbacks()) for f in self.futures if f._callbacks]
        return pending


class FutureRecordMetadata:
    """The result of one ``send()``: resolves to a :class:`RecordMetadata` or to an exception.

    As kafka-python's future: ``get(timeout)`` blocks; ``add_callback(f, *args)`` calls
    ``f(*args, metadata)`` and ``add_errback(f, *args)`` calls ``f(*args, exception)`` once the
    record was acknowledged or failed, in the producer's sender thread (at once, in the calling
    thread, if that already happened). Exceptions raised by callbacks are logged on the
    ``pcmodel.topics.producer`` logger and do not stop the sender.
    """

    # One of these is made per send(), so it is kept small: the outcome lives in the batch.
    __slots__ = ("_batch", "_relative_offset", "_timestamp_ms", "_sizes", "_callbacks")

    def __init__(
        self, batch: _Batch, relative_offset: int, timestamp_ms: int, sizes: tuple[int, int, int]
    ) -> None:
        self._batch = batch
        self._relative_offset = relative_offset
        self._timestamp_ms = timestamp_ms
        # Serialized key, value and header sizes (-1 for an absent key or value).
        self._sizes = sizes
        # (is_errback, function) pairs, in the order they were added; None until the first one
        # (most records never get a callback, and an empty list per record costs GC time).
        self._callbacks: list[tuple[bool, Callable[[Any], Any]]] | None = None

    # --- state ------------------------------------------------------------------------------

    @property
    def is_done(self) -> bool:
        """True once the record was acknowledged or failed (an attribute, as in kafka-python)."""
        return self._batch.state is not FutureState.PENDING

    def succeeded(self) -> bool:
        """True if the record was appended to its partition log."""
        return self._batch.state is FutureState.SUCCEEDED

    def failed(self) -> bool:
        """True if the record could not be appended; ``exception`` says why."""
        return self._batch.state is FutureState.FAILED

    @property
    def exception(self) -> BaseException | None:
        """The error of a failed record, else ``None``."""
        return self._batch.error if self.failed() else None

    @property
    def value(self) -> RecordMetadata | None:
        """The metadata of an acknowledged record, else ``None``."""
        return self._metadata() if self.succeeded() else None

    def _metadata(self) -> RecordMetadata:
        batch = self._batch
        # acks=0 does not wait for an offset: kafka-python reports -1, and so do we.
        offset = -1 if batch.acks == 0 else batch.base_offset + self._relative_offset
        return RecordMetadata(
            batch.tp.topic,
            batch.tp.partition,
            batch.tp,
            offset,
            self._timestamp_ms,
            batch.log_start_offset,
            None,
            *self._sizes,
        )

    def get(self, timeout: float | None = None) -> RecordMetadata:
        """Block until the record is acknowledged and return its metadata.

        Raises the append's error if it failed, and ``KafkaTimeoutError`` if ``timeout`` seconds
        passed first (the record may still be sent later).
        """
        if not self._batch.wait(timeout):
            raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")
        if self._batch.state is FutureState.FAILED:
            raise self._batch.error  # type: ignore[misc]
        return self._metadata()

    # --- callbacks --------------------------------------------------------------------------

    def add_callback(
        self, f: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> FutureRecordMetadata:
        """Call ``f(*args, metadata, **kwargs)`` when the record is acknowledged; returns self."""
        return self._add(False, f, args, kwargs)

    def add_errback(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> FutureRecordMetadata:
        """Call ``f(*args, exception, **kwargs)`` if the record fails; returns self."""
        return self._add(True, f, args, kwargs)

    def add_both(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> FutureRecordMetadata:
        """Add ``f`` as both callback and errback; returns self."""
        self.add_callback(f, *args, **kwargs)
        return self.add_errback(f, *args, **kwargs)

    def _add(self, errback: bool, f: Callable, args: tuple, kwargs: dict) -> FutureRecordMetadata:
        if not callable(f):
            raise TypeError(f"a callback must be callable, got {f!r}")
        if args or kwargs:
            f = functools.partial(f, *args, **kwargs)
        batch = self._batch
        with batch.done:
            if batch.state is FutureState.PENDING:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append((errback, f))
                return self
        # Already resolved: run now, in this thread, outside the lock (as kafka-python does).
        self._run([(errback, f)])
        return self

    def _take_callbacks(self) -> list:
        callbacks, self._callbacks = self._callbacks or [], None
        return callbacks

    def _run(self, callbacks: list[tuple[bool, Callable[[Any], Any]]]) -> None:
        """Run the callbacks that match the outcome; log, never raise, their exceptions."""
        succeeded = self.succeeded()
        argument: Any = self._metadata() if succeeded else self._batch.error
        for errback, f in callbacks:
            if errback == succeeded:
                continue
            try:
                f(argument)
            except Exception:
                log.exception(
                    "error in a producer %s for %s",
                    "errback" if errback else "callback",
                    self._batch.tp,
                )

    def __repr__(self) -> str:
        return f"<FutureRecordMetadata {self._batch.tp} {self._batch.state.value}>"


class KafkaProducer:
    """Sends records to a broker's partition logs, batching them per partition.

    ``KafkaProducer(broker=b, value_serializer=str.encode, linger_ms=5)``; every other keyword is a
    kafka-python producer setting with its meaning there (see the parameters below). A key that
    kafka-python has but that means nothing here, or that nobody has, raises
    ``KafkaConfigurationError`` naming it.

    Parameters:
        broker: a ``Broker`` or a ``RemoteBroker`` (anything with the broker's client methods).
        client_id: a name for this producer (the sender thread is named after it).
        key_serializer / value_serializer: ``f(obj) -> bytes``; without one, keys and values must
            already be bytes (or ``None``).
        acks: ``0``, ``1`` or ``"all"`` (``-1``). There is one replica, so ``1`` and ``"all"``
            mean the same; with ``0`` metadata carries offset ``-1``, as in kafka-python.
        retries / retry_backoff_ms: how often, and how far apart, a batch whose append failed
            with a retriable error (``error.retriable``) is tried again before its futures fail.
        batch_size: most bytes of records in one batch (at least 1).
        linger_ms: how long a batch that is not full waits for more records before it is sent.
        buffer_memory: bytes the accumulator holds (``buffer_memory // batch_size`` batches).
        max_block_ms: how long ``send()`` waits for room (and for topic metadata) before
            ``KafkaTimeoutError``.
        max_request_size: largest serialized record ``send()`` accepts.
        request_timeout_ms: timeout of each ``broker.append`` (which may wait on a log whose
            retention policy is ``"block"``).
        metadata_max_age_ms: how long a topic's partition count is cached.
        partitioner: ``"sticky"`` (default, also ``"default"``) or ``"round_robin"`` for records
            without a key, or a :class:`~pcmodel.topics.partitioner.Partitioner` instance. Keyed
            records always go to ``default_partition(serialized_key, partitions)``.
        buffer_variant: which layer-1 buffer variant the accumulator uses (pcmodel's own key).
        buffer_instrument: ``"off"``, ``"counters"`` or ``"timeline"`` for the accumulator's
            statistics, read with :meth:`buffer_stats` (pcmodel's own key).
    """

    def __init__(
        self,
        *,
        broker: Any = None,
        client_id: str | None = None,
        key_serializer: Callable[[Any], bytes] | None = None,
        value_serializer: Callable[[Any], bytes] | None = None,
        acks: int | str = 1,
        retries: int = 0,
        retry_backoff_ms: int = 100,
        batch_size: int = 16384,
        linger_ms: float = 0,
        buffer_memory: int = 33554432,
        max_block_ms: int = 60000,
        max_request_size: int = 1048576,
        request_timeout_ms: int = 30000,
        metadata_max_age_ms: int = 300000,
        partitioner: str | Partitioner = "default",
        buffer_variant: str = "condition",
        buffer_instrument: str = "off",
        **configs: Any,
    ) -> None:
        _reject_unknown(configs)
        if broker is None:
            raise KafkaConfigurationError(
                "broker is required: KafkaProducer(broker=Broker()) or broker=RemoteBroker(handle)"
            )
        if not callable(getattr(broker, "connect", None)):
            raise KafkaConfigurationError(
                f"broker must be a Broker, a RemoteBroker or a BrokerHandle, got {broker!r}"
            )
        serializers = {"key_serializer": key_serializer, "value_serializer": value_serializer}
        for name, fn in serializers.items():
            if fn is not None and not callable(fn):
                raise KafkaConfigurationError(f"{name} must be callable, got {fn!r}")
        if acks not in _ACKS or isinstance(acks, bool):
            raise KafkaConfigurationError(f"acks must be 0, 1, -1 or 'all', got {acks!r}")
        _check_int("retries", retries, 0)
        _check_number("retry_backoff_ms", retry_backoff_ms)
        _check_int("batch_size", batch_size, 1, "use batch_size=1 to send one record per batch")
        _check_number("linger_ms", linger_ms)
        _check_int("buffer_memory", buffer_memory, batch_size, "it must hold at least one batch")
        _check_number("max_block_ms", max_block_ms)
        _check_int("max_request_size", max_request_size, 1)
        _check_number("request_timeout_ms", request_timeout_ms)
        _check_number("metadata_max_age_ms", metadata_max_age_ms)
        if buffer_variant not in VARIANTS:
            raise KafkaConfigurationError(
                f"buffer_variant must be one of {', '.join(VARIANTS)}, got {buffer_variant!r}"
            )
        if isinstance(partitioner, str):
            partitioner = make_partitioner(partitioner)
        elif not isinstance(partitioner, Partitioner):
            raise KafkaConfigurationError(
                "partitioner must be 'sticky', 'round_robin', 'default' or a Partitioner, "
                f"got {partitioner!r}"
            )

        self.config = {
            "client_id": client_id or f"producer-{id(self):x}",
            "acks": _ACKS[acks],
            "retries": retries,
            "retry_backoff_ms": retry_backoff_ms,
            "batch_size": batch_size,
            "linger_ms": linger_ms,
            "buffer_memory": buffer_memory,
            "max_block_ms": max_block_ms,
            "max_request_size": max_request_size,
            "request_timeout_ms": request_timeout_ms,
            "metadata_max_age_ms": metadata_max_age_ms,
            "buffer_variant": buffer_variant,
        }
        self._given_broker = broker
        # One connection for this producer: the broker itself in process, a proxy otherwise.
        self._broker = broker.connect()
        self._key_serializer = key_serializer
        self._value_serializer = value_serializer
        self._partitioner = partitioner
        self._acks = _ACKS[acks]
        self._batch_size = batch_size
        self._linger = linger_ms / 1000
        self._max_block = max_block_ms / 1000
        self._max_record_size = min(max_request_size, buffer_memory)
        self._metadata_max_age = metadata_max_age_ms / 1000
        self._clock = time.monotonic
        self._wall_ms = _wall_clock_ms

        # Locking protocol. ``_lock`` guards ``_open``, ``_incomplete``, ``_state``, the counters
        # and the contents of open batches; it is never held while blocking, serializing or
        # calling the broker or a callback. ``_batch_ready`` (on ``_lock``) is what the sender
        # waits on for its current batch to become ready. ``_opening`` is held by the one send()
        # that is putting a new batch into the accumulator (possibly blocking there), so batches
        # enter the buffer in the order in which they become visible in ``_open``.
        self._lock = threading.Lock()
        self._batch_ready = threading.Condition(self._lock)
        self._opening = threading.Lock()
        self._open: dict[TopicPartition, _Batch] = {}
        self._incomplete: set[_Batch] = set()
        self._flushing = 0
        self._state = ProducerState.OPEN
        # _aborted: close() ran out of time, unsent batches fail; _stopped: the sender exited.
        self._aborted = threading.Event()
        self._stopped = threading.Event()
        self._metadata: dict[str, tuple[list[int], float]] = {}
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
        self._close_at_exit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._close_at_exit)
        self._sender.start()

    # --- sending -----------------------------------------------------------------------------

    def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> FutureRecordMetadata:
        """Queue one record for ``topic`` and return a future of its metadata.

        Blocks only while the accumulator is full (or topic metadata is being fetched), for at
        most ``max_block_ms``, then raises ``KafkaTimeoutError``. Raises, with nothing queued:
        ``IllegalStateError`` after ``close()``; ``UnknownTopicOrPartitionError`` for a topic the
        broker does not have; ``IllegalArgumentError`` for a partition out of range, a negative
        timestamp, or neither key nor value; ``SerializationError`` when a serializer fails or a
        key/value is not bytes; ``MessageSizeTooLargeError`` for a record that could never fit.
        """
        # This is the hot path of every benchmark: checks are ordered so that the common case
        # (bytes or serialized values, no headers, no explicit timestamp) does little work.
        if self._state is not ProducerState.OPEN:
            raise IllegalStateError("send() on a closed KafkaProducer; create a new producer")
        now = self._clock()
        if type(topic) is not str or not topic:
            raise IllegalArgumentError(f"topic must be a non-empty str, got {topic!r}")
        if value is None and key is None:
            raise IllegalArgumentError("send() needs a key or a value (or both); both were None")
        if timestamp_ms is not None and (
            isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms < 0
        ):
            raise IllegalArgumentError(f"timestamp_ms must be an int >= 0, got {timestamp_ms!r}")
        if headers is None:
            header_list, header_size = (), 0
        else:
            header_list, header_size = _check_headers(headers)
        if key is None:
            key_bytes, key_size = None, -1
        elif type(key) is bytes and self._key_serializer is None:
            key_bytes, key_size = key, len(key)
        else:
            key_bytes = self._serialize("key", self._key_serializer, topic, key)
            key_size = -1 if key_bytes is None else len(key_bytes)
        if value is None:
            value_bytes, value_size = None, -1
        elif type(value) is bytes and self._value_serializer is None:
            value_bytes, value_size = value, len(value)
        else:
            value_bytes = self._serialize("value", self._value_serializer, topic, value)
            value_size = -1 if value_bytes is None else len(value_bytes)
        size = RECORD_OVERHEAD + header_size
        if key_size > 0:
            size += key_size
        if value_size > 0:
            size += value_size
        if size > self._max_record_size:
            raise MessageSizeTooLargeError(
                f"the record is {size} bytes when serialized, larger than max_request_size "
                f"({self.config['max_request_size']}) or buffer_memory "
                f"({self.config['buffer_memory']}); raise them or send smaller records"
            )
        cached = self._metadata.get(topic)
        if cached is not None and now - cached[1] < self._metadata_max_age:
            partitions = cached[0]
        else:
            partitions = self._partitions(topic, refresh=True)
        if partition is not None:
            if isinstance(partition, bool) or not isinstance(partition, int):
                raise IllegalArgumentError(f"partition must be an int, got {partition!r}")
            if partition not in partitions:
                partitions = self._partitions(topic, refresh=True)
            if partition not in partitions:
                raise IllegalArgumentError(
                    f"partition {partition} is out of range for topic {topic!r}, which has "
                    f"partitions 0..{len(partitions) - 1}"
                )
        if timestamp_ms is None:
            timestamp_ms = self._wall_ms()
        # A plain tuple in NewRecord's field order: the broker accepts it, and it is cheaper.
        record = (key_bytes, value_bytes, header_list, timestamp_ms)
        sizes = (key_size, value_size, header_size)
        deadline = now + self._max_block
        return self._append(topic, partition, partitions, key_bytes, record, size, sizes, deadline)

    def _serialize(
        self, what: str, serializer: Callable[[Any], bytes] | None, topic: str, obj: Any
    ) -> bytes | None:
        if obj is None:
            return None
        if serializer is None:
            if type(obj) is bytes:
                return obj
        else:
            try:
                obj = serializer(obj)
            except Exception as exc:
                raise SerializationError(
                    f"{what}_serializer failed on {type(obj).__name__} for topic {topic!r}: {exc}"
                ) from exc
            if obj is None:
                return None
        if isinstance(obj, (bytearray, memoryview)):
            obj = bytes(obj)
        if not isinstance(obj, bytes):
            hint = (
                f"the {what}_serializer returned {type(obj).__name__}; it must return bytes"
                if serializer is not None
                else f"pass {what}_serializer=... to turn {type(obj).__name__} into bytes"
            )
            raise SerializationError(f"the {what} for topic {topic!r} is not bytes: {hint}")
        return obj

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
    ) -> FutureRecordMetadata:
        # As Kafka (KIP-480), only the sticky partitioner is told when a keyless record would
        # open a new batch, and asked again: round robin must not skip a partition then.
        sticky = (
            partition is None
            and key_bytes is None
            and isinstance(self._partitioner, StickyPartitioner)
        )
        if partition is None:
            partition = self._partitioner.partition(topic, key_bytes, partitions, partitions)
        tps = self._tps.get(topic)
        tp = None if tps is None else tps.get(partition)
        if tp is None:
            tp = self._topic_partition(topic, partition)
        future = self._try_append(tp, record, size, sizes)
        if future is not None:
            return future
        if sticky:
            # The sticky partition's batch is complete: move on, and try the new partition.
            self._partitioner.on_new_batch(topic, partition)
            partition = self._partitioner.partition(topic, None, partitions, partitions)
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
            tp = tps[partition] = TopicPartition(topic, partition)
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
        self, batch: _Batch, record: tuple, size: int, sizes: tuple[int, int, int]
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
            batch = _Batch(tp, self._acks, self._clock())
            with self._lock:
                future = self._add_record(batch, record, size, sizes)
                # Known to flush() from now on, so a flush that starts during put() waits for it.
                self._incomplete.add(batch)
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

    def _partitions(self, topic: str, refresh: bool = False) -> list[int]:
        """The topic's partition numbers, cached for ``metadata_max_age_ms``."""
        now = self._clock()
        cached = self._metadata.get(topic)
        if cached is not None and not refresh and now - cached[1] < self._metadata_max_age:
            return cached[0]
        found = self._broker.partitions_for(topic)
        if not found:
            raise UnknownTopicOrPartitionError(
                f"topic {topic!r} does not exist; create it with broker.create_topic({topic!r}, n)"
            )
        partitions = sorted(found)
        self._metadata[topic] = (partitions, now)
        return partitions

    def partitions_for(self, topic: str) -> set[int]:
        """The partition numbers of ``topic`` (asks the broker; raises for an unknown topic)."""
        return set(self._partitions(topic, refresh=True))

    # --- the sender thread -------------------------------------------------------------------

    def _run_sender(self) -> None:
        while True:
            try:
                batch = self._accumulator.get()
            except ShutDown:
                break
            self._wait_until_ready(batch)
            self._deliver(batch)
        self._stopped.set()

    def _wait_until_ready(self, batch: _Batch) -> None:
        """Block until ``batch`` is full, has lingered long enough, or is flushed; seal it."""
        with self._lock:
            while not (batch.full or self._flushing or self._state is not ProducerState.OPEN):
                remaining = batch.created + self._linger - self._clock()
                if remaining <= 0:
                    break
                self._batch_ready.wait(remaining)
            batch.sealed = True
            if self._open.get(batch.tp) is batch:
                del self._open[batch.tp]

    def _deliver(self, batch: _Batch) -> None:
        """Append the batch to its partition log (with retries), resolve futures, run callbacks."""
        tp = batch.tp
        timeout = self.config["request_timeout_ms"] / 1000
        attempts = 0
        while True:
            if self._aborted.is_set():
                outcome = (
                    FutureState.FAILED,
                    None,
                    IllegalStateError("the producer was closed before this record could be sent"),
                )
                break
            try:
                result = self._broker.append(tp.topic, tp.partition, batch.records, timeout=timeout)
            except Exception as exc:
                if getattr(exc, "retriable", False) and attempts < self.config["retries"]:
                    attempts += 1
                    # A wait, not a sleep: close() cuts the back-off short by setting _aborted.
                    self._aborted.wait(self.config["retry_backoff_ms"] / 1000)
                    continue
                outcome = (FutureState.FAILED, None, exc)
                break
            # AppendResult(base_offset, log_start_offset, append_time_ms): the producer always
            # stamps a create time, so the append time is not the record's timestamp.
            outcome = (FutureState.SUCCEEDED, tuple(result)[:2], None)
            break
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

    # --- flush, close, introspection -----------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Send every record queued so far now (ignoring ``linger_ms``) and wait for them.

        Blocks until each record sent before the call is acknowledged or failed; raises
        ``KafkaTimeoutError`` after ``timeout`` seconds. Must not be called from a callback,
        which runs in the sender thread (it would wait for itself): ``IllegalStateError``.
        """
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

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued, stop the sender thread and refuse further sends. Idempotent.

        Waits up to ``timeout`` seconds (forever when ``None``) for queued records; records still
        unsent then fail with ``IllegalStateError``. The sender finishes the append it is in (at
        most ``request_timeout_ms``) before it exits.
        """
        if threading.current_thread() is self._sender:
            raise IllegalStateError("close() from a producer callback would wait for itself")
        with self._lock:
            if self._state is ProducerState.OPEN:
                self._state = ProducerState.CLOSING
            self._batch_ready.notify_all()
        # shutdown() makes a send() blocked in put() fail (nothing queued) and lets the sender
        # drain every batch already in the accumulator before its get() raises ShutDown.
        self._accumulator.shutdown()
        if not self._stopped.wait(timeout):
            self._aborted.set()
            self._stopped.wait(self.config["request_timeout_ms"] / 1000)
        self._sender.join(timeout=self.config["request_timeout_ms"] / 1000)
        with self._lock:
            already_closed = self._state is ProducerState.CLOSED
            self._state = ProducerState.CLOSED
        if already_closed:
            return
        atexit.unregister(self._close_at_exit)
        self._accumulator.close()
        if self._broker is not self._given_broker and hasattr(self._broker, "close"):
            self._broker.close()

    def __enter__(self) -> KafkaProducer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def buffer_stats(self) -> Any:
        """Statistics of the accumulator buffer (see ``buffer_instrument``)."""
        return self._accumulator.stats()

    def metrics(self) -> dict[str, dict[str, float]]:
        """A few of Kafka's producer metrics, under kafka-python's group name."""
        with self._lock:
            counts = dict(self._counts)
        free = self._accumulator.maxsize - self._accumulator.qsize()
        return {
            "producer-metrics": {
                "record-send-total": counts["records"],
                "record-error-total": counts["errors"],
                "request-total": counts["batches"],
                "records-per-request-avg": counts["records"] / counts["batches"]
                if counts["batches"]
                else 0.0,
                "buffer-total-bytes": self.config["buffer_memory"],
                "buffer-available-bytes": free * self._batch_size,
                "bufferpool-wait-time-total": counts["wait"],
            }
        }

    def __repr__(self) -> str:
        return (
            f"<KafkaProducer {self.config['client_id']} {self._state.value} "
            f"batches={self._accumulator.qsize()}/{self._accumulator.maxsize}>"
        )


def _close_at_exit(ref: weakref.ReferenceType[KafkaProducer]) -> None:
    producer = ref()
    if producer is not None:
        producer.close()


def _reject_unknown(configs: dict[str, Any]) -> None:
    """Raise KafkaConfigurationError naming the first key that is not supported here."""
    for key in sorted(configs):
        if key == "bootstrap_servers":
            raise KafkaConfigurationError(
                "bootstrap_servers is not supported: pass broker=Broker() (threads) or "
                "broker=RemoteBroker(handle) (a broker process) instead"
            )
        if key in UNSUPPORTED_KAFKA_KEYS:
            raise KafkaConfigurationError(
                f"{key} is a kafka-python setting that pcmodel's producer does not support; "
                "remove it"
            )
        raise KafkaConfigurationError(f"unknown producer configuration key {key!r}")


def _check_int(name: str, value: object, minimum: int, hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        extra = f"; {hint}" if hint else ""
        raise KafkaConfigurationError(f"{name} must be an int >= {minimum}, got {value!r}{extra}")


def _check_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise KafkaConfigurationError(f"{name} must be a number >= 0, got {value!r}")


def _check_headers(headers: object) -> tuple[tuple[tuple[str, bytes], ...], int]:
    """Validate headers as kafka-python wants them; return them as a list and their size."""
    if headers is None:
        return (), 0
    if isinstance(headers, (str, bytes, dict)) or not hasattr(headers, "__iter__"):
        raise IllegalArgumentError(
            f"headers must be a list of (str, bytes) pairs, got {type(headers).__name__}"
        )
    result = []
    size = 0
    for pair in headers:
        if (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or not isinstance(pair[1], bytes)
        ):
            raise IllegalArgumentError(
                f"each header must be a (str, bytes) pair, got {pair!r}; encode values to bytes"
            )
        result.append(pair)
        size += len(pair[0].encode("utf-8")) + len(pair[1])
    return tuple(result), size
