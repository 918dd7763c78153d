"""The broker's committed offsets: OffsetCommit and OffsetFetch, and what they free.

:class:`CommittedOffsetsMixin` is the part of :class:`~pcmodel.topics.broker.Broker` that stores
each group's committed offsets (in its coordinator's ``offsets``). A commit is all or nothing:
every partition is checked to exist, and the member's generation checked by the coordinator,
before any offset is stored. On a ``"block"`` topic a commit may free space: the partition's
floor is the smallest offset committed by the groups that track the topic (one that never
committed holds it at its start), and appends waiting for space go on when it rises.

Prior art: Kafka's ``GroupCoordinator.handleCommitOffsets`` / ``handleFetchOffsets``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pcmodel.topics.broker_checks import _check_int
from pcmodel.topics.coordinator import validate_group_id
from pcmodel.topics.errors import IllegalArgumentError, UnknownMemberIdError
from pcmodel.topics.log import RetentionPolicy
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition, validate_topic_partition

__all__ = ["CommittedOffsetsMixin"]


class CommittedOffsetsMixin:
    """Committing and reading group offsets; freeing "block" partitions (Broker part)."""

    def commit_offsets(
        self,
        group_id: str,
        generation: int,
        member_id: str,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
    ) -> None:
        """Kafka's OffsetCommit: store the *next* offset to read per partition, all or none.

        Group members pass their current ``generation`` and ``member_id``; a consumer without
        group management passes ``-1`` and ``""`` (accepted while the group has no members).
        Any existing partition may be committed, assigned or not, at any offset (one past the
        log end is resolved by ``auto_offset_reset`` when read). Returns at once. Raises
        ``UnknownMemberIdError``, ``IllegalGenerationError``, ``RebalanceInProgressError``
        (see :meth:`GroupCoordinator.check_commit`), ``UnknownTopicOrPartitionError`` for a
        partition that does not exist, ``IllegalArgumentError`` for a negative offset.
        """
        validate_group_id(group_id)
        items: list[tuple[TopicPartition, OffsetAndMetadata]] = []
        for tp, value in offsets.items():
            tp = validate_topic_partition(tp)
            if not isinstance(value, OffsetAndMetadata):
                value = OffsetAndMetadata(value)
            _check_int(f"offset of {tp}", value.offset, 0, IllegalArgumentError)
            items.append((tp, value))
        freed_logs = []
        with self._lock:
            self._check_open()
            for tp, _ in items:
                self._log(tp)  # UnknownTopicOrPartitionError before anything is stored
            group = self._groups.get(group_id)
            if group is None:
                if member_id or generation >= 0:
                    raise UnknownMemberIdError(
                        f"member {member_id!r} is not in group {group_id!r}: the group has no "
                        "members; rejoin"
                    )
                group = self._group(group_id, create=True)
            group.check_commit(member_id, generation)
            for tp, value in items:
                group.offsets[tp] = value
                topic = self._topics[tp.topic]
                topic.tracking_groups.add(group_id)
                if topic.policy is RetentionPolicy.BLOCK:
                    freed_logs.append(tp)
            for tp in freed_logs:
                self._advance_floor(tp)

    def committed(
        self, group_id: str, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """Kafka's OffsetFetch: the committed offset per partition (``None`` where none).

        Returns at once. Raises ``InvalidGroupIdError`` and ``TypeError`` for malformed input.
        """
        validate_group_id(group_id)
        tps = [validate_topic_partition(tp) for tp in partitions]
        with self._lock:
            group = self._groups.get(group_id)
            return {tp: None if group is None else group.offsets.get(tp) for tp in tps}

    # --- internals (called with the lock held) -------------------------------------------------

    def _advance_floor(self, tp: TopicPartition) -> None:
        """Block policy: free the records every tracking group has committed."""
        topic = self._topics[tp.topic]
        log = topic.logs[tp.partition]
        floor = None
        for group_id in topic.tracking_groups:
            group = self._groups.get(group_id)
            if group is None:
                continue
            committed = group.offsets.get(tp)
            # A tracking group that never committed this partition holds it at the start.
            offset = log.log_start_offset if committed is None else committed.offset
            floor = offset if floor is None else min(floor, offset)
        if floor is not None:
            log.advance_floor(floor)
