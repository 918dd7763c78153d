"""The consumer's positions: where ``poll()`` reads next, seeking, pausing, and offset lookups.

Each assigned partition has a position, the offset of the next record ``poll()`` returns. A
partition without one gets it when it is first needed: the group's committed offset, else
``auto_offset_reset`` (``"earliest"``, ``"latest"``, or ``"none"``: ``NoOffsetForPartitionError``).
``seek_to_beginning`` / ``seek_to_end`` only ask for such a reset, as in Kafka's clients: the
offset is looked up when the position is next needed, so ``seek_to_end()`` also skips what is
written between it and the next ``poll()`` or ``position()``.
Moving a position (``seek``, a reset, ``pause``) bumps the partition's *epoch* under the
consumer's lock, so whatever the fetcher fetched for the old position is recognised as stale and
dropped. Offset lookups (``beginning_offsets``, ``end_offsets``, ``offsets_for_times``) create a
topic that does not exist where ``allow_auto_create_topics`` and the broker allow it (the Java
client's metadata request does), and wait for a partition that does not exist yet until their
``timeout_ms``, then raise ``KafkaTimeoutError``, as the real clients do.

With ``isolation_level="read_committed"`` the end of a partition is its last stable offset (for
``end_offsets``, ``seek_to_end``, ``auto_offset_reset="latest"`` and the lag), and a committed
offset is looked up with ``require_stable`` (KIP-447): while a transaction has staged an offset
for the partition the broker answers ``UnstableOffsetCommitError`` and the lookup asks again,
every ``retry_backoff_ms``, until it is decided or its time is up.

:class:`PositionsMixin` is one part of :class:`~pcmodel.topics.consumer.KafkaConsumer`.

Prior art: the Java client's ``SubscriptionState`` positions and ``Fetcher.resetOffsets``,
kafka-python's ``KafkaConsumer.seek`` / ``position`` / ``offsets_for_times``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pcmodel.topics.broker_checks import _check_int, _check_mapping, _check_partitions
from pcmodel.topics.commits import OFFSET_MAX
from pcmodel.topics.config import MAX_WAIT_MS, waitable_ms
from pcmodel.topics.errors import (
    IllegalArgumentError,
    KafkaTimeoutError,
    NoOffsetForPartitionError,
    UnknownTopicOrPartitionError,
    UnstableOffsetCommitError,
)
from pcmodel.topics.partition_state import PartitionState
from pcmodel.topics.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

__all__ = ["PositionsMixin"]


class PositionsMixin:
    """Positions, seeking, pausing and offset lookups of the assigned partitions."""

    def position(self, partition: TopicPartition, timeout_ms: float | None = None) -> int:
        """The offset of the next record ``poll()`` will return for ``partition``.

        Looks up the committed offset (or applies ``auto_offset_reset``) if there is no
        position yet. Raises ``UnassignedPartitionError`` (an ``IllegalStateError``) if the
        partition is not assigned. ``timeout_ms`` (default ``request_timeout_ms``) bounds the
        lookup, as in kafka-python: a ``read_committed`` consumer's waits while a transaction
        stages the group's offset, then raises ``KafkaTimeoutError``.
        """
        tp = self._assigned(partition, "position")
        deadline = time.monotonic() + self._timeout_s(timeout_ms)
        self._init_positions(deadline)
        with self._lock:
            position = self._states[tp].position
        if position is None:
            raise KafkaTimeoutError(
                f"no position for {tp} within timeout_ms: a transaction is committing the "
                "group's offset for it; ask again")
        return position

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Make the next ``poll()`` return ``partition``'s records from ``offset`` on.

        Any offset >= 0 is accepted, as in Kafka: one below the log start or beyond the log end
        makes the next fetch out of range, and ``auto_offset_reset`` applies then (``'none'``:
        ``poll()`` raises ``OffsetOutOfRangeError``). Raises ``UnassignedPartitionError`` (an
        ``IllegalStateError`` and a ``ValueError``) if not assigned, ``IllegalArgumentError`` (a
        ``ValueError``) for a negative offset or one above ``2**63 - 1`` (offsets are Java
        longs), ``TypeError`` for one that is not an int; nothing changes then.
        """
        tp = self._assigned(partition, "seek")
        _check_int("seek offset", offset, 0, IllegalArgumentError, OFFSET_MAX)
        self._seek_many({tp: offset})

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Seek to the first retained offset of ``partitions`` (all assigned if none given).

        Lazily, as the Java client and kafka-python: the offset is looked up when the position
        is next needed (``poll()``, ``position()``), not now. Each partition is an argument of
        its own, as in kafka-python: ``TypeError`` for one that is not a partition (a list of
        them: pass ``*partitions``), ``UnassignedPartitionError`` for one not assigned; nothing
        changes then.
        """
        self._request_reset(self._assigned_many(partitions, "seek_to_beginning"), "earliest")

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        """Seek to the end of ``partitions`` (all assigned if none given): only records written
        after the position is next needed, when the end is looked up (lazily, as
        :meth:`seek_to_beginning`, with its errors)."""
        self._request_reset(self._assigned_many(partitions, "seek_to_end"), "latest")

    def _request_reset(self, tps: list[TopicPartition], strategy: str) -> None:
        """Forget the positions of ``tps`` until :meth:`_init_positions` resets them to
        ``strategy``; a new epoch drops what was fetched for them meanwhile."""
        with self._lock:
            for tp in tps:
                st = self._states[tp]
                st.position = st.fetch_offset = st.pending_end = None
                st.position_epoch = -1
                st.pending.clear()
                st.pending_leader_epochs.clear()
                st.reset = strategy
                st.epoch = next(self._epochs)

    def _seek_many(self, offsets: Mapping[TopicPartition, int]) -> None:
        with self._lock:
            for tp, offset in offsets.items():
                st = self._states.get(tp)
                if st is not None:
                    self._set_position(st, offset)

    def pause(self, *partitions: TopicPartition) -> None:
        """Stop returning and fetching records of ``partitions`` until ``resume()``. Errors as
        :meth:`seek_to_beginning`'s, before any partition is paused."""
        tps = self._assigned_many(partitions, "pause", default_all=False)
        with self._lock:
            for tp in tps:
                st = self._states[tp]
                st.paused = True
                # Drop what was fetched ahead; it is read again after resume().
                if st.position is not None:
                    st.move_to(st.position, st.position_epoch)
                st.epoch = next(self._epochs)

    def resume(self, *partitions: TopicPartition) -> None:
        """Return and fetch records of ``partitions`` again. Errors as
        :meth:`seek_to_beginning`'s, before any partition is resumed."""
        tps = self._assigned_many(partitions, "resume", default_all=False)
        with self._lock:
            for tp in tps:
                self._states[tp].paused = False
            self._work.notify_all()

    def paused(self) -> set[TopicPartition]:
        """The partitions paused with ``pause()``. Raises ``IllegalStateError`` once the
        consumer is closed, as the Java client's ``paused()`` does."""
        self._check_open()
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

        A topic that does not exist is created where ``allow_auto_create_topics`` and the
        broker allow it; a partition that does not exist is waited for (it may be being
        created) for up to ``timeout_ms`` (default ``request_timeout_ms``), then
        ``KafkaTimeoutError``, as the real clients do. Raises ``TypeError``, before asking
        the broker, for ``partitions`` that are not a list of ``TopicPartition``: a bare str,
        a single partition, or a mapping (``{tp: offset}`` would be taken as its keys).
        """
        tps = _check_partitions("partitions", partitions)
        return self._lookup(lambda: self._conn.beginning_offsets(tps), timeout_ms, tps)

    def end_offsets(
        self, partitions: Iterable[TopicPartition], timeout_ms: float | None = None
    ) -> dict[TopicPartition, int]:
        """The end offset of each partition: the next offset to be written, or with
        ``isolation_level="read_committed"`` the last stable offset (the first offset of the
        oldest transaction still open), as the Java client answers.

        ``timeout_ms`` and ``TypeError`` as for :meth:`beginning_offsets`.
        """
        tps = _check_partitions("partitions", partitions)
        return self._lookup(lambda: self._end_offsets(tps), timeout_ms, tps)

    def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int], timeout_ms: float | None = None
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """The earliest offset whose timestamp is >= the given ms, per partition.

        ``None`` for a partition without such a record. Each found offset comes with the leader
        epoch of its record, as the broker's ListOffsets answers it (a lone broker's records are
        all of epoch 0; on a cluster, the epoch its leader wrote it in). ``timeout_ms`` as for
        :meth:`beginning_offsets`. ``TypeError``, before asking the broker, for ``timestamps``
        that are not a mapping: a list of partitions would be read as ``(topic, partition)``
        pairs, each partition's topic taken for a partition and its number for a timestamp.
        """
        wanted = dict(_check_mapping("timestamps", timestamps, "TopicPartition to int"))
        return self._lookup(lambda: self._conn.offsets_for_times(wanted), timeout_ms, wanted)

    def _lookup(self, ask: Callable[[], Any], timeout_ms: float | None,
                partitions: Iterable[TopicPartition]) -> Any:
        """Ask the broker about ``partitions``; while one is unknown, wait for metadata until
        the timeout. A topic that does not exist is created first where
        ``allow_auto_create_topics`` and the broker allow it, as the metadata request that the
        Java client sends before a lookup creates it."""
        self._check_open()
        timeout = self._timeout_s(timeout_ms)
        deadline = time.monotonic() + timeout
        created = not self.config["allow_auto_create_topics"]
        while True:
            version = self._conn.metadata_version()
            try:
                return ask()
            except UnknownTopicOrPartitionError as exc:
                if not created:
                    created = True
                    if self._create_missing_topics({tp[0] for tp in partitions}):
                        continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise KafkaTimeoutError(
                        f"offsets not found within timeout_ms={timeout * 1000:g}: {exc}"
                    ) from None
                self._conn.await_metadata_change(version, remaining)

    def _create_missing_topics(self, topics: set[str]) -> bool:
        """Create those of ``topics`` that do not exist, if the broker creates topics on
        request; whether any was created."""
        created = False
        for topic in sorted(topics - set(self._conn.list_topics())):
            try:
                self._conn.partitions_for(topic, auto_create=True)
                created = True
            except UnknownTopicOrPartitionError:
                pass  # the broker does not create topics: wait for it to be created
        return created

    def _timeout_s(self, timeout_ms: float | None) -> float:
        """``timeout_ms`` in seconds (default ``request_timeout_ms``); checked as kafka-python."""
        if timeout_ms is None:
            timeout_ms = self.config["request_timeout_ms"]
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)):
            raise TypeError(f"timeout_ms must be a number of milliseconds, got {timeout_ms!r}")
        if not waitable_ms(timeout_ms):
            raise IllegalArgumentError(
                f"timeout_ms must be from 0 to {MAX_WAIT_MS:g} ms, got {timeout_ms}")
        return timeout_ms / 1000

    def _end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The broker's end offsets at this consumer's isolation level."""
        return self._conn.end_offsets(tps, isolation_level=self.config["isolation_level"])

    def _committed_offsets(
        self, tps: list[TopicPartition], deadline: float | None
    ) -> dict[TopicPartition, OffsetAndMetadata | None] | None:
        """The group's committed offsets of ``tps``. A ``read_committed`` consumer asks for
        stable ones (KIP-447) and asks again while a transaction stages one, until ``deadline``
        (``time.monotonic()``; ``None``: once): then ``None``, nothing decided yet."""
        stable = self.config["isolation_level"] == "read_committed"
        backoff = self.config["retry_backoff_ms"] / 1000
        while True:
            try:
                return self._conn.committed(self._group_id, tps, require_stable=stable)
            except UnstableOffsetCommitError:
                remaining = 0.0 if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    return None
                # A wait, not a sleep: close() cuts it short.
                if self._stop.wait(min(backoff, remaining)):
                    return None

    def _init_positions(self, deadline: float | None = None) -> bool:
        """Give every assigned partition without a position one: committed, else reset.

        A ``read_committed`` consumer whose group's offset is being committed by a transaction
        waits for it until ``deadline`` (see :meth:`_committed_offsets`); partitions still
        undecided then keep no position, and the next call tries again. Returns whether every
        assigned partition has a position.
        """
        with self._lock:
            missing = [tp for tp, st in self._states.items() if st.position is None]
            # seek_to_beginning / seek_to_end asked for these: no committed offset counts.
            requested = {tp: st.reset for tp, st in self._states.items()
                         if st.position is None and st.reset is not None}
        if not missing:
            return True
        positions: dict[TopicPartition, int] = {}
        # A committed offset's leader epoch becomes the position's (as the Java client's
        # refreshCommittedOffsetsIfNeeded); a reset's position has none until a record is read.
        leader_epochs: dict[TopicPartition, int] = {}
        unresolved = [tp for tp in missing if tp not in requested]
        if self._group_id is not None and unresolved:
            committed = self._committed_offsets(unresolved, deadline)
            if committed is None:
                return False
            for tp, value in committed.items():
                if value is not None:
                    positions[tp] = value.offset
                    epoch = value.leader_epoch
                    leader_epochs[tp] = epoch if isinstance(epoch, int) and epoch >= 0 else -1
        policy = self.config["auto_offset_reset"]
        strategies = {tp: requested.get(tp, policy) for tp in missing if tp not in positions}
        without = sorted(tp for tp, strategy in strategies.items() if strategy == "none")
        if without:
            raise NoOffsetForPartitionError(
                f"no committed offset for {without} and auto_offset_reset='none'; "
                "seek() to choose a position"
            )
        earliest = [tp for tp, strategy in strategies.items() if strategy == "earliest"]
        latest = [tp for tp, strategy in strategies.items() if strategy == "latest"]
        if earliest:
            positions.update(self._conn.beginning_offsets(earliest))
        if latest:
            positions.update(self._end_offsets(latest))
        with self._lock:
            for tp, offset in positions.items():
                st = self._states.get(tp)
                if st is not None and st.position is None:
                    self._set_position(st, offset, leader_epochs.get(tp, -1))
        return True

    def _set_position(self, st: PartitionState, offset: int, leader_epoch: int = -1) -> None:
        """Move a partition's position (lock held): drop everything fetched for the old one.
        ``leader_epoch`` is the new position's (``-1``: unknown, as after a seek or a reset)."""
        st.move_to(offset, leader_epoch)
        st.epoch = next(self._epochs)
        self._work.notify_all()
