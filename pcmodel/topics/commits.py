"""The consumer's offset commits: what to commit, with which generation, and auto-commit.

A committed offset is the next one to read. A group member's commit carries its member id and
generation, so the coordinator can refuse one from a member that missed a rebalance
(``UnknownMemberIdError``, ``IllegalGenerationError``, or ``RebalanceInProgressError`` while the
leader's assignment is awaited; the consumer raises them as ``CommitFailedError``, as
kafka-python does, and rejoins). Auto-commit runs at most every
``auto_commit_interval_ms`` from ``poll()``, and before partitions are revoked; its failures are
logged, not raised, because the records are simply read again. ``commit_async`` callbacks wait
here until the caller's thread runs them.

:class:`CommitterMixin` is one part of :class:`~pcmodel.topics.consumer.KafkaConsumer`, whose
public ``commit()``, ``commit_async()`` and ``committed()`` are built on it.

Prior art: the Java client's ``ConsumerCoordinator.commitOffsetsSync`` / ``maybeAutoCommit``,
kafka-python's ``kafka/coordinator/consumer.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalArgumentError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition, validate_topic_partition

__all__ = ["CommitterMixin"]

# Named after the consumer, which is what a user configures logging for.
logger = logging.getLogger("pcmodel.topics.consumer")


class CommitterMixin:
    """Offsets to commit, sending them with the current generation, auto-commit, callbacks."""

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
        # Any partition may be committed, assigned or not, as in Kafka (the broker checks that
        # it exists): a tool that resets a group's offsets commits partitions it never reads.
        self._check_open()
        result = {}
        for tp, value in offsets.items():
            tp = validate_topic_partition(tp)
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
        except (UnknownMemberIdError, IllegalGenerationError, RebalanceInProgressError) as exc:
            # kafka-python reports all three as CommitFailedError; the first two mean this
            # member missed a rebalance, so it rejoins.
            if self._subscribed_topics is not None and not isinstance(
                exc, RebalanceInProgressError
            ):
                with self._lock:
                    self._rejoin_needed = True
            raise CommitFailedError(str(exc)) from exc

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
