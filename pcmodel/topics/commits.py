"""The consumer's offset commits: what to commit, with which generation, and auto-commit.

A committed offset is the next one to read. A group member's commit carries its member id and
generation, so the coordinator can refuse one from a member that missed a rebalance
(``UnknownMemberIdError``, ``IllegalGenerationError``, or ``RebalanceInProgressError`` while the
leader's assignment is awaited; the consumer raises them as ``CommitFailedError``, as
kafka-python does, and rejoins). A subscribed consumer that has no generation (before its
first ``poll()`` joined the group, or after it was removed) does not send its commit at all:
``CommitFailedError`` too, as in the Java client and kafka-python. Auto-commit runs at most every
``auto_commit_interval_ms`` from ``poll()``, and before partitions are revoked; its failures are
logged, not raised, because the records are simply read again. ``commit_async`` callbacks wait
here until the caller's thread runs them. A commit answered COORDINATOR_NOT_AVAILABLE or
NOT_COORDINATOR (on a cluster: the offsets partition is short of in-sync replicas, or moved) is
retriable: ``commit()`` tries again every ``retry_backoff_ms`` until its ``timeout_ms``, as the
Java client's ``commitSync`` does, then raises ``KafkaTimeoutError``.

:class:`CommitterMixin` is one part of :class:`~pcmodel.topics.consumer.KafkaConsumer`: its
public ``commit()``, ``commit_async()`` and ``committed()``, and what they are built on.

Prior art: the Java client's ``ConsumerCoordinator.commitOffsetsSync`` / ``maybeAutoCommit``,
kafka-python's ``kafka/coordinator/consumer.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pcmodel.topics.broker_checks import INT64_MAX, _check_flag, _check_mapping
from pcmodel.topics.errors import (
    CommitFailedError,
    CoordinatorNotAvailableError,
    FencedInstanceIdError,
    IllegalGenerationError,
    KafkaTimeoutError,
    NotCoordinatorError,
    OffsetMetadataTooLargeError,
    RebalanceInProgressError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.futures import CommitFuture
from pcmodel.topics.group_offsets import checked_offset
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition, validate_topic_partition

__all__ = ["CommitterMixin"]

# Named after the consumer, which is what a user configures logging for.
logger = logging.getLogger("pcmodel.topics.consumer")

#: The largest offset Kafka can store: offsets are Java longs (int64 on the wire).
OFFSET_MAX = INT64_MAX


class CommitterMixin:
    """``commit``, ``commit_async`` and ``committed``; auto-commit and commit callbacks."""

    # --- the public calls ---------------------------------------------------------------------

    def commit(
        self,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int] | None = None,
        timeout_ms: float | None = None,
    ) -> None:
        """Commit ``offsets`` (default: the position of every assigned partition) and wait.

        A committed offset is the next one to read: commit after processing for at-least-once
        delivery. As in Kafka, ``offsets`` may name any partition of an existing topic, assigned
        or not, and any offset >= 0, even beyond the log end (a consumer starting there is out
        of range and applies ``auto_offset_reset``). An ``OffsetAndMetadata`` carries its
        metadata and leader epoch, stored with the offset and returned by :meth:`committed`.
        Raises ``OffsetMetadataTooLargeError`` (as kafka-python does) when a partition's metadata
        is longer than the broker's ``offset_metadata_max_bytes``: that partition was not
        committed, the others were (its ``partitions`` names the refused ones). Raises
        ``CommitFailedError`` if the group rebalanced without this member (the next ``poll()``
        rejoins), ``FencedInstanceIdError`` if another consumer took this static member's
        place, ``IllegalStateError`` without a ``group_id``, ``UnknownTopicOrPartitionError``
        for a partition that does not exist, ``IllegalArgumentError`` for a negative offset.
        ``timeout_ms`` (default
        ``request_timeout_ms``) bounds the wait: a commit the group's coordinator cannot take
        now is tried again every ``retry_backoff_ms`` (see the module), then
        ``KafkaTimeoutError``. ``offsets`` that are not a mapping (a list of partitions, a str)
        raise ``TypeError``, and an offset that is not an int ``>= 0`` (and at most
        ``2**63 - 1``, a Java long), metadata that is not a str or a leader epoch outside -1 to
        ``2**31 - 1`` ``TypeError`` or ``IllegalArgumentError``, before anything is sent: the
        checks the group's coordinator makes.
        """
        self._check_open()
        deadline = time.monotonic() + self._timeout_s(timeout_ms)
        self._run_commit_callbacks()
        to_commit = self._offsets_to_commit(offsets, "commit")
        while to_commit:
            try:
                self._send_commit(to_commit)
                return
            except (CoordinatorNotAvailableError, NotCoordinatorError) as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise KafkaTimeoutError(
                        f"the commit of group {self._group_id!r} was not taken within "
                        f"timeout_ms: {exc}") from exc
                if self._stop.wait(min(left, self.config["retry_backoff_ms"] / 1000)):
                    self._check_open()  # closed meanwhile, by another thread

    def commit_async(
        self,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int] | None = None,
        callback: Callable[[dict, BaseException | None], Any] | None = None,
    ) -> CommitFuture:
        """Commit without raising; ``callback(offsets, exception_or_None)`` runs in ``poll()``.

        A refusal (``CommitFailedError``, ``OffsetMetadataTooLargeError``, a coordinator that
        cannot take the commit now, ``UnknownTopicOrPartitionError`` for a partition that does
        not exist, ``FencedInstanceIdError``) is the future's exception and the callback's
        second argument, as the Java client and kafka-python hand it to the callback.

        Returns a :class:`~pcmodel.topics.futures.CommitFuture` already holding the outcome,
        read as kafka-python's future is (``is_done``, ``value``, ``exception``,
        ``succeeded()``, ``add_callback``). Argument errors (offsets as :meth:`commit` checks
        them, no group, a ``callback`` that is not callable) still raise at once, before
        anything is sent. A callback that raises makes that ``poll()`` (or ``commit()``) raise
        it, as the Java client's does; the callbacks queued after it run at the next one.
        """
        self._check_open()
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable as callback(offsets, exception) or "
                            f"None, not the {type(callback).__name__} {callback!r}")
        to_commit = self._offsets_to_commit(offsets, "commit_async")
        error: BaseException | None = None
        try:
            if to_commit:
                self._send_commit(to_commit)
        except (CommitFailedError, CoordinatorNotAvailableError, NotCoordinatorError,
                OffsetMetadataTooLargeError, UnknownTopicOrPartitionError,
                FencedInstanceIdError) as exc:
            error = exc
        future = CommitFuture(to_commit, error)
        callback = callback or self.config["default_offset_commit_callback"]
        if callback is not None:
            self._commit_callbacks.append(lambda: callback(to_commit, error))
        return future

    def committed(
        self, partition: TopicPartition, metadata: bool = False, timeout_ms: float | None = None
    ) -> Any:
        """The group's committed offset for ``partition`` (``None`` if never committed).

        With ``metadata=True`` an ``OffsetAndMetadata`` (kafka-python's switch): the offset, the
        metadata and the leader epoch committed with it (``-1`` if none was). Needs a
        ``group_id``; the partition need not be assigned. ``timeout_ms`` (default
        ``request_timeout_ms``) bounds the lookup: a ``read_committed`` consumer's waits while
        a transaction stages the group's offset for the partition (KIP-447), then raises
        ``KafkaTimeoutError``; otherwise it answers at once. ``TypeError`` for a ``metadata``
        that is not a bool (``"no"`` would be read as true).
        """
        self._check_open()
        tp = validate_topic_partition(partition)
        _check_flag("metadata", metadata)
        deadline = time.monotonic() + self._timeout_s(timeout_ms)
        self._require_group("committed")
        found = self._committed_offsets([tp], deadline)
        if found is None:
            raise KafkaTimeoutError(
                f"the committed offset of {tp} was not stable within timeout_ms: a transaction "
                f"is committing group {self._group_id!r}'s offset for it; ask again")
        value = found[tp]
        if value is None or metadata:
            return value
        return value.offset

    # --- internals ----------------------------------------------------------------------------

    def _offsets_to_commit(
        self, offsets: Mapping[TopicPartition, OffsetAndMetadata | int] | None, what: str
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        self._require_group(what)
        if offsets is None:
            with self._lock:
                return self._consumed_offsets(self._states)
        # Any partition may be committed, assigned or not, as in Kafka (the broker checks that
        # it exists): a tool that resets a group's offsets commits partitions it never reads.
        self._check_open()
        result = {}
        for tp, value in _check_mapping(
                "offsets", offsets, "TopicPartition to OffsetAndMetadata or int").items():
            tp = validate_topic_partition(tp)
            checked_offset(tp, value)  # as the coordinator checks it, before anything is sent
            result[tp] = value if isinstance(value, OffsetAndMetadata) else OffsetAndMetadata(value)
        return result

    def _consumed_offsets(
        self, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """The positions of ``partitions`` that have one, as offsets to commit (lock held),
        each with the leader epoch of the last record consumed before it (``-1``: none since
        the position was set), as the Java client's ``allConsumed()`` commits them."""
        return {tp: OffsetAndMetadata(st.position, "", st.position_epoch)
                for tp in partitions
                if (st := self._states.get(tp)) is not None and st.position is not None}

    def _send_commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if self._subscribed_topics is not None:
            with self._lock:
                member_id, generation = self._member_id, self._generation
            if not member_id or generation < 0:
                # A subscribed consumer commits as a member, as the Java client and
                # kafka-python do: sent without a generation, the commit would be taken as a
                # consumer's outside the group while the group has no member.
                raise CommitFailedError(
                    f"the commit cannot be completed: this consumer is not a member of group "
                    f"{self._group_id!r} (not joined yet, or removed); poll() joins it, then "
                    "commit again")
            instance_id = self.config["group_instance_id"]
        else:
            member_id, generation, instance_id = "", -1, None
        try:
            self._conn.commit_offsets(self._group_id, generation, member_id, offsets,
                                      group_instance_id=instance_id)
        except (UnknownMemberIdError, IllegalGenerationError, RebalanceInProgressError) as exc:
            # kafka-python reports all three as CommitFailedError; the first two mean this
            # member missed a rebalance, so it rejoins.
            if self._subscribed_topics is not None and not isinstance(
                exc, RebalanceInProgressError
            ):
                with self._lock:
                    self._rejoin_needed = True
            raise CommitFailedError(str(exc)) from exc
        with self._lock:
            self._tally("commits")

    def _commit_quietly(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Auto-commit: a failure is logged, not raised (the records will be read again).

        Failures include a fenced member (``CommitFailedError``, or ``FencedInstanceIdError``
        for a static member whose place another consumer took: its next poll() raises that),
        a partition whose topic was deleted meanwhile (``UnknownTopicOrPartitionError``) and a
        coordinator that cannot take commits now (the next auto-commit tries again).
        """
        if not offsets:
            return
        try:
            self._send_commit(offsets)
        except (CommitFailedError, FencedInstanceIdError, UnknownTopicOrPartitionError,
                CoordinatorNotAvailableError, NotCoordinatorError) as exc:
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
        """Run the queued ``commit_async`` callbacks in order. Each is taken off the queue
        before it runs, so one that raises leaves the others queued for the next call (the
        Java client's ``OffsetCommitCallbackInvoker`` polls its queue the same way)."""
        callbacks = self._commit_callbacks
        while callbacks:
            callbacks.pop(0)()
