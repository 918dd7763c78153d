"""The consumer's fetcher thread and the layer-1 fetch buffer between it and ``poll()``.

The fetcher thread long-polls the broker for every fetchable partition and puts each partition's
batch into the *fetch buffer*, a bounded buffer from :func:`pcmodel.buffers.make_buffer`. The
caller's thread, in ``poll()``, drains the buffer into each partition's ``pending`` records and
deserializes what it returns. When the application is slow the buffer fills and the fetcher
blocks in ``put``: backpressure, one layer down.

Pacing: a fetch waits at the broker up to ``fetch_max_wait_ms`` for records, and a fetch that
brings some is followed by the next at once, until the buffer is full. A fetch that brings
nothing (every partition is caught up) is not repeated until a ``poll()`` runs or has run since
it was sent, or something new is to be fetched (an assignment, a seek, a resume): the Java
client sends fetches only within ``poll()``. Without that rule a consumer that is not polling,
with ``fetch_max_wait_ms=0`` (which the broker answers at once), fetched tens of thousands of
times a second for nothing. While a ``poll()`` waits, empty fetches follow one another as in
the Java client, each waiting up to ``fetch_max_wait_ms``.

Every item carries the partition's *epoch* at fetch time. A ``seek``, ``pause`` or offset reset
gives the partition a new epoch, so data fetched before it is recognised as stale and dropped on
either side of the buffer, without the fetcher and ``poll()`` ever holding the lock across a
broker call.

Transactions: a fetch may hold records the application must never see, the COMMIT and ABORT
markers, and, with ``isolation_level="read_committed"`` (which fetches only up to each
partition's last stable offset), the records of aborted transactions. The fetcher drops them
(:func:`~pcmodel.topics.log_transactions.visible_records`, the Java consumer's filter) and each
item says where its fetch ended (``next_offset``): once ``poll()`` has returned every record
before that offset, the position moves there, past what was dropped. Without that a fetch of
markers only would leave the position behind them for ever.

:class:`FetcherMixin` is one part of :class:`~pcmodel.topics.consumer.KafkaConsumer`; it uses
the consumer's ``_lock``, ``_work`` condition, ``_states`` (each partition's
:class:`~pcmodel.topics.partition_state.PartitionState`), ``_buffer``, ``_stop`` and ``config``.

Closing: ``close()`` sets the consumer's ``_stop`` event, which the fetcher gives a broker or a
cluster connection in this process as the fetch's ``cancel``, and wakes the fetches waiting
there (``wake_fetches()``): the fetch in flight returns at once and its answer is dropped, as
the Java client drops a fetch response that comes after ``close()``. An event cannot travel to
a broker process: there ``close()`` shuts the fetcher's own connection, and the fetch in
flight ends with it.

Prior art: the Java client's ``Fetcher`` and ``FetchBuffer``, kafka-python's
``kafka/consumer/fetcher.py`` and ``TopicPartitionState`` in ``subscription_state.py``.
"""

from __future__ import annotations

import logging
import queue
from typing import Any, NamedTuple

