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

Where the parts live: this module is the facade with kafka-python's public surface;
:mod:`~pcmodel.topics.fetcher` holds the fetcher thread and both ends of the fetch buffer,
:mod:`~pcmodel.topics.membership` joining, rebalances and the heartbeat thread,
:mod:`~pcmodel.topics.commits` offset commits and auto-commit, and
:mod:`~pcmodel.topics.consumer_config` the configuration keys and their checks. The parts are
mixins of :class:`KafkaConsumer` sharing its state under one lock, ``_lock``.

Prior art: the Java ``KafkaConsumer`` / ``ConsumerCoordinator`` / ``Fetcher``, kafka-python's
``kafka/consumer/group.py`` and ``subscription_state.py`` (names, per-partition state).
"""

from __future__ import annotations

import itertools
import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import Any

from pcmodel.buffers import make_buffer
from pcmodel.errors import ShutDown
from pcmodel.topics.broker_topics import check_topic_name
from pcmodel.topics.commits import CommitterMixin
from pcmodel.topics.config import CONSUMER_NO_EFFECT, resolve_config
from pcmodel.topics.consumer_config import DEFAULT_CONFIG, validate_config
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalArgumentError,
    IllegalStateError,
    InvalidGroupIdError,
    KafkaConfigurationError,
    KafkaTimeoutError,
    NoOffsetForPartitionError,
    UnassignedPartitionError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.fetcher import WAKEUP, FetcherMixin, PartitionState
from pcmodel.topics.membership import GroupMemberMixin
from pcmodel.topics.structs import (
    ConsumerRebalanceListener,
    ConsumerRecord,
    OffsetAndMetadata,
    OffsetAndTimestamp,
    TopicPartition,
    validate_topic_partition,
)

__all__ = ["DEFAULT_CONFIG", "KafkaConsumer"]

logger = logging.getLogger("pcmodel.topics.consumer")
# How long close() waits for a thread whose connection it shut down to notice and end.
_THREAD_EXIT_S = 1.0


class KafkaConsumer(FetcherMixin, GroupMemberMixin, CommitterMixin):
    """Consume records from topics of a :class:`~pcmodel.topics.broker.Broker`.

    ``KafkaConsumer(*topics, broker=..., group_id=..., **configs)`` takes kafka-python's
    configuration keys (see :data:`DEFAULT_CONFIG`); an unsupported key raises
    ``KafkaConfigurationError`` naming it. With ``topics`` it subscribes at once.
    """

    def __init__(self, *topics: str, broker: Any = None, **configs: Any) -> None:
        config = resolve_config(
            DEFAULT_CONFIG, configs, client="KafkaConsumer", no_effect=CONSUMER_NO_EFFECT
        )
        if broker is None or not hasattr(broker, "connect"):
            raise KafkaConfigurationError(
                "pass broker= (a pcmodel Broker, or a handle to a broker process)"
            )
        validate_config(config)
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
        self._states: dict[TopicPartition, PartitionState] = {}
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
        ``TypeError`` for a listener that is not a ``ConsumerRebalanceListener``. A topic that
        does not exist is created if ``allow_auto_create_topics`` and the broker allow it (as a
        Kafka broker answers the consumer's metadata request); otherwise the group is
        subscribed to it and its partitions are assigned once it is created.
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
            if self.config["allow_auto_create_topics"]:
                for topic in sorted(t for t in topics if t not in existing):
                    try:
                        self._conn.partitions_for(topic, auto_create=True)
                    except UnknownTopicOrPartitionError:
                        pass  # auto-creation is off on the broker: wait for the topic
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

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        """The partition numbers of ``topic``, or ``None`` if it does not exist (kafka-python).

        Creates a missing topic when ``allow_auto_create_topics`` and the broker allow it, as
        the metadata request of the Java client does.
        """
        self._check_open()
        try:
            return self._conn.partitions_for(
                topic, auto_create=self.config["allow_auto_create_topics"]
            )
        except UnknownTopicOrPartitionError:
            return None

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
            if item != WAKEUP:
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

        # In a group, a deleted topic is taken away by the rebalance that its deletion starts.

    # --- positions ----------------------------------------------------------------------------

    def position(self, partition: TopicPartition, timeout_ms: float | None = None) -> int:
        """The offset of the next record ``poll()`` will return for ``partition``.

        Looks up the committed offset (or applies ``auto_offset_reset``) if there is no
        position yet. Raises ``UnassignedPartitionError`` (an ``IllegalStateError``) if the
        partition is not assigned. ``timeout_ms`` bounds the lookup, as in kafka-python (the
        lookups here answer at once, so it only matters for a bad value).
        """
        tp = self._assigned(partition, "position")
        self._timeout_s(timeout_ms)
        self._init_positions()
        with self._lock:
            return self._states[tp].position

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Make the next ``poll()`` return ``partition``'s records from ``offset`` on.

        Any offset >= 0 is accepted, as in Kafka: one below the log start or beyond the log end
        makes the next fetch out of range, and ``auto_offset_reset`` applies then (``'none'``:
        ``poll()`` raises ``OffsetOutOfRangeError``). Raises ``UnassignedPartitionError`` (an
        ``IllegalStateError`` and a ``ValueError``) if not assigned, ``IllegalArgumentError`` (a
        ``ValueError``) for a negative offset; nothing changes then.
        """
        tp = self._assigned(partition, "seek")
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise TypeError(f"offset must be an int, got {offset!r}")
        if offset < 0:
            raise IllegalArgumentError(f"seek offset must be >= 0, got {offset}")
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

    def beginning_offsets(
        self, partitions: Iterable[TopicPartition], timeout_ms: float | None = None
    ) -> dict[TopicPartition, int]:
        """The first retained offset of each partition.

        A partition that does not exist is waited for (it may be being created) for up to
        ``timeout_ms`` (default ``request_timeout_ms``), then ``KafkaTimeoutError``, as the
        real clients do.
        """
        tps = list(partitions)
        return self._lookup(lambda: self._conn.beginning_offsets(tps), timeout_ms)

    def end_offsets(
        self, partitions: Iterable[TopicPartition], timeout_ms: float | None = None
    ) -> dict[TopicPartition, int]:
        """The end offset (next offset to be written) of each partition.

        ``timeout_ms`` as for :meth:`beginning_offsets`.
        """
        tps = list(partitions)
        return self._lookup(lambda: self._conn.end_offsets(tps), timeout_ms)

    def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int], timeout_ms: float | None = None
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """The earliest offset whose timestamp is >= the given ms, per partition.

        ``None`` for a partition without such a record. ``timeout_ms`` as for
        :meth:`beginning_offsets`.
        """
        wanted = dict(timestamps)
        return self._lookup(lambda: self._conn.offsets_for_times(wanted), timeout_ms)

    def _lookup(self, ask: Callable[[], Any], timeout_ms: float | None) -> Any:
        """Ask the broker; while a partition is unknown, wait for metadata until the timeout."""
        self._check_open()
        timeout = self._timeout_s(timeout_ms)
        deadline = time.monotonic() + timeout
        while True:
            version = self._conn.metadata_version()
            try:
                return ask()
            except UnknownTopicOrPartitionError as exc:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise KafkaTimeoutError(
                        f"offsets not found within timeout_ms={timeout * 1000:g}: {exc}"
                    ) from None
                self._conn.await_metadata_change(version, remaining)

    def _timeout_s(self, timeout_ms: float | None) -> float:
        """``timeout_ms`` in seconds (default ``request_timeout_ms``); checked as kafka-python."""
        if timeout_ms is None:
            timeout_ms = self.config["request_timeout_ms"]
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)):
            raise TypeError(f"timeout_ms must be a number of milliseconds, got {timeout_ms!r}")
        if timeout_ms < 0:
            raise IllegalArgumentError(f"timeout_ms must be >= 0, got {timeout_ms}")
        return timeout_ms / 1000

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

    def _set_position(self, st: PartitionState, offset: int) -> None:
        """Move a partition's position (lock held): drop everything fetched for the old one."""
        st.position = st.fetch_offset = offset
        st.epoch = next(self._epochs)
        st.pending.clear()
        self._work.notify_all()

    # --- commits ------------------------------------------------------------------------------

    def commit(
        self,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int] | None = None,
        timeout_ms: float | None = None,
    ) -> None:
        """Commit ``offsets`` (default: the position of every assigned partition) and wait.

        A committed offset is the next one to read: commit after processing for at-least-once
        delivery. As in Kafka, ``offsets`` may name any partition of an existing topic, assigned
        or not, and any offset >= 0, even beyond the log end (a consumer starting there is out
        of range and applies ``auto_offset_reset``). Raises ``CommitFailedError`` if the group
        rebalanced without this member (the next ``poll()`` rejoins), ``IllegalStateError``
        without a ``group_id``, ``UnknownTopicOrPartitionError`` for a partition that does not
        exist, ``IllegalArgumentError`` for a negative offset. ``timeout_ms`` (default
        ``request_timeout_ms``) bounds the wait; the commit here answers at once.
        """
        self._check_open()
        self._timeout_s(timeout_ms)
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
        callback = callback or self.config["default_offset_commit_callback"]
        if callback is not None:
            self._commit_callbacks.append(lambda: callback(to_commit, error))
        return future

    def committed(
        self, partition: TopicPartition, metadata: bool = False, timeout_ms: float | None = None
    ) -> Any:
        """The group's committed offset for ``partition`` (``None`` if never committed).

        With ``metadata=True`` an ``OffsetAndMetadata`` (kafka-python's switch). Needs a
        ``group_id``; the partition need not be assigned. ``timeout_ms`` (default
        ``request_timeout_ms``) bounds the lookup, which here answers at once.
        """
        self._check_open()
        tp = validate_topic_partition(partition)
        self._timeout_s(timeout_ms)
        self._require_group("committed")
        value = self._conn.committed(self._group_id, [tp])[tp]
        if value is None or metadata:
            return value
        return value.offset

    # --- closing ------------------------------------------------------------------------------

    def close(self, autocommit: bool = True, timeout_ms: int | None = None) -> None:
        """Commit (with auto-commit), leave the group, stop the threads; idempotent.

        Raises nothing for a member that was already removed. Threads are joined, waiting at
        most ``timeout_ms`` (default: ``fetch_max_wait_ms`` plus 5 s).
        """
        if self._closed:
            return
        deadline = None if timeout_ms is None else time.monotonic() + max(0, timeout_ms) / 1000
        if deadline is not None:
            # Calls to a broker process that does not answer end by the deadline (as Kafka's
            # close(timeout) forces the close when the commit and the leave take too long).
            for conn in self._connections:
                if conn is not self._broker and hasattr(conn, "bound_calls"):
                    conn.bound_calls(deadline)
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
        except KafkaTimeoutError as exc:
            logger.warning("close(): %s; the consumer closed without leaving its group", exc)
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
        # Our connections first: a thread waiting for a broker process gets until the deadline
        # for its answer, then its connection is shut down and it ends at once.
        for conn in self._connections:
            if conn is not self._broker and hasattr(conn, "close"):
                if hasattr(conn, "bound_calls"):
                    conn.close(timeout_ms=int(max(0.0, deadline - time.monotonic()) * 1000))
                else:
                    conn.close()
        for thread in (self._fetcher, self._heartbeat):
            if thread is not None:
                thread.join(max(_THREAD_EXIT_S, deadline - time.monotonic()))
        self._buffer.close()

    def __enter__(self) -> KafkaConsumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"member={self._member_id!r} gen={self._generation}"
        return f"<KafkaConsumer group={self._group_id!r} {state} assigned={len(self._states)}>"

    # --- small helpers ------------------------------------------------------------------------

    def _new_state(self) -> PartitionState:
        return PartitionState(next(self._epochs))

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
                raise UnassignedPartitionError(
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
