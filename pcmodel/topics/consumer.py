"""KafkaConsumer: pull records from partition logs, alone (``assign``) or in a group.

Three threads cooperate, as in the Java client:

- the **caller's thread** runs ``poll()``: it joins the group, runs the rebalance listener,
  commits, deserializes and hands out records. Every user callback runs here.
- a **fetcher thread** long-polls the broker for the assigned partitions and puts what it gets
  into the *fetch buffer*, a layer-1 bounded buffer that ``poll()`` drains. When the application
  is slow the buffer fills and the fetcher blocks on ``put``: backpressure, one layer down.
- a **heartbeat thread** keeps the group membership alive every ``heartbeat_interval_ms``, learns
  that a rebalance started, and leaves the group when ``poll()`` has not been called for
  ``max_poll_interval_ms`` (the Java client's rule, so a stuck application loses its partitions;
  a static member, with a ``group_instance_id``, gives up its member id but sends no LeaveGroup,
  as :mod:`~pcmodel.topics.membership` explains).

Positions: ``position(tp)`` is the offset of the next record ``poll()`` will return. Fetched
records beyond it sit in the fetch buffer; every ``seek``, ``pause`` or reset bumps the
partition's *epoch*, so data fetched before it is recognised as stale and dropped. Offsets are
committed as the next offset to read.

Transactions: with ``isolation_level="read_committed"`` a partition is read up to its last
stable offset and no record of an aborted transaction is handed out; at either level the
transaction markers never are, and the position moves past them
(:mod:`~pcmodel.topics.fetcher`). Such a consumer's committed offsets are looked up stable
(KIP-447: :mod:`~pcmodel.topics.positions`), and ``group_metadata()`` is what a transactional
producer's ``send_offsets_to_transaction()`` takes.

Choices where kafka-python and the Java client differ (the Java client wins):

- ``subscribe(pattern=...)`` matches whole topic names (``re.fullmatch``, as Java's
  ``Pattern.matcher().matches()``), and picks up topics created later.
- ``subscribe([])``, no topics and no pattern, is ``unsubscribe()`` (kafka-python raises
  ``ValueError``).
- ``commit_async`` sends the commit at once; its callback ``callback(offsets, exception)`` runs
  on the caller's thread at the next ``poll()``, ``commit()`` or ``close()``. It returns a
  future read as kafka-python's is (``is_done``, ``value``, ``exception``, ``succeeded()``).
- Each record carries the leader epoch its batch was written in, and a commit of the positions
  the epoch of the last record consumed (KIP-320: ``-1`` after a seek or a reset, the committed
  one for a position read from the group's offsets), as the Java client's ``commitSync()``.
- ``on_partitions_revoked`` and ``on_partitions_lost`` are called only with a non-empty set;
  ``on_partitions_assigned`` after every completed rebalance (cooperative: only the added ones).
- Exceptions raised by a rebalance listener do not stop the rebalance; the first is re-raised
  from ``poll()`` afterwards.
- Deserializers (functions, or ``Deserializer`` objects with ``deserialize(topic, headers,
  data)``, closed by ``close()``: :mod:`pcmodel.topics.serde`) are not called for a ``None``
  key or value. When one fails, ``poll()``
  returns the records before the failing one; the next ``poll()`` raises
  ``SerializationError`` and the position stays at the failing record (``seek()`` past it).
- ``assign()`` with ``enable_auto_commit`` first makes the auto-commit that is due, if one is
  (kafka-python commits whether due or not); before a rebalance every position is committed,
  with either protocol, and a cooperative member revokes a dropped topic's partitions then.
- ``unsubscribe()`` calls ``on_partitions_revoked`` and leaves the group without committing
  (the Java client's ``onLeavePrepare``; kafka-python auto-commits first): commit before it
  what was processed, or ``close()``, which commits.
- ``close()`` commits (with ``enable_auto_commit``), calls ``on_partitions_revoked`` and leaves
  the group, so the partitions move at once instead of after the session timeout; a static
  member does not leave, so that it gets them back when it restarts (KIP-345).

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

Where the parts live: this module is the facade (construction, ``poll()``, iteration, topic
metadata, ``close()``); :mod:`~pcmodel.topics.subscription` holds ``subscribe`` / ``assign``,
:mod:`~pcmodel.topics.fetcher` the fetcher thread and both ends of the fetch buffer
(``fetch_buffer``), :mod:`~pcmodel.topics.partition_state` what is known of each partition,
:mod:`~pcmodel.topics.positions` positions, seeking, pausing and offset lookups,
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
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pcmodel.buffers import make_buffer
from pcmodel.errors import ShutDown
from pcmodel.topics.broker_checks import _check_flag
from pcmodel.topics.commits import CommitterMixin
from pcmodel.topics.config import CONSUMER_NO_EFFECT, MAX_WAIT_MS, resolve_config, waitable_ms
from pcmodel.topics.consumer_config import DEFAULT_CONFIG, validate_config
from pcmodel.topics.consumer_metrics import ConsumerMetricsMixin
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    KafkaConfigurationError,
    KafkaTimeoutError,
    UnassignedPartitionError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.fetcher import WAKEUP, FetcherMixin
from pcmodel.topics.membership import GroupMemberMixin
from pcmodel.topics.partition_state import PartitionState
from pcmodel.topics.positions import PositionsMixin
from pcmodel.topics.serde import close_all, converter, object_form
from pcmodel.topics.structs import (
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
    validate_topic_partition,
)
from pcmodel.topics.subscription import SubscriptionMixin

__all__ = ["DEFAULT_CONFIG", "KafkaConsumer"]

logger = logging.getLogger("pcmodel.topics.consumer")
# How long close() waits for a thread whose connection it shut down to notice and end.
_THREAD_EXIT_S = 1.0


class KafkaConsumer(
    SubscriptionMixin, FetcherMixin, PositionsMixin, GroupMemberMixin, CommitterMixin,
    ConsumerMetricsMixin,
):
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
        # Each as f(data), or as f(topic, headers, data) if it sees the headers (validated above).
        self._key_deserializer, self._key_sees_headers = converter(
            "key_deserializer", config["key_deserializer"], "deserialize")
        self._value_deserializer, self._value_sees_headers = converter(
            "value_deserializer", config["value_deserializer"], "deserialize")
        self._broker = broker
        self._group_id: str | None = config["group_id"]
        self._clock: Callable[[], float] = config["clock"]

        # Shared with the fetcher and heartbeat threads; guards everything below.
        self._lock = threading.Lock()
        # Notified when there may be something new to fetch (assignment, seek, resume, close).
        self._work = threading.Condition(self._lock)
        self._states: dict[TopicPartition, PartitionState] = {}
        self._counts: Counter[str] = Counter()  # see ConsumerMetricsMixin
        self._epochs = itertools.count(1)
        self._closed = False
        self._worker_error: BaseException | None = None
        self._init_fetching()

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
        self._connections: list[Any] = []
        self._fetcher: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None
        try:  # a consumer that fails here keeps no connection or thread: close what is open
            self._conn = broker.connect()
            self._connections.append(self._conn)
            self._fetch_conn = broker.connect()  # the fetcher's own: its long polls block
            self._connections.append(self._fetch_conn)
            fetcher = threading.Thread(target=self._fetch_loop, args=(self._fetch_conn,),
                                       name="pcmodel-fetcher", daemon=True)  # as Java's
            fetcher.start()
            self._fetcher = fetcher  # once started: close() joins it
            if topics:
                self.subscribe(topics)
        except BaseException:
            self._shutdown_threads(None)
            raise

    # --- topic metadata ---------------------------------------------------------------------------

    def topics(self) -> set[str]:
        """Every topic on the broker."""
        self._check_open()
        return set(self._conn.list_topics())

    def partitions_for_topic(self, topic: str) -> set[int]:
        """The partition numbers of ``topic``; an empty set if it does not exist, as
        kafka-python 3 answers (the Java client's ``partitionsFor`` an empty list).

        Creates a missing topic when ``allow_auto_create_topics`` and the broker allow it, as
        the metadata request of the Java client does.
        """
        self._check_open()
        try:
            return self._conn.partitions_for(
                topic, auto_create=self.config["allow_auto_create_topics"]
            )
        except UnknownTopicOrPartitionError:
            return set()

    # --- polling ------------------------------------------------------------------------------

    def poll(self, timeout_ms: float = 0, max_records: int | None = None,
             update_offsets: bool = True) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Return the next records, at most ``max_records`` (default ``max_poll_records``).

        Waits up to ``timeout_ms`` for records (and for a rebalance to complete); returns ``{}``
        if there were none. Records of one partition come in offset order, each exactly once
        unless the position is moved back. ``update_offsets=False`` (kafka-python 3's, which
        its iterator uses) returns the records but leaves the positions where they were: what
        was fetched beyond them is dropped, and the next poll returns the same records again,
        unless ``seek()`` moves past them first (a commit of the positions commits the old
        ones). Raises ``IllegalStateError`` if closed or neither
        subscribed nor assigned; ``NoOffsetForPartitionError`` / ``OffsetOutOfRangeError`` with
        ``auto_offset_reset='none'``; ``SerializationError`` if a deserializer fails; and
        re-raises an exception of the fetcher or heartbeat thread, or of a rebalance listener.
        """
        self._check_open()
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)):
            raise TypeError(f"timeout_ms must be a number, got {timeout_ms!r}")
        if not waitable_ms(timeout_ms):
            raise IllegalArgumentError(
                f"timeout_ms must be from 0 to {MAX_WAIT_MS:g} ms, got {timeout_ms}")
        if max_records is None:
            max_records = self.config["max_poll_records"]
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise IllegalArgumentError(f"max_records must be an int >= 1, got {max_records!r}")
        _check_flag("update_offsets", update_offsets)
        with self._lock:
            if self._subscribed_topics is None and not self._manual:
                raise IllegalStateError(
                    "no topic subscription or manual partition assignment; call subscribe() or "
                    "assign() first"
                )
            self._in_poll = True
            self._poll_started()
            self._last_poll = self._clock()
        try:
            return self._poll(time.monotonic() + timeout_ms / 1000, max_records, update_offsets)
        finally:
            with self._lock:
                self._in_poll = False
                self._last_poll = self._clock()

    def _poll(self, deadline: float, max_records: int, update_offsets: bool = True) -> dict[
        TopicPartition, list[ConsumerRecord]
    ]:
        while True:
            self._raise_worker_error()
            self._run_commit_callbacks()
            self._maybe_auto_commit()
            retry_group = False
            if self._subscribed_topics is not None:
                retry_group = self._ensure_group(deadline)
            positioned = self._init_positions()
            with self._lock:
                before = {tp: (st.position, st.position_epoch)
                          for tp, st in self._states.items()}
            records = self._collect(max_records)
            if records and not update_offsets:
                self._put_positions_back(records, before)
            if records:
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {}
            if not positioned or retry_group:
                # A transaction is committing the group's offsets, or the group's coordinator
                # was not available: ask again.
                remaining = min(remaining, self.config["retry_backoff_ms"] / 1000)
            try:
                item = self._buffer.get(timeout=remaining)
            except queue.Empty:
                continue
            except ShutDown:
                self._raise_worker_error()
                raise IllegalStateError("the consumer's fetch buffer was shut down") from None
            if item != WAKEUP:
                self._accept(item)

    def _put_positions_back(self, records: Mapping[TopicPartition, Any],
                            before: Mapping[TopicPartition, tuple[int | None, int]]) -> None:
        """Give the partitions of ``records`` back the positions they had ``before`` the poll
        took them (kafka-python's ``update_offsets=False``), dropping what was fetched beyond:
        the fetcher reads from there again, as kafka-python's does."""
        with self._lock:
            for tp in records:
                st = self._states.get(tp)
                position, leader_epoch = before.get(tp, (None, -1))
                if st is not None and position is not None:
                    self._set_position(st, position, leader_epoch)

    def __iter__(self) -> KafkaConsumer:
        return self

    def __next__(self) -> ConsumerRecord:
        """The next record; ``StopIteration`` after ``consumer_timeout_ms`` without one.
        Raises as ``poll()``: ``IllegalStateError`` once closed (kafka-python's stops)."""
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

    # --- closing ------------------------------------------------------------------------------

    def close(self, autocommit: bool = True, timeout_ms: int | None = None) -> None:
        """Commit (with auto-commit), leave the group (unless the member is static), stop the
        threads; idempotent. The listener hears ``on_partitions_revoked``, or
        ``on_partitions_lost`` from a member in the middle of a rebalance or whose membership
        is gone (nothing is committed then), as the Java client's ``onLeavePrepare``.

        Raises nothing for a member that was already removed. Threads are joined, waiting at
        most ``timeout_ms`` (default: ``fetch_max_wait_ms`` plus 5 s). The fetch in flight is
        abandoned at once, its answer dropped, as the Java client drops it. A bad ``timeout_ms``
        (negative too, as in Java) or ``autocommit`` raises before anything is done. A raising
        ``commit_async`` callback or listener does not stop the close: every callback runs,
        the member leaves, the threads stop, then the first exception is raised (as Java's).
        """
        _check_flag("autocommit", autocommit)
        if timeout_ms is not None:
            self._timeout_s(timeout_ms)
        if self._closed:
            return
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        if deadline is not None:
            # Calls to a broker process that does not answer end by the deadline (as Kafka's
            # close(timeout) forces the close when the commit and the leave take too long).
            for conn in self._connections:
                if conn is not self._broker and hasattr(conn, "bound_calls"):
                    conn.bound_calls(deadline)
        first_error: BaseException | None = None
        try:
            while self._commit_callbacks:  # each runs, whichever raises: none is run later
                try:
                    self._run_commit_callbacks()
                except Exception as exc:
                    first_error = first_error or exc
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
        except Exception as exc:  # a listener's, raised once the member has left
            first_error = first_error or exc
        finally:
            self._shutdown_threads(timeout_ms)
        if first_error is not None:
            raise first_error

    def _shutdown_threads(self, timeout_ms: int | None) -> None:
        with self._lock:
            self._closed = True
            self._work.notify_all()
        self._stop.set()
        self._end_fetch()  # a fetch waiting at a broker in this process returns now
        self._buffer.shutdown(immediate=True)
        if timeout_ms is None:
            timeout = self.config["fetch_max_wait_ms"] / 1000 + 5
        else:
            timeout = timeout_ms / 1000
        deadline = time.monotonic() + timeout
        # Our connections first: a thread waiting for a broker process gets until the deadline
        # for its answer, then its connection is shut down and it ends at once. The fetcher's
        # answer would be dropped: its connection is shut down now.
        for conn in self._connections:
            if conn is not self._broker and hasattr(conn, "close"):
                if hasattr(conn, "bound_calls"):
                    wait = 0.0 if conn is self._fetch_conn else deadline - time.monotonic()
                    conn.close(timeout_ms=int(max(0.0, wait) * 1000))
                else:
                    conn.close()
        for thread in (self._fetcher, self._heartbeat):
            if thread is not None:
                thread.join(max(_THREAD_EXIT_S, deadline - time.monotonic()))
        self._buffer.close()
        close_all(object_form({key: self.config[key]
                               for key in ("key_deserializer", "value_deserializer")},
                              "deserialize"))

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
        """The partitions of ``pause(*partitions)`` and the like, each checked and assigned
        (every assigned one if none is given and ``default_all``), before anything changes.
        Each partition is an argument of its own, as in kafka-python: ``TypeError`` for one
        argument that holds several (``pause([tp])``, ``pause({tp})``), saying so."""
        self._check_open()
        if not partitions and default_all:
            return sorted(self.assignment())
        for value in partitions:
            if _holds_partitions(value):
                raise TypeError(f"{what}() takes each partition as an argument of its own, not "
                                f"the {type(value).__name__} {value!r}: {what}(*partitions)")
        return [self._assigned(tp, what) for tp in partitions]


def _holds_partitions(value: object) -> bool:
    """Whether ``value`` is a collection of partitions rather than one: an iterable other than
    a string that is not a ``(topic, partition)`` tuple (a partition holds no tuple)."""
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Iterable):
        return False
    return not isinstance(value, tuple) or any(isinstance(field, tuple) for field in value)
