"""KafkaConsumer: pull records from partition logs, alone (``assign``) or in a group.

Three threads cooperate, as in the Java client:

- the **caller's thread** runs ``poll()``: it joins the group, runs the rebalance listener,
  commits, deserializes and hands out records. Every user callback runs here.
- a **fetcher thread** long-polls the broker for the assigned partitions and puts what it gets
  into the *fetch buffer*, a layer-1 bounded buffer that ``poll()`` drains. When the application
  is slow the buffer fills and the fetcher blocks on ``put``: backpressure, one layer down.
- a **heartbeat thread** keeps the group membership alive every ``heartbeat_interval_ms``, learns
  that a rebalance started, and leaves the group when ``poll()`` has not been called for
  ``max_poll_interval_ms`` (the Java client's rule, so a stuck application loses its partitions).

Positions: ``position(tp)`` is the offset of the next record ``poll()`` will return. Fetched
records beyond it sit in the fetch buffer; every ``seek``, ``pause`` or reset bumps the
partition's *epoch*, so data fetched before it is recognised as stale and dropped. Offsets are
committed as the next offset to read.

Choices where kafka-python and the Java client differ (the Java client wins):

- ``subscribe(pattern=...)`` matches whole topic names (``re.fullmatch``, as Java's
  ``Pattern.matcher().matches()``), and picks up topics created later.
- ``commit_async`` sends the commit at once; its callback ``callback(offsets, exception)`` runs
  on the caller's thread at the next ``poll()``, ``commit()`` or ``close()``.
- ``on_partitions_revoked`` and ``on_partitions_lost`` are called only with a non-empty set;
  ``on_partitions_assigned`` after every completed rebalance (cooperative: only the added ones).
- Exceptions raised by a rebalance listener do not stop the rebalance; the first is re-raised
  from ``poll()`` afterwards.
- Deserializers are not called for a ``None`` key or value. When one fails, ``poll()``
  returns the records before the failing one; the next ``poll()`` raises
  ``SerializationError`` and the position stays at the failing record (``seek()`` past it).
- ``close()`` commits (with ``enable_auto_commit``), calls ``on_partitions_revoked`` and leaves
  the group, so the partitions move at once instead of after the session timeout.

A consumer is meant for one thread (as Kafka's): call its methods from the thread that polls.

Typical use, at-least-once (commit after processing)::

    consumer = KafkaConsumer("orders", broker=broker, group_id="billing",
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        while running:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    process(record.value)
            consumer.commit()
    finally:
        consumer.close()

Prior art: the Java ``KafkaConsumer`` / ``ConsumerCoordinator`` / ``Fetcher``, kafka-python's
``kafka/consumer/group.py`` and ``subscription_state.py`` (names, per-partition state).
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import Any, NamedTuple

from pcmodel.buffers import VARIANTS, make_buffer
from pcmodel.errors import ShutDown
from pcmodel.topics.broker import (
    FetchError,
    HeartbeatStatus,
    JoinResult,
    LogRecord,
    check_topic_name,
)
from pcmodel.topics.config import check_int, resolve_config
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalArgumentError,
    IllegalStateError,
    InvalidGroupIdError,
    KafkaConfigurationError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
    SerializationError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import (
    ConsumerRebalanceListener,
    ConsumerRecord,
    OffsetAndMetadata,
    OffsetAndTimestamp,
    TopicPartition,
    validate_topic_partition,
)

__all__ = ["DEFAULT_CONFIG", "KafkaConsumer"]

logger = logging.getLogger(__name__)

#: Supported configuration keys with kafka-python's defaults (pcmodel's own keys at the end).
DEFAULT_CONFIG: dict[str, Any] = {
    "group_id": None,
    "client_id": "pcmodel-consumer",
    "key_deserializer": None,
    "value_deserializer": None,
    "fetch_max_wait_ms": 500,
    "max_poll_records": 500,
    "max_poll_interval_ms": 300_000,
    "session_timeout_ms": 10_000,
    "heartbeat_interval_ms": 3_000,
    "enable_auto_commit": True,
    "auto_commit_interval_ms": 5_000,
    "auto_offset_reset": "latest",
    "consumer_timeout_ms": math.inf,
    "partition_assignment_strategy": ("range", "cooperative-sticky"),
    # pcmodel only: how many fetched batches the fetch buffer holds, its algorithm and
    # instrumentation level ("off", "counters", "timeline"; read with fetch_buffer.stats()).
    "fetch_buffer_batches": 4,
    "fetch_buffer_variant": "condition",
    "fetch_buffer_instrument": "off",
    # pcmodel only: the monotonic clock for poll intervals and auto-commit (tests inject one).
    "clock": time.monotonic,
}

_RESET_POLICIES = ("earliest", "latest", "none")

#: The most records one fetch asks for (or ``max_poll_records`` if larger); the stand-in for
#: Kafka's ``fetch_max_bytes``, since records here have no wire size.
FETCH_MAX_RECORDS = 500


class _Fetched(NamedTuple):
    """Records the fetcher read for ``tp`` while the partition was at ``epoch``."""

    tp: TopicPartition
    epoch: int
    records: tuple[LogRecord, ...]


class _FetchFailed(NamedTuple):
    tp: TopicPartition
    epoch: int
    error: FetchError


#: Put into the fetch buffer (if there is room) to wake a waiting poll() early.
_WAKEUP = "wakeup"


class _PartitionState:
    """What the consumer knows about one assigned partition (kafka-python's TopicPartitionState).

    ``position`` is the next offset ``poll()`` returns; ``pending`` holds fetched records from
    ``position`` on, taken out of the fetch buffer but not yet returned; ``fetch_offset`` is
    where the fetcher reads next (``None``: not fetching). ``epoch`` changes whenever the
    position jumps, so data fetched for an older epoch is dropped.
    """

    __slots__ = ("epoch", "fetch_offset", "high_watermark", "paused", "pending", "position")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.position: int | None = None
        self.fetch_offset: int | None = None
        self.paused = False
        self.pending: list[LogRecord] = []
        self.high_watermark: int | None = None

    def is_fetchable(self) -> bool:
        """The fetcher should read this partition: it has a position and is not paused."""
        return not self.paused and self.fetch_offset is not None


class KafkaConsumer:
    """Consume records from topics of a :class:`~pcmodel.topics.broker.Broker`.

    ``KafkaConsumer(*topics, broker=..., group_id=..., **configs)`` takes kafka-python's
    configuration keys (see :data:`DEFAULT_CONFIG`); an unsupported key raises
    ``KafkaConfigurationError`` naming it. With ``topics`` it subscribes at once.
    """

    def __init__(self, *topics: str, broker: Any, **configs: Any) -> None:
        if broker is None or not hasattr(broker, "connect"):
            raise KafkaConfigurationError(
                "pass broker= (a pcmodel Broker, or a handle to a broker process)"
            )
        config = resolve_config(DEFAULT_CONFIG, configs, client="KafkaConsumer")
        self._validate_config(config)
        self.config = config
        self._broker = broker
        self._group_id: str | None = config["group_id"]
        self._clock: Callable[[], float] = config["clock"]
        self._conn = broker.connect()
        self._connections = [self._conn]

        # Shared with the fetcher and heartbeat threads; guards everything below.
        self._lock = threading.Lock()
        # Notified when there may be something new to fetch (assignment, seek, resume, close).
        self._work = threading.Condition(self._lock)
        self._states: dict[TopicPartition, _PartitionState] = {}
        self._epochs = itertools.count(1)
        self._closed = False
        self._worker_error: BaseException | None = None
        self._rotation = 0
        self._fetch_rotation = 0

        # Subscription and group membership (written by poll()'s thread; flags also by heartbeat).
        self._subscribed_topics: set[str] | None = None
        self._pattern: re.Pattern[str] | None = None
        self._pattern_version = -1
        self._metadata_version_seen = -1
        self._manual = False
        self._listener: ConsumerRebalanceListener | None = None
        self._member_id = ""
        self._generation = -1
        self._protocol = "eager"
        self._rejoin_needed = False
        self._join_pending = False
        self._lost = False
        self._in_poll = False
        self._last_poll = self._clock()
        self._next_auto_commit = self._clock() + config["auto_commit_interval_ms"] / 1000
        self._commit_callbacks: list[Callable[[], None]] = []
        self._iter_records: deque[ConsumerRecord] = deque()

        self._buffer = make_buffer(
            config["fetch_buffer_variant"], config["fetch_buffer_batches"], name="fetch-buffer",
            instrument=config["fetch_buffer_instrument"],
        )
        self._stop = threading.Event()
        fetch_conn = broker.connect()
        self._connections.append(fetch_conn)
        self._fetcher = threading.Thread(
            target=self._fetch_loop, args=(fetch_conn,), name="pcmodel-fetcher",
            # Daemon like the Java and kafka-python client threads; close() stops and joins it.
            daemon=True,
        )
        self._heartbeat: threading.Thread | None = None
        self._fetcher.start()
        if topics:
            try:
                self.subscribe(topics)
            except BaseException:
                self._shutdown_threads(None)  # no half-built consumer keeps threads running
                raise

    # --- configuration ------------------------------------------------------------------------

    @staticmethod
    def _validate_config(config: dict[str, Any]) -> None:
        group_id = config["group_id"]
        if group_id is not None and (not isinstance(group_id, str) or not group_id):
            raise KafkaConfigurationError(f"group_id must be a non-empty str or None, got "
                                          f"{group_id!r}")
        for key in ("fetch_max_wait_ms", "auto_commit_interval_ms"):
            check_int(config, key, 0)
        for key in ("max_poll_records", "max_poll_interval_ms", "session_timeout_ms",
                    "heartbeat_interval_ms", "fetch_buffer_batches"):
            check_int(config, key, 1)
        if config["heartbeat_interval_ms"] >= config["session_timeout_ms"]:
            raise KafkaConfigurationError(
                "heartbeat_interval_ms must be lower than session_timeout_ms (usually a third), "
                f"got {config['heartbeat_interval_ms']} >= {config['session_timeout_ms']}"
            )
        if config["auto_offset_reset"] not in _RESET_POLICIES:
            raise KafkaConfigurationError(
                f"auto_offset_reset must be one of {_RESET_POLICIES}, got "
                f"{config['auto_offset_reset']!r}"
            )
        timeout = config["consumer_timeout_ms"]
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
            raise KafkaConfigurationError(f"consumer_timeout_ms must be >= 0, got {timeout!r}")
        strategy = config["partition_assignment_strategy"]
        if isinstance(strategy, str):
            strategy = (strategy,)
        if not strategy or not all(isinstance(s, str) for s in strategy):
            raise KafkaConfigurationError(
                "partition_assignment_strategy must be assignor names such as "
                f"('range', 'cooperative-sticky'), got {strategy!r}"
            )
        from pcmodel.topics.assignors import get_assignor

        for name in strategy:
            get_assignor(name)
        config["partition_assignment_strategy"] = tuple(strategy)
        if not callable(config["clock"]):
            raise KafkaConfigurationError(f"clock must be callable, got {config['clock']!r}")
        for key in ("key_deserializer", "value_deserializer"):
            if config[key] is not None and not callable(config[key]):
                raise KafkaConfigurationError(f"{key} must be callable, got {config[key]!r}")
        if config["fetch_buffer_variant"] not in VARIANTS:
            raise KafkaConfigurationError(
                f"fetch_buffer_variant must be one of {VARIANTS}, got "
                f"{config['fetch_buffer_variant']!r}"
            )
        if config["fetch_buffer_instrument"] not in ("off", "counters", "timeline"):
            raise KafkaConfigurationError(
                "fetch_buffer_instrument must be 'off', 'counters' or 'timeline', got "
                f"{config['fetch_buffer_instrument']!r}"
            )

    # --- subscription and assignment ----------------------------------------------------------

    def subscribe(
        self,
        topics: Iterable[str] | str = (),
        pattern: str | re.Pattern[str] | None = None,
        listener: ConsumerRebalanceListener | None = None,
    ) -> None:
        """Join the group for ``topics`` (or every topic matching ``pattern``).

        Replaces any earlier subscription; the group rebalances on the next ``poll()``. Raises
        ``InvalidGroupIdError`` without a ``group_id``, ``IllegalStateError`` when mixed with
        ``assign()`` or when both or neither of ``topics`` and ``pattern`` are given,
        ``UnknownTopicOrPartitionError`` for a topic that does not exist, ``TypeError`` for a
        listener that is not a ``ConsumerRebalanceListener``.
        """
        self._check_open()
        if self._group_id is None:
            raise InvalidGroupIdError(
                "subscribe() needs a group_id; without one, use assign() to pick partitions"
            )
        if self._manual:
            raise IllegalStateError(
                "subscription to topics, partitions and pattern are mutually exclusive: "
                "this consumer used assign(); call unsubscribe() first"
            )
        if isinstance(topics, str):
            topics = [topics]
        topics = {check_topic_name(t) for t in topics}
        if bool(topics) == (pattern is not None):
            raise IllegalStateError("subscribe() needs either topics or a pattern, not both")
        if listener is not None and not isinstance(listener, ConsumerRebalanceListener):
            raise TypeError(
                f"listener must be a ConsumerRebalanceListener, got {type(listener).__name__}"
            )
        # The version first: a topic created in between is then picked up by the next refresh.
        version = self._conn.metadata_version()
        existing = self._conn.list_topics()
        if pattern is not None:
            compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
            topics = {t for t in existing if compiled.fullmatch(t)}
        else:
            compiled = None
            unknown = sorted(t for t in topics if t not in existing)
            if unknown:
                raise UnknownTopicOrPartitionError(
                    f"cannot subscribe to unknown topics {unknown}; existing topics: "
                    f"{sorted(existing)}"
                )
        with self._lock:
            self._pattern, self._pattern_version = compiled, version
            # Rejoin only for a change: with the eager protocol a rejoin revokes everything.
            if topics != self._subscribed_topics or not self._member_id:
                self._rejoin_needed = True
            self._subscribed_topics = topics
            self._listener = listener
        self._start_heartbeat()

    def unsubscribe(self) -> None:
        """Leave the group (or drop the manual assignment) and forget every partition."""
        self._check_open()
        if self._subscribed_topics is not None:
            self._leave_group()
        with self._lock:
            self._subscribed_topics = None
            self._pattern = None
            self._manual = False
            self._states.clear()
            self._rejoin_needed = self._join_pending = self._lost = False

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Take exactly ``partitions``, without a group (kafka-python's manual assignment).

        Positions of partitions kept from the previous assignment are kept. Raises
        ``IllegalStateError`` if the consumer subscribed, ``UnknownTopicOrPartitionError`` for a
        partition that does not exist (nothing changes then).
        """
        self._check_open()
        if self._subscribed_topics is not None:
            raise IllegalStateError(
                "subscription to topics, partitions and pattern are mutually exclusive: "
                "this consumer subscribed; call unsubscribe() first"
            )
        tps = [validate_topic_partition(tp) for tp in partitions]
        self._conn.end_offsets(tps)  # raises for an unknown topic or partition
        with self._lock:
            self._states = {tp: self._states.get(tp) or self._new_state() for tp in tps}
            self._manual = bool(tps)
            self._work.notify_all()

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer currently owns."""
        with self._lock:
            return set(self._states)

    def subscription(self) -> set[str] | None:
        """The subscribed topics (those matching the pattern), or ``None`` if not subscribed."""
        with self._lock:
            return None if self._subscribed_topics is None else set(self._subscribed_topics)

    @property
    def fetch_buffer(self) -> Any:
        """The layer-1 bounded buffer between the fetcher thread and ``poll()``.

        Each item is one fetched batch of one partition. Read its ``stats()`` (with
        ``fetch_buffer_instrument``) to see how long the fetcher waited for space: the time the
        application was the bottleneck. Do not put or get items yourself.
        """
        return self._buffer

    def topics(self) -> set[str]:
        """Every topic on the broker."""
        self._check_open()
        return set(self._conn.list_topics())

    def partitions_for_topic(self, topic: str) -> set[int]:
        """The partition numbers of ``topic``; ``UnknownTopicOrPartitionError`` if none."""
        self._check_open()
        return self._conn.partitions_for(topic)

    # --- polling ------------------------------------------------------------------------------

    def poll(self, timeout_ms: float = 0, max_records: int | None = None) -> dict[
        TopicPartition, list[ConsumerRecord]
    ]:
        """Return the next records, at most ``max_records`` (default ``max_poll_records``).

        Waits up to ``timeout_ms`` for records (and for a rebalance to complete); returns ``{}``
        if there were none. Records of one partition come in offset order, each exactly once
        unless the position is moved back. Raises ``IllegalStateError`` if closed or neither
        subscribed nor assigned; ``NoOffsetForPartitionError`` / ``OffsetOutOfRangeError`` with
        ``auto_offset_reset='none'``; ``SerializationError`` if a deserializer fails; and
        re-raises an exception of the fetcher or heartbeat thread, or of a rebalance listener.
        """
        self._check_open()
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)):
            raise TypeError(f"timeout_ms must be a number, got {timeout_ms!r}")
        if timeout_ms < 0:
            raise IllegalArgumentError(f"timeout_ms must be >= 0, got {timeout_ms}")
        if max_records is None:
            max_records = self.config["max_poll_records"]
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise IllegalArgumentError(f"max_records must be an int >= 1, got {max_records!r}")
        with self._lock:
            if self._subscribed_topics is None and not self._manual:
                raise IllegalStateError(
                    "no topic subscription or manual partition assignment; call subscribe() or "
                    "assign() first"
                )
            self._in_poll = True
            self._last_poll = self._clock()
        try:
            return self._poll(time.monotonic() + timeout_ms / 1000, max_records)
        finally:
            with self._lock:
                self._in_poll = False
                self._last_poll = self._clock()

    def _poll(self, deadline: float, max_records: int) -> dict[
        TopicPartition, list[ConsumerRecord]
    ]:
        while True:
            self._raise_worker_error()
            self._run_commit_callbacks()
            self._maybe_auto_commit()
            if self._subscribed_topics is not None:
                self._ensure_group(deadline)
            self._init_positions()
            records = self._collect(max_records)
            if records:
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {}
            try:
                item = self._buffer.get(timeout=remaining)
            except queue.Empty:
                continue
            except ShutDown:
                self._raise_worker_error()
                raise IllegalStateError("the consumer's fetch buffer was shut down") from None
            if item != _WAKEUP:
                self._accept(item)

    def __iter__(self) -> KafkaConsumer:
        return self

    def __next__(self) -> ConsumerRecord:
        """The next record; ``StopIteration`` after ``consumer_timeout_ms`` without one."""
        if self._iter_records:
            return self._iter_records.popleft()
        timeout_ms = self.config["consumer_timeout_ms"]
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            remaining_ms = max(0.0, (deadline - time.monotonic()) * 1000)
            # One record per poll, so that positions (and auto-commits) advance record by
            # record: a record is never committed before the application has had it.
            batch = self.poll(timeout_ms=min(remaining_ms, 60_000), max_records=1)
            for records in batch.values():
                self._iter_records.extend(records)
            if self._iter_records:
                return self._iter_records.popleft()
            if time.monotonic() >= deadline:
                raise StopIteration

    def _collect(self, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Take up to ``max_records`` buffered records, fairly across partitions."""
        while self._pending_count() < max_records:
            try:
                item = self._buffer.get_nowait()
            except (queue.Empty, ShutDown):
                break
            if item != _WAKEUP:
                self._accept(item)
        with self._lock:
            order = list(self._states.items())
            if order:
                self._rotation = (self._rotation + 1) % len(order)
                order = order[self._rotation :] + order[: self._rotation]
            picked = []
            budget = max_records
            for tp, st in order:
                if budget == 0:
                    break
                if st.paused or not st.pending:
                    continue
                records = st.pending[:budget]
                picked.append((tp, st.epoch, records))
                budget -= len(records)
        # Deserialize without the lock (it is user code). A failing record stops the poll there:
        # the records before it are returned, and the next poll raises (as the Java client).
        result: dict[TopicPartition, list[ConsumerRecord]] = {}
        epochs: dict[TopicPartition, int] = {}
        error: SerializationError | None = None
        for tp, epoch, records in picked:
            converted, error = self._convert(tp, records)
            if converted:
                result[tp], epochs[tp] = converted, epoch
            if error is not None:
                break
        if error is not None and not result:
            raise error
        with self._lock:
            for tp, epoch in epochs.items():
                st = self._states.get(tp)
                if st is None or st.epoch != epoch:
                    del result[tp]
                    continue
                del st.pending[: len(result[tp])]
                st.position = result[tp][-1].offset + 1
        return result

    def _pending_count(self) -> int:
        with self._lock:
            return sum(len(st.pending) for st in self._states.values())

    def _accept(self, item: _Fetched | _FetchFailed) -> None:
        """Move one fetch-buffer item into the partition's pending records (or handle it)."""
        with self._lock:
            st = self._states.get(item.tp)
            if st is None or st.epoch != item.epoch or st.position is None:
                return  # stale: the partition moved, was revoked, sought or paused meanwhile
            if isinstance(item, _Fetched):
                # Fetched batches are consecutive; keep the part from the next expected offset.
                expected = st.position + len(st.pending)
                records = item.records
                skip = expected - records[0].offset
                if 0 <= skip < len(records) and records[skip].offset == expected:
                    st.pending.extend(records[skip:])
                return
            position = st.position
        if item.error is FetchError.OFFSET_OUT_OF_RANGE:
            self._reset_out_of_range(item.tp, item.epoch, position)
        elif self._manual:
            raise UnknownTopicOrPartitionError(
                f"{item.tp} no longer exists (its topic was deleted); assign() other partitions"
            )
        # In a group, a deleted topic is taken away by the rebalance that its deletion starts.

    def _reset_out_of_range(self, tp: TopicPartition, epoch: int, position: int) -> None:
        policy = self.config["auto_offset_reset"]
        if policy == "none":
            with self._lock:
                st = self._states.get(tp)
                if st is not None and st.epoch == epoch:
                    st.fetch_offset = st.position  # try again on the next poll
                    self._work.notify_all()
            raise OffsetOutOfRangeError(
                f"position {position} of {tp} is outside the retained records (retention "
                "deleted them, or the log is shorter) and auto_offset_reset='none'; seek()"
            )
        offsets = (
            self._conn.beginning_offsets([tp])
            if policy == "earliest"
            else self._conn.end_offsets([tp])
        )
        with self._lock:
            st = self._states.get(tp)
            if st is not None and st.epoch == epoch:
                logger.info("resetting %s from %d to %s offset %d", tp, position, policy,
                            offsets[tp])
                self._set_position(st, offsets[tp])

    def _convert(
        self, tp: TopicPartition, records: list[LogRecord]
    ) -> tuple[list[ConsumerRecord], SerializationError | None]:
        """Deserialize ``records`` in order; stop at the first failure and return it."""
        converted: list[ConsumerRecord] = []
        key_fn = self.config["key_deserializer"]
        value_fn = self.config["value_deserializer"]
        make = tuple.__new__  # ConsumerRecord(...) without the keyword-handling constructor
        topic, partition = tp
        for offset, timestamp, timestamp_type, key, value, headers in records:
            stage = "key_deserializer"
            try:
                k = key if key_fn is None or key is None else key_fn(key)
                stage = "value_deserializer"
                v = value if value_fn is None or value is None else value_fn(value)
            except Exception as exc:
                error = SerializationError(
                    f"{stage} failed on the record at offset {offset} of {tp}: {exc!r}; "
                    "seek() past it to skip it"
                )
                error.__cause__ = exc
                return converted, error
            header_size = (
                sum(len(hk.encode()) + len(hv) for hk, hv in headers) if headers else -1
            )
            converted.append(make(ConsumerRecord, (
                topic, partition, -1, offset, timestamp, timestamp_type, k, v, list(headers),
                None, -1 if key is None else len(key), -1 if value is None else len(value),
                header_size,
            )))
        return converted, None

    # --- positions ----------------------------------------------------------------------------

    def position(self, partition: TopicPartition) -> int:
        """The offset of the next record ``poll()`` will return for ``partition``.

        Looks up the committed offset (or applies ``auto_offset_reset``) if there is no
        position yet. Raises ``IllegalStateError`` if the partition is not assigned.
        """
        tp = self._assigned(partition, "position")
        self._init_positions()
        with self._lock:
            return self._states[tp].position

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Make the next ``poll()`` return ``partition``'s records from ``offset`` on.

        An offset below the log start is accepted (the next fetch applies
        ``auto_offset_reset``, as in Kafka). Raises ``IllegalStateError`` if not assigned,
        ``IllegalArgumentError`` for a negative offset, ``OffsetOutOfRangeError`` for one beyond
        the end of the log; nothing changes then.
        """
        tp = self._assigned(partition, "seek")
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise TypeError(f"offset must be an int, got {offset!r}")
        if offset < 0:
            raise IllegalArgumentError(f"seek offset must be >= 0, got {offset}")
        end = self._conn.end_offsets([tp])[tp]
        if offset > end:
            raise OffsetOutOfRangeError(
                f"cannot seek {tp} to {offset}: the log ends at {end} (seek_to_end() for there)"
            )
        self._seek_many({tp: offset})

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Seek to the first retained offset of ``partitions`` (all assigned if none given)."""
        tps = self._assigned_many(partitions, "seek_to_beginning")
        self._seek_many(self._conn.beginning_offsets(tps))

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        """Seek to the end of ``partitions`` (all assigned if none given): only new records."""
        tps = self._assigned_many(partitions, "seek_to_end")
        self._seek_many(self._conn.end_offsets(tps))

    def _seek_many(self, offsets: Mapping[TopicPartition, int]) -> None:
        with self._lock:
            for tp, offset in offsets.items():
                st = self._states.get(tp)
                if st is not None:
                    self._set_position(st, offset)

    def pause(self, *partitions: TopicPartition) -> None:
        """Stop returning and fetching records of ``partitions`` until ``resume()``."""
        tps = self._assigned_many(partitions, "pause", default_all=False)
        with self._lock:
            for tp in tps:
                st = self._states[tp]
                st.paused = True
                # Drop what was fetched ahead; it is read again after resume().
                st.pending.clear()
                st.epoch = next(self._epochs)
                st.fetch_offset = st.position

    def resume(self, *partitions: TopicPartition) -> None:
        """Return and fetch records of ``partitions`` again."""
        tps = self._assigned_many(partitions, "resume", default_all=False)
        with self._lock:
            for tp in tps:
                self._states[tp].paused = False
            self._work.notify_all()

    def paused(self) -> set[TopicPartition]:
        """The partitions paused with ``pause()``."""
        with self._lock:
            return {tp for tp, st in self._states.items() if st.paused}

    def highwater(self, partition: TopicPartition) -> int | None:
        """The end offset the last fetch of ``partition`` saw (``None`` before any fetch).

        ``highwater(tp) - position(tp)`` is this consumer's lag, without asking the broker.
        """
        tp = self._assigned(partition, "highwater")
        with self._lock:
            return self._states[tp].high_watermark

    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The first retained offset of each partition."""
        self._check_open()
        return self._conn.beginning_offsets(list(partitions))

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The end offset (next offset to be written) of each partition."""
        self._check_open()
        return self._conn.end_offsets(list(partitions))

    def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """The earliest offset whose timestamp is >= the given ms, per partition."""
        self._check_open()
        return self._conn.offsets_for_times(dict(timestamps))

    def _init_positions(self) -> None:
        """Give every assigned partition without a position one: committed, else reset."""
        with self._lock:
            missing = [tp for tp, st in self._states.items() if st.position is None]
        if not missing:
            return
        positions: dict[TopicPartition, int] = {}
        if self._group_id is not None:
            for tp, committed in self._conn.committed(self._group_id, missing).items():
                if committed is not None:
                    positions[tp] = committed.offset
        to_reset = [tp for tp in missing if tp not in positions]
        if to_reset:
            policy = self.config["auto_offset_reset"]
            if policy == "none":
                raise NoOffsetForPartitionError(
                    f"no committed offset for {sorted(to_reset)} and auto_offset_reset='none'; "
                    "seek() to choose a position"
                )
            if policy == "earliest":
                positions.update(self._conn.beginning_offsets(to_reset))
            else:
                positions.update(self._conn.end_offsets(to_reset))
        with self._lock:
            for tp, offset in positions.items():
                st = self._states.get(tp)
                if st is not None and st.position is None:
                    self._set_position(st, offset)

    def _set_position(self, st: _PartitionState, offset: int) -> None:
        """Move a partition's position (lock held): drop everything fetched for the old one."""
        st.position = st.fetch_offset = offset
        st.epoch = next(self._epochs)
        st.pending.clear()
        self._work.notify_all()

    # --- commits ------------------------------------------------------------------------------

    def commit(
        self, offsets: Mapping[TopicPartition, OffsetAndMetadata | int] | None = None
    ) -> None:
        """Commit ``offsets`` (default: the position of every assigned partition) and wait.

        A committed offset is the next one to read: commit after processing for at-least-once
        delivery. Raises ``CommitFailedError`` if the group rebalanced without this member
        (the next ``poll()`` rejoins), ``IllegalStateError`` without a ``group_id`` or for a
        partition that is not assigned, ``IllegalArgumentError`` for a negative offset.
        """
        self._check_open()
        self._run_commit_callbacks()
        to_commit = self._offsets_to_commit(offsets, "commit")
        if to_commit:
            self._send_commit(to_commit)

    def commit_async(
        self,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int] | None = None,
        callback: Callable[[dict, BaseException | None], Any] | None = None,
    ) -> Future:
        """Commit without raising; ``callback(offsets, exception_or_None)`` runs in ``poll()``.

        Returns a ``concurrent.futures.Future`` already holding the outcome. Argument errors
        (not assigned, negative offset, no group) still raise at once.
        """
        self._check_open()
        to_commit = self._offsets_to_commit(offsets, "commit_async")
        future: Future = Future()
        error: BaseException | None = None
        try:
            if to_commit:
                self._send_commit(to_commit)
        except CommitFailedError as exc:
            error = exc
        if error is None:
            future.set_result(to_commit)
        else:
            future.set_exception(error)
        if callback is not None:
            self._commit_callbacks.append(lambda: callback(to_commit, error))
        return future

    def committed(self, partition: TopicPartition, metadata: bool = False) -> Any:
        """The group's committed offset for ``partition`` (``None`` if never committed).

        With ``metadata=True`` an ``OffsetAndMetadata`` (kafka-python's switch). Needs a
        ``group_id``; the partition need not be assigned.
        """
        self._check_open()
        tp = validate_topic_partition(partition)
        self._require_group("committed")
        value = self._conn.committed(self._group_id, [tp])[tp]
        if value is None or metadata:
            return value
        return value.offset

    def _offsets_to_commit(
        self, offsets: Mapping[TopicPartition, OffsetAndMetadata | int] | None, what: str
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        self._require_group(what)
        if offsets is None:
            with self._lock:
                return {
                    tp: OffsetAndMetadata(st.position)
                    for tp, st in self._states.items()
                    if st.position is not None
                }
        result = {}
        for tp, value in offsets.items():
            tp = self._assigned(tp, what)
            if not isinstance(value, OffsetAndMetadata):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"offset for {tp} must be an int or OffsetAndMetadata")
                value = OffsetAndMetadata(value)
            if value.offset < 0:
                raise IllegalArgumentError(f"offset for {tp} must be >= 0, got {value.offset}")
            result[tp] = value
        return result

    def _send_commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if self._subscribed_topics is not None:
            member_id, generation = self._member_id, self._generation
        else:
            member_id, generation = "", -1
        try:
            self._conn.commit_offsets(self._group_id, generation, member_id, offsets)
        except CommitFailedError:
            if self._subscribed_topics is not None:
                with self._lock:
                    self._rejoin_needed = True
            raise

    def _commit_quietly(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Auto-commit: a failure is logged, not raised (the records will be read again).

        Failures include a fenced member (``CommitFailedError``) and a partition whose topic
        was deleted meanwhile (``UnknownTopicOrPartitionError``).
        """
        if not offsets:
            return
        try:
            self._send_commit(offsets)
        except (CommitFailedError, UnknownTopicOrPartitionError) as exc:
            logger.warning("auto-commit of %s failed: %s", sorted(offsets), exc)

    def _maybe_auto_commit(self) -> None:
        if not self.config["enable_auto_commit"] or self._group_id is None:
            return
        now = self._clock()
        if now < self._next_auto_commit:
            return
        self._next_auto_commit = now + self.config["auto_commit_interval_ms"] / 1000
        if self._subscribed_topics is not None and self._generation < 0:
            return
        self._commit_quietly(self._offsets_to_commit(None, "auto-commit"))

    def _run_commit_callbacks(self) -> None:
        callbacks, self._commit_callbacks = self._commit_callbacks, []
        for callback in callbacks:
            callback()

    # --- group membership (poll()'s thread) ---------------------------------------------------

    def _ensure_group(self, deadline: float) -> None:
        """Handle loss, pattern changes and rebalances until stable or out of time."""
        listener_error: BaseException | None = None
        while True:
            with self._lock:
                lost = self._lost
            if lost:
                listener_error = listener_error or self._handle_lost()
            self._refresh_pattern()
            with self._lock:
                if not (self._rejoin_needed or self._join_pending):
                    break
                starting = not self._join_pending
                self._join_pending = True
                self._rejoin_needed = False
            if starting and self._protocol == "eager":
                listener_error = listener_error or self._revoke(self.assignment())
            try:
                result = self._conn.join_group(
                    self._group_id, self._member_id, sorted(self._subscribed_topics or ()),
                    assignors=self.config["partition_assignment_strategy"],
                    generation=self._generation,
                    session_timeout_ms=self.config["session_timeout_ms"],
                    max_poll_interval_ms=self.config["max_poll_interval_ms"],
                    client_id=self.config["client_id"],
                    timeout=max(0.0, deadline - time.monotonic()),
                )
            except UnknownMemberIdError:
                with self._lock:
                    self._lost = True
                continue
            with self._lock:
                self._member_id = result.member_id
            if result.pending:
                break
            listener_error = listener_error or self._complete_join(result)
            if time.monotonic() >= deadline:
                break
        if listener_error is not None:
            raise listener_error

    def _complete_join(self, result: JoinResult) -> BaseException | None:
        new = set(result.assignment)
        with self._lock:
            self._join_pending = False
            self._generation = result.generation
            self._protocol = result.protocol
            # Requests to rejoin seen before this result were about the round it completes;
            # the coordinator says in ``rejoin`` whether another round is already under way.
            self._rejoin_needed = result.rejoin
            revoked = set(self._states) - new
        error = self._revoke(revoked)
        with self._lock:
            added = sorted(new - set(self._states))
            for tp in added:
                self._states[tp] = self._new_state()
            self._work.notify_all()
        if self._listener is not None:
            try:
                self._listener.on_partitions_assigned(added)
            except Exception as exc:
                error = error or exc
        return error

    def _revoke(
        self, revoked: Iterable[TopicPartition], *, commit: bool = True
    ) -> BaseException | None:
        """Commit (with auto-commit), tell the listener, then drop ``revoked``."""
        revoked = sorted(revoked)
        if not revoked:
            return None
        if commit and self.config["enable_auto_commit"]:
            with self._lock:
                offsets = {
                    tp: OffsetAndMetadata(self._states[tp].position)
                    for tp in revoked
                    if self._states[tp].position is not None
                }
            self._commit_quietly(offsets)
        error = None
        if self._listener is not None:
            try:
                self._listener.on_partitions_revoked(revoked)
            except Exception as exc:
                error = exc
        with self._lock:
            for tp in revoked:
                self._states.pop(tp, None)
        return error

    def _handle_lost(self) -> BaseException | None:
        """The member was removed: its partitions are gone; start over as a new member."""
        with self._lock:
            lost = sorted(self._states)
            self._states.clear()
            self._member_id, self._generation = "", -1
            self._lost = self._join_pending = False
            self._rejoin_needed = self._subscribed_topics is not None
        if lost and self._listener is not None:
            try:
                self._listener.on_partitions_lost(lost)
            except Exception as exc:
                return exc
        return None

    def _refresh_pattern(self) -> None:
        with self._lock:
            if self._pattern is None or self._metadata_version_seen <= self._pattern_version:
                return
            pattern, self._pattern_version = self._pattern, self._metadata_version_seen
        topics = {t for t in self._conn.list_topics() if pattern.fullmatch(t)}
        with self._lock:
            if topics != self._subscribed_topics:
                self._subscribed_topics = topics
                self._rejoin_needed = True

    def _leave_group(self, *, commit: bool = True) -> None:
        """Commit (auto-commit), revoke and leave; used by unsubscribe() and close()."""
        if self._lost:
            error = self._handle_lost()
        else:
            error = self._revoke(self.assignment(), commit=commit)
        if self._member_id:
            self._conn.leave_group(self._group_id, self._member_id)
        with self._lock:
            self._member_id, self._generation = "", -1
            self._join_pending = self._rejoin_needed = False
        if error is not None:
            raise error

    # --- background threads -------------------------------------------------------------------

    def _fetch_loop(self, conn: Any) -> None:
        """Fetcher thread: long-poll the broker, put what comes into the fetch buffer."""
        wait = self.config["fetch_max_wait_ms"] / 1000
        # A fetch is not limited by max_poll_records (Kafka limits fetches by bytes instead), so
        # that poll(max_records=1) takes records from memory rather than waiting for a fetch.
        fetch_size = max(FETCH_MAX_RECORDS, self.config["max_poll_records"])
        try:
            while True:
                with self._lock:
                    while not self._closed and not (requests := self._fetch_requests()):
                        self._work.wait()
                    if self._closed:
                        return
                    epochs = {tp: self._states[tp].epoch for tp in requests}
                results = conn.fetch(
                    requests, max_records=fetch_size, timeout=wait
                )
                items: list[_Fetched | _FetchFailed] = []
                with self._lock:
                    for tp, res in results.items():
                        st = self._states.get(tp)
                        if st is None or st.epoch != epochs[tp] or st.fetch_offset != requests[tp]:
                            continue
                        st.high_watermark = res.high_watermark
                        if res.error is not None:
                            st.fetch_offset = None  # stop until poll() handles the error
                            items.append(_FetchFailed(tp, st.epoch, res.error))
                        elif res.records:
                            st.fetch_offset = res.records[-1].offset + 1
                            items.append(_Fetched(tp, st.epoch, res.records))
                if items:
                    self._buffer.put_many(items)
        except ShutDown:
            return
        except BaseException as exc:  # never lost: poll() re-raises it
            self._fail(exc)

    def _fetch_requests(self) -> dict[TopicPartition, int]:
        fetchable = [(tp, st.fetch_offset) for tp, st in self._states.items() if st.is_fetchable()]
        if fetchable:
            # Rotate so that one busy partition cannot starve the others of the record budget.
            self._fetch_rotation += 1
            shift = self._fetch_rotation % len(fetchable)
            fetchable = fetchable[shift:] + fetchable[:shift]
        return dict(fetchable)

    def _heartbeat_loop(self, conn: Any) -> None:
        """Heartbeat thread: keep the membership alive; leave if poll() stopped being called."""
        interval = self.config["heartbeat_interval_ms"] / 1000
        max_poll = self.config["max_poll_interval_ms"] / 1000
        try:
            while not self._stop.wait(interval):
                with self._lock:
                    member_id, generation = self._member_id, self._generation
                    if not member_id or self._lost:
                        continue
                    expired = not self._in_poll and self._clock() - self._last_poll > max_poll
                if expired:
                    logger.warning(
                        "poll() not called for max_poll_interval_ms=%d; leaving group %s",
                        self.config["max_poll_interval_ms"], self._group_id,
                    )
                    conn.leave_group(self._group_id, member_id)
                    self._flag(member_id, lost=True)
                    continue
                result = conn.heartbeat(self._group_id, member_id, generation)
                with self._lock:
                    self._metadata_version_seen = max(
                        self._metadata_version_seen, result.metadata_version
                    )
                    pattern_changed = (
                        self._pattern is not None
                        and self._metadata_version_seen > self._pattern_version
                    )
                if result.status is HeartbeatStatus.UNKNOWN_MEMBER:
                    self._flag(member_id, lost=True)
                elif result.status is HeartbeatStatus.REBALANCE_IN_PROGRESS:
                    self._flag(member_id, generation=generation)
                elif pattern_changed:
                    self._wakeup()  # poll() re-reads the topics and rejoins if they changed
        except BaseException as exc:  # never lost: poll() re-raises it
            self._fail(exc)

    def _flag(self, member_id: str, *, lost: bool = False, generation: int | None = None) -> None:
        """Tell poll() that the member was removed (``lost``) or must rejoin.

        An answer about an older membership or generation than the current one is stale (the
        poll thread completed a rebalance while the heartbeat was under way) and is dropped:
        acting on it would make an eager member revoke everything for nothing.
        """
        with self._lock:
            if self._member_id != member_id:
                return
            if lost:
                self._lost = True
            elif generation == self._generation:
                self._rejoin_needed = True
            else:
                return
        self._wakeup()

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._closed:
                return
            self._worker_error = self._worker_error or exc
        self._wakeup()

    def _wakeup(self) -> None:
        try:
            self._buffer.put_nowait(_WAKEUP)
        except (queue.Full, ShutDown):
            pass  # a full buffer means poll() is not waiting anyway

    def _raise_worker_error(self) -> None:
        with self._lock:
            error = self._worker_error
        if error is not None:
            raise error

    def _start_heartbeat(self) -> None:
        if self._heartbeat is not None:
            return
        conn = self._broker.connect()
        self._connections.append(conn)
        self._heartbeat = threading.Thread(
            target=self._heartbeat_loop, args=(conn,), name="pcmodel-heartbeat", daemon=True
        )
        self._heartbeat.start()

    # --- closing ------------------------------------------------------------------------------

    def close(self, autocommit: bool = True, timeout_ms: int | None = None) -> None:
        """Commit (with auto-commit), leave the group, stop the threads; idempotent.

        Raises nothing for a member that was already removed. Threads are joined, waiting at
        most ``timeout_ms`` (default: ``fetch_max_wait_ms`` plus 5 s).
        """
        if self._closed:
            return
        try:
            self._run_commit_callbacks()
            if self._subscribed_topics is not None and self._member_id:
                self._leave_group(commit=autocommit)
            elif (
                autocommit
                and self._manual
                and self.config["enable_auto_commit"]
                and self._group_id is not None
            ):
                self._commit_quietly(self._offsets_to_commit(None, "close"))
        finally:
            self._shutdown_threads(timeout_ms)

    def _shutdown_threads(self, timeout_ms: int | None) -> None:
        with self._lock:
            self._closed = True
            self._work.notify_all()
        self._stop.set()
        self._buffer.shutdown(immediate=True)
        if timeout_ms is None:
            timeout = self.config["fetch_max_wait_ms"] / 1000 + 5
        else:
            timeout = timeout_ms / 1000
        deadline = time.monotonic() + timeout
        for thread in (self._fetcher, self._heartbeat):
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        for conn in self._connections:
            if conn is not self._broker and hasattr(conn, "close"):
                conn.close()
        self._buffer.close()

    def __enter__(self) -> KafkaConsumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"member={self._member_id!r} gen={self._generation}"
        return f"<KafkaConsumer group={self._group_id!r} {state} assigned={len(self._states)}>"

    # --- small helpers ------------------------------------------------------------------------

    def _new_state(self) -> _PartitionState:
        return _PartitionState(next(self._epochs))

    def _check_open(self) -> None:
        if self._closed:
            raise IllegalStateError("this consumer has already been closed; create a new one")

    def _require_group(self, what: str) -> None:
        if self._group_id is None:
            raise IllegalStateError(
                f"{what}() needs a group_id: offsets are committed per consumer group"
            )

    def _assigned(self, partition: TopicPartition, what: str) -> TopicPartition:
        self._check_open()
        tp = validate_topic_partition(partition)
        with self._lock:
            if tp not in self._states:
                raise IllegalStateError(
                    f"{what}(): {tp} is not assigned to this consumer; assigned: "
                    f"{sorted(self._states)}"
                )
        return tp

    def _assigned_many(
        self, partitions: tuple[TopicPartition, ...], what: str, *, default_all: bool = True
    ) -> list[TopicPartition]:
        self._check_open()
        if not partitions and default_all:
            return sorted(self.assignment())
        return [self._assigned(tp, what) for tp in partitions]