from pcmodel.errors import ShutDown
from pcmodel.topics.broker_results import FetchError, FetchResult
from pcmodel.topics.errors import (
    KafkaError,
    OffsetOutOfRangeError,
    SerializationError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.log_records import LogRecord
from pcmodel.topics.log_transactions import visible_records
from pcmodel.topics.partition_state import extend_leader_epochs
from pcmodel.topics.structs import ConsumerRecord, TopicPartition

__all__ = [
    "FETCH_MAX_RECORDS",
    "WAKEUP",
    "FetchFailed",
    "Fetched",
    "FetcherMixin",
]

# Named after the consumer, which is what a user configures logging for.
logger = logging.getLogger("pcmodel.topics.consumer")

#: The most records one fetch asks for (or ``max_poll_records`` if larger); the stand-in for
#: Kafka's ``fetch_max_bytes``, since records here have no wire size.
FETCH_MAX_RECORDS = 500


class Fetched(NamedTuple):
    """Records the fetcher read for ``tp`` from offset ``fetched_from`` up to ``next_offset``
    (exclusive) while the partition was at ``epoch``: those the application may see (on a
    compacted topic, or past markers and aborted records, they may skip offsets).
    ``leader_epochs`` are the leader epochs the fetched records were written in, as
    ``(leader epoch, first offset written in it)`` pairs, oldest first (see
    :func:`written_epochs`)."""

    tp: TopicPartition
    epoch: int
    records: tuple[LogRecord, ...]
    fetched_from: int
    next_offset: int
    leader_epochs: tuple[tuple[int, int], ...] = ()


class FetchFailed(NamedTuple):
    """The fetch of ``tp`` at ``epoch`` failed with ``error``; ``poll()`` handles it."""

    tp: TopicPartition
    epoch: int
    error: FetchError


#: Put into the fetch buffer (if there is room) to wake a waiting poll() early.
WAKEUP = "wakeup"


def written_epochs(conn: Any, tp: TopicPartition, first: int, last: int) -> tuple[
    tuple[int, int], ...
]:
    """The leader epochs the records ``first..last`` of ``tp`` were written in, as ``(epoch,
    first offset)`` pairs: what the record batches of a Kafka fetch carry
    (*partitionLeaderEpoch*, KIP-101). A replicated cluster's connection knows them
    (``written_epochs``); a lone broker's only leader epoch is 0, as its Kafka listener's
    Metadata and Fetch answer. ``-1`` (unknown) where the cluster could not say: the leader
    moved or the records were deleted since the fetch."""
    if getattr(conn, "replicates", False) is not True:
        return ((0, first),)
    try:
        return tuple(conn.written_epochs(tp, first, last))
    except KafkaError:
        return ((-1, first),)


def fetches_in_process(conn: Any) -> bool:
    """Whether ``conn`` is a broker or a cluster's connection in this process: its ``fetch``
    takes a ``cancel`` event and it has ``wake_fetches()``. A broker process's connection
    (:class:`~pcmodel.topics.client.RemoteBroker`) has neither: an event does not pickle."""
    return callable(getattr(conn, "wake_fetches", None))


def application_records(result: FetchResult, read_committed: bool) -> tuple[LogRecord, ...]:
    """The records of a fetch that the application may see: never a transaction marker, and
    with ``read_committed`` no record of an aborted transaction."""
    if not result.transactional_batches:  # no transaction here: every record
        return result.records
    return tuple(visible_records(result.records, result.transactional_batches,
                                 result.aborted_transactions or (), read_committed))


class FetcherMixin:
    """The fetcher thread (producer side of the fetch buffer) and ``poll()``'s consumer side."""

    @property
    def fetch_buffer(self) -> Any:
        """The layer-1 bounded buffer between the fetcher thread and ``poll()``.

        Each item is one fetched batch of one partition. Read its ``stats()`` (with
        ``fetch_buffer_instrument``) to see how long the fetcher waited for space: the time the
        application was the bottleneck. Do not put or get items yourself.
        """
        return self._buffer

    # --- the fetcher thread -------------------------------------------------------------------

    def _fetch_loop(self, conn: Any) -> None:
        """Fetcher thread: long-poll the broker, put what comes into the fetch buffer; after a
        fetch that brought nothing, wait for a ``poll()`` or something new to fetch (see the
        module's *Pacing*)."""
        wait = self.config["fetch_max_wait_ms"] / 1000
        # A fetch is not limited by max_poll_records (Kafka limits fetches by bytes instead), so
        # that poll(max_records=1) takes records from memory rather than waiting for a fetch.
        fetch_size = max(FETCH_MAX_RECORDS, self.config["max_poll_records"])
        isolation_level = self.config["isolation_level"]
        read_committed = isolation_level == "read_committed"
        # close() sets _stop and wakes a fetch waiting in this process: it returns at once. An
        # event cannot travel to a broker process: close() shuts that connection instead.
        cancel = {"cancel": self._stop} if fetches_in_process(conn) else {}
        # After a fetch that brought nothing: (polls counted when it was sent, what it asked).
        idle: tuple[int, dict[TopicPartition, tuple[int, int]]] | None = None
        try:
            while True:
                with self._lock:
                    while True:
                        if self._closed:
                            return
                        requests = self._fetch_requests()
                        asked = {tp: (self._states[tp].epoch, offset)
                                 for tp, offset in requests.items()}
                        if requests and (idle is None or self._in_poll
                                         or idle != (self._polls, asked)):
                            break
                        self._work.wait()  # for a poll(), or for something new to fetch
                    polls = self._polls
                    epochs = {tp: epoch for tp, (epoch, _) in asked.items()}
                results = conn.fetch(
                    requests, max_records=fetch_size, timeout=wait,
                    isolation_level=isolation_level, **cancel,
                )
                visible = {tp: application_records(res, read_committed)
                           for tp, res in results.items() if res.records}
                leader_epochs = {tp: written_epochs(conn, tp, res.records[0].offset,
                                                    res.records[-1].offset)
                                 for tp, res in results.items() if res.records}
                items: list[Fetched | FetchFailed] = []
                with self._lock:
                    self._tally("fetches")
                    for tp, res in results.items():
                        st = self._states.get(tp)
                        if st is None or st.epoch != epochs[tp] or st.fetch_offset != requests[tp]:
                            continue
                        st.high_watermark = res.high_watermark
                        st.last_stable_offset = res.last_stable_offset
                        if res.error is not None:
                            st.fetch_offset = None  # stop until poll() handles the error
                            items.append(FetchFailed(tp, st.epoch, res.error))
                        elif res.records:
                            # Put even when nothing is visible: poll() moves the position on.
                            st.fetch_offset = res.records[-1].offset + 1
                            items.append(Fetched(tp, st.epoch, visible[tp], requests[tp],
                                                 st.fetch_offset, leader_epochs[tp]))
                idle = None if items else (polls, asked)
                if items:
                    self._buffer.put_many(items)
        except ShutDown:
            return
        except BaseException as exc:  # never lost: poll() re-raises it
            self._fail(exc)

    def _init_fetching(self) -> None:
        """The fetch state :class:`~pcmodel.topics.consumer.KafkaConsumer` starts with."""
        self._rotation = 0  # which partition _collect() starts with
        self._fetch_rotation = 0  # which partition a fetch asks for first
        self._polls = 0  # poll() calls so far: each may send a fetch (see _poll_started)
        self._fetch_conn: Any = None  # the fetcher thread's connection, once open

    def _end_fetch(self) -> None:
        """close(), once ``_stop`` is set: end the fetcher's wait at a broker or cluster in this
        process now (a fetch at a broker process ends when close() shuts its connection)."""
        if fetches_in_process(self._fetch_conn):
            self._fetch_conn.wake_fetches()

    def _poll_started(self) -> None:
        """A poll() begins (the caller holds ``_lock``): a fetcher that found nothing new at
        its last fetch sends another now, as the Java client fetches within poll()."""
        self._polls += 1
        self._work.notify_all()

    def _fetch_requests(self) -> dict[TopicPartition, int]:
        fetchable = [(tp, st.fetch_offset) for tp, st in self._states.items() if st.is_fetchable()]
        if fetchable:
            # Rotate so that one busy partition cannot starve the others of the record budget.
            self._fetch_rotation += 1
            shift = self._fetch_rotation % len(fetchable)
            fetchable = fetchable[shift:] + fetchable[:shift]
        return dict(fetchable)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._closed:
                return
            self._worker_error = self._worker_error or exc
        self._wakeup()

    def _wakeup(self) -> None:
        try:
            self._buffer.put_nowait(WAKEUP)
        except (queue.Full, ShutDown):
            pass  # a full buffer means poll() is not waiting anyway

    def _raise_worker_error(self) -> None:
        with self._lock:
            error = self._worker_error
        if error is not None:
            raise error

    # --- draining the fetch buffer (poll()'s thread) ------------------------------------------

    def _collect(self, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Take up to ``max_records`` buffered records, fairly across partitions."""
        while self._pending_count() < max_records:
            try:
                item = self._buffer.get_nowait()
            except (queue.Empty, ShutDown):
                break
            if item != WAKEUP:
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
                picked.append((tp, st.epoch, records, tuple(st.pending_leader_epochs)))
                budget -= len(records)
        # Deserialize without the lock (it is user code). A failing record stops the poll there:
        # the records before it are returned, and the next poll raises (as the Java client).
        result: dict[TopicPartition, list[ConsumerRecord]] = {}
        epochs: dict[TopicPartition, int] = {}
        error: SerializationError | None = None
        for tp, epoch, records, leader_epochs in picked:
            converted, error = self._convert(tp, records, leader_epochs)
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
                st.moved_on(result[tp][-1].offset + 1 if st.pending else st.pending_end)
                self._tally("records", len(result[tp]))
                self._tally("bytes", sum(max(0, r.serialized_key_size)
                                         + max(0, r.serialized_value_size) for r in result[tp]))
        return result

    def _pending_count(self) -> int:
        with self._lock:
            return sum(len(st.pending) for st in self._states.values())

    def _accept(self, item: Fetched | FetchFailed) -> None:
        """Move one fetch-buffer item into the partition's pending records (or handle it)."""
        with self._lock:
            st = self._states.get(item.tp)
            if st is None or st.epoch != item.epoch or st.position is None:
                return  # stale: the partition moved, was revoked, sought or paused meanwhile
            if isinstance(item, Fetched):
                # Keep the part from where the data taken so far ends, if the fetch read from
                # there on (offsets may be skipped: compaction, markers, aborted records).
                expected = st.pending_end
                if item.fetched_from <= expected < item.next_offset:
                    records = item.records
                    skip = 0
                    while skip < len(records) and records[skip].offset < expected:
                        skip += 1
                    st.pending.extend(records[skip:])
                    st.pending_end = item.next_offset
                    extend_leader_epochs(st.pending_leader_epochs, item.leader_epochs,
                                         expected)
                    if not st.pending:  # nothing to return: move past what was dropped
                        st.moved_on(st.pending_end)
                return
            position = st.position
        if item.error is FetchError.OFFSET_OUT_OF_RANGE:
            self._reset_out_of_range(item.tp, item.epoch, position)
        elif self._manual:
            raise UnknownTopicOrPartitionError(
                f"{item.tp} no longer exists (its topic was deleted); assign() other partitions"
            )

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
            else self._end_offsets([tp])
        )
        with self._lock:
            st = self._states.get(tp)
            if st is not None and st.epoch == epoch:
                logger.info("resetting %s from %d to %s offset %d", tp, position, policy,
                            offsets[tp])
                self._set_position(st, offsets[tp])

    def _convert(
        self, tp: TopicPartition, records: list[LogRecord],
        leader_epochs: tuple[tuple[int, int], ...] = (),
    ) -> tuple[list[ConsumerRecord], SerializationError | None]:
        """Deserialize ``records`` in order; stop at the first failure and return it. Each
        record carries its leader epoch, from ``leader_epochs`` (``(epoch, first offset)``
        pairs covering them, oldest first)."""
        converted: list[ConsumerRecord] = []
        key_fn = self._key_deserializer
        value_fn = self._value_deserializer
        key_headers, value_headers = self._key_sees_headers, self._value_sees_headers
        make = tuple.__new__  # ConsumerRecord(...) without the keyword-handling constructor
        topic, partition = tp
        pair = -1  # the index of the pair the current record was written in
        leader_epoch = -1
        for offset, timestamp, timestamp_type, key, value, headers in records:
            while pair + 1 < len(leader_epochs) and leader_epochs[pair + 1][1] <= offset:
                pair += 1
                leader_epoch = leader_epochs[pair][0]
            header_size = (  # as stored, before a deserializer sees (and may change) them
                sum(len(hk.encode()) + (0 if hv is None else len(hv)) for hk, hv in headers)
                if headers else -1
            )
            headers = list(headers)  # the record's own list
            stage = "key_deserializer"
            try:
                if key is None or key_fn is None:
                    k = key
                else:
                    k = key_fn(topic, headers, key) if key_headers else key_fn(key)
                stage = "value_deserializer"
                if value is None or value_fn is None:
                    v = value
                else:
                    v = value_fn(topic, headers, value) if value_headers else value_fn(value)
            except Exception as exc:
                error = SerializationError(
                    f"{stage} failed on the record at offset {offset} of {tp}: {exc!r}; "
                    "seek() past it to skip it"
                )
                error.__cause__ = exc
                return converted, error
            converted.append(make(ConsumerRecord, (
                topic, partition, leader_epoch, offset, timestamp, timestamp_type, k, v, headers,
                None, -1 if key is None else len(key), -1 if value is None else len(value),
                header_size,
            )))
        return converted, None
