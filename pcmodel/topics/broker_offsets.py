"""The broker's committed offsets: OffsetCommit, OffsetFetch and OffsetDelete, and what they free.

:class:`CommittedOffsetsMixin` is the part of :class:`~pcmodel.topics.broker.Broker` that stores
each group's committed offsets (in its coordinator's ``offsets``), each with its metadata and
the leader epoch committed with it. Every partition of a commit is checked to exist, and the
member's generation checked by the coordinator, before any offset is stored; then, as in
Kafka, a partition whose metadata is longer than ``offset_metadata_max_bytes`` (Kafka's
``offset.metadata.max.bytes``, counted as :mod:`pcmodel.topics.group_offsets` says) is
refused alone and the others are stored.

On a ``"block"`` topic a commit may free space: the partition's floor is the smallest offset
committed by the groups that track the topic (one that never committed holds it at its
start), and appends waiting for space go on when it rises.

Deleting offsets follows Kafka's OffsetDelete: an ``Empty`` group loses the offsets asked for,
and a group with members keeps those of the topics its generation subscribed to when it started
(before its first, or while a member's subscription does not parse, every topic). A group left
``Empty`` with no offset at all is deleted, as Kafka's coordinator drops it.

Offsets expire (Kafka's offsets retention, :mod:`pcmodel.topics.group_offsets`): every commit
is dated with the broker's wall clock, and a retention check removes the offsets that outlived
``offsets_retention_minutes`` and deletes the groups left ``Empty`` with none, keeping the
offsets a transaction holds pending and the groups it holds them for. Kafka runs the
check on a timer; the broker has no thread, so it runs it at the first group or offsets call
once ``offsets_retention_check_interval_ms`` has passed since the last, which no client can tell
apart from a timer (only those calls can see the groups), and :meth:`expire_offsets` runs it at
once.

Prior art: Kafka's ``GroupCoordinator.handleCommitOffsets`` / ``handleFetchOffsets`` /
``handleDeleteOffsets``, ``GroupMetadataManager.cleanupGroupMetadata``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

from pcmodel.topics.broker_checks import (
    INT32_MAX,
    INT64_MAX,
    _check_flag,
    _check_int,
    _check_mapping,
    _check_partitions,
)
from pcmodel.topics.consumer_protocol import PROTOCOL_TYPE
from pcmodel.topics.coordinator import GroupCoordinator, validate_group_id
from pcmodel.topics.errors import (
    BrokerResponseError,
    GroupNotEmptyError,
    GroupSubscribedToTopicError,
    IllegalArgumentError,
    IllegalGenerationError,
    UnknownTopicOrPartitionError,
    UnstableOffsetCommitError,
)
from pcmodel.topics.group_answers import ExpiredOffsets, GroupState, validate_offsets_group_id
from pcmodel.topics.group_offsets import (
    checked_offset,
    metadata_too_large,
    offsets_retention_ms,
    oversized_metadata,
    pending_by_group,
)
from pcmodel.topics.log import RetentionPolicy
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition, validate_topic_partition

__all__ = ["CommittedOffsetsMixin"]


def _offset_delete_guarded(group: GroupCoordinator, asked: set[str]) -> set[str]:
    """The topics of ``asked`` whose offsets OffsetDelete keeps for a classic group, as Kafka's
    ``OffsetMetadataManager.deleteOffsets`` asks ``ClassicGroup.isSubscribedToTopic``: those
    its generation subscribed to when it started (not its members' subscriptions now, which
    a rejoin or a static member's replacement may have changed since), none once it is
    ``Empty``, and every one while the topics are not known (before the first generation, or
    a member's subscription does not parse)."""
    return {topic for topic in asked if group.is_subscribed_to_topic(topic)}


class CommittedOffsetsMixin:
    """Committing and reading group offsets; freeing "block" partitions (Broker part)."""

    def commit_offsets(
        self,
        group_id: str,
        generation: int,
        member_id: str,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
        *,
        retention_time_ms: int = -1,
        group_instance_id: str | None = None,
        offset_metadata_max_bytes: int | None = None,
        request_version: int | None = None,
    ) -> int:
        """Kafka's OffsetCommit: store the *next* offset to read per partition, with its
        metadata and leader epoch (an ``OffsetAndMetadata``; an ``int`` is the offset alone).

        Group members pass their current ``generation`` and ``member_id`` (and a static
        member its ``group_instance_id``, OffsetCommit v7+); a consumer without
        group management passes ``-1`` and ``""`` (accepted while the group has no members).
        ``group_id`` may be ``""``, as Kafka still accepts it here and in :meth:`committed`
        (:func:`~pcmodel.topics.group_answers.validate_offsets_group_id`).
        Any existing partition may be committed, assigned or not, at any offset (one past the
        log end is resolved by ``auto_offset_reset`` when read). ``retention_time_ms`` is
        OffsetCommit v2-v4's: ``-1`` (the default) leaves the offsets to the broker's
        retention; another value makes them expire that long after this commit (see
        :mod:`pcmodel.topics.group_offsets`). Returns at once, with the time that dates the
        commit (the broker's wall clock, epoch ms: a cluster writes it into the offsets topic
        with the offsets, so that a new coordinator dates them alike). Raises
        ``UnknownMemberIdError``, ``IllegalGenerationError``, ``RebalanceInProgressError``,
        ``FencedInstanceIdError`` (see :meth:`GroupCoordinator.check_commit`),
        ``UnknownTopicOrPartitionError`` for a partition that does not exist,
        ``IllegalArgumentError`` for a negative offset or leader epoch below -1, or a
        ``retention_time_ms`` below -1, or for one of them beyond the int64 (the leader epoch:
        int32) Kafka carries it in, ``TypeError`` for metadata that is not a string or
        ``offsets`` that are not a mapping: all before anything is stored. Then raises
        ``OffsetMetadataTooLargeError`` naming (in its ``partitions``) those whose metadata
        is longer than ``offset_metadata_max_bytes`` (``None``: the broker's setting; a
        cluster passes its own to the broker coordinating the group), *after* storing the
        others, as Kafka answers OFFSET_METADATA_TOO_LARGE for those partitions alone.

        For a Kafka 4 consumer group (:mod:`pcmodel.topics.broker_consumer_groups`)
        ``generation`` is the member's *epoch*, checked as Kafka's
        ``ConsumerGroup.validateOffsetCommit`` does: ``UnknownMemberIdError``,
        ``UnsupportedVersionError`` when ``request_version`` (the OffsetCommit version a
        listener received) is below 9, ``StaleMemberEpochError``.
        """
        validate_offsets_group_id(group_id)
        _check_mapping("offsets", offsets, "TopicPartition to OffsetAndMetadata or int")
        _check_int("retention_time_ms", retention_time_ms, -1, IllegalArgumentError, INT64_MAX)
        max_bytes = self.offset_metadata_max_bytes if offset_metadata_max_bytes is None \
            else _check_int("offset_metadata_max_bytes", offset_metadata_max_bytes,
                            -INT32_MAX - 1, IllegalArgumentError, INT32_MAX)  # a Java int
        items: dict[TopicPartition, OffsetAndMetadata] = {}
        given: dict[TopicPartition, object] = {}
        for tp, value in offsets.items():
            tp = validate_topic_partition(tp)
            items[tp], given[tp] = checked_offset(tp, value), value
        refused = oversized_metadata(given, max_bytes)
        with self._lock:
            self._check_open()
            self._check_offsets_retention()
            for tp in items:
                self._log(tp)  # UnknownTopicOrPartitionError before anything is stored
            consumer = self._consumer_groups.get(group_id)
            if consumer is not None:
                # A Kafka 4 consumer group checks the member and its epoch; its offsets are
                # kept in a classic group of the same id that has no members.
                consumer.expire(self._clock())
                consumer.check_offset_commit(member_id, generation, request_version)
                group = self._group(group_id, create=True)
            else:
                group = self._groups.get(group_id)
            if group is None:
                # Kafka's OffsetMetadataManager.validateOffsetCommit: generation -1 makes a
                # group that only stores offsets; a generation of a group that does not
                # exist is one the broker never gave.
                if generation >= 0:
                    raise IllegalGenerationError(
                        f"commit from generation {generation}, but group {group_id!r} does "
                        "not exist (it was deleted, or the consumer joined it elsewhere); "
                        "rejoin")
                group = self._group(group_id, create=True)
            if consumer is None:
                group.check_commit(member_id, generation, group_instance_id)
            now_ms = self._timestamp_clock()
            expires_ms = None if retention_time_ms == -1 else now_ms + retention_time_ms
            for tp in refused:
                del items[tp]
            self._store_offsets(group_id, group, items, now_ms, expires_ms)
        if refused:
            raise metadata_too_large(refused, max_bytes, others_committed=bool(items))
        return now_ms

    def committed(
        self, group_id: str, partitions: Iterable[TopicPartition], *,
        require_stable: bool = False,
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """Kafka's OffsetFetch: the committed offset per partition (``None`` where none).

        With ``require_stable`` (a ``read_committed`` consumer, KIP-447), raises
        ``UnstableOffsetCommitError`` (retriable) while an ongoing transaction has staged an
        offset of one of ``partitions`` for the group: the answer would change when it ends.
        Returns at once. Raises ``InvalidGroupIdError`` and ``TypeError`` for malformed input
        (a bare str as ``partitions``, say: pass ``[TopicPartition("t", 0)]``; a
        ``require_stable`` that is not a bool).
        """
        validate_offsets_group_id(group_id)
        _check_flag("require_stable", require_stable)
        tps = _check_partitions("partitions", partitions)
        with self._lock:
            self._check_offsets_retention()
            if require_stable:
                self._check_transactions()
                unstable = [tp for tp in tps if self._transactions.unstable(group_id, tp)]
                if unstable:
                    raise UnstableOffsetCommitError(
                        f"a transaction is committing offsets of {unstable[0].topic}-"
                        f"{unstable[0].partition} for group {group_id!r}; ask again when it ends")
            group = self._groups.get(group_id)
            return {tp: None if group is None else group.offsets.get(tp) for tp in tps}

    def delete_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, BrokerResponseError | None]:
        """Kafka's OffsetDelete: forget the group's committed offsets of ``partitions``.

        Returns, per partition, ``None`` where its offset is gone (or there was none), else
        the error that kept it: ``GroupSubscribedToTopicError`` for a topic the group's members
        subscribed to when its generation started (see :func:`_offset_delete_guarded`),
        ``UnknownTopicOrPartitionError`` for a partition that
        does not exist.
        A Kafka 4 consumer group (KIP-848) is answered so too, with or without members and
        whether or not it ever committed, as Kafka's ``OffsetMetadataManager.deleteOffsets``
        takes a group of either type. Returns at once. Raises ``GroupIdNotFoundError`` for an
        unknown group and ``GroupNotEmptyError`` for a classic group with members that is not
        a consumer group; nothing changes then. A classic group left ``Empty`` with no offset
        is deleted (as by :meth:`delete_group`; an empty consumer group goes at the next
        offsets-retention check, as in Kafka 4); a group stops holding back a ``"block"``
        topic once it has no offset there and does not subscribe to it. ``TypeError`` for a
        bare str or another entry that is not a ``TopicPartition``.
        """
        validate_group_id(group_id)
        tps = _check_partitions("partitions", partitions)
        with self._lock:
            self._check_open()
            self._check_offsets_retention()
            subscribed = self._consumer_group_topics(group_id)
            if subscribed is not None:
                # A Kafka 4 consumer group: its offsets are kept by a member-less classic
                # group of its id, which exists only once it has committed.
                group = self._groups.get(group_id)
            else:
                group = self._existing_group(group_id)
                empty = group.state is GroupState.EMPTY
                if not empty and group.protocol_type != PROTOCOL_TYPE:
                    raise GroupNotEmptyError(
                        f"group {group_id!r} has members and is not a consumer group; its "
                        "offsets can be deleted once it is empty"
                    )
                subscribed = _offset_delete_guarded(group, {tp.topic for tp in tps})
            counts = self._partition_counts()
            results: dict[TopicPartition, BrokerResponseError | None] = {}
            for tp in tps:
                if not 0 <= tp.partition < counts.get(tp.topic, 0):
                    results[tp] = UnknownTopicOrPartitionError(f"no partition {tp}")
                elif tp.topic in subscribed:
                    results[tp] = GroupSubscribedToTopicError(
                        f"group {group_id!r} subscribes to {tp.topic!r}; stop its consumers "
                        "before deleting their offsets there"
                    )
                else:
                    if group is not None:
                        group.forget_offset(tp)
                    results[tp] = None
            if group is not None and not self._drop_if_spent(group_id):
                self._release_topics(group_id, group,
                                     {tp for tp, error in results.items() if error is None})
            return results

    def load_offsets(self, group_id: str,
                     offsets: Mapping[TopicPartition, OffsetAndMetadata],
                     commit_times: Mapping[TopicPartition, int] | None = None,
                     expire_times: Mapping[TopicPartition, int] | None = None) -> None:
        """Restore a group's committed offsets from a cluster's offsets topic (this broker
        became its coordinator): they replace the group's, and a group the broker does not know
        is created ``Empty``, as Kafka's coordinator loads a group that only committed.
        ``commit_times`` dates each commit (epoch ms; one without a date counts from now) and
        ``expire_times`` says when those committed with their own retention expire.
        ``TypeError`` for one of them that is not a mapping, before anything changes."""
        validate_offsets_group_id(group_id)
        _check_mapping("offsets", offsets, "TopicPartition to OffsetAndMetadata")
        for name, times in (("commit_times", commit_times), ("expire_times", expire_times)):
            if times is not None:
                _check_mapping(name, times, "TopicPartition to epoch ms")
        with self._lock:
            self._check_open()
            group = self._group(group_id, create=True)
            now_ms = self._timestamp_clock()
            dates, ends = commit_times or {}, expire_times or {}
            group.forget_all_offsets()
            for tp, value in offsets.items():
                group.store_offset(tp, value, dates.get(tp, now_ms), ends.get(tp))
            for name in {tp.topic for tp in offsets} & set(self._topics):
                self._topics[name].tracking_groups.add(group_id)

    def expire_offsets(self, now_ms: int | None = None, *,
                       pending: Mapping[str, Iterable[TopicPartition]] | None = None,
                       ) -> dict[str, ExpiredOffsets]:
        """Run Kafka's offsets-retention check now, as at ``now_ms`` (epoch ms; default: the
        broker's wall clock): remove every committed offset older than
        ``offsets_retention_minutes`` by the rules of :mod:`pcmodel.topics.group_offsets`, and
        delete every group left ``Empty`` with no offset. Offsets pending in a transaction
        hold it back, as in Kafka: a partition's offset is kept while a transaction has one of
        it staged for the group, and the group is not deleted while it has any. Those are the
        ones this broker's transactions staged, and ``pending`` (per group, its partitions)
        those staged at other coordinators (a cluster's transaction log). Returns, per group
        changed, what went. Returns at once; a ``"block"`` topic no group holds back any more
        moves on. Raises ``IllegalArgumentError`` for a negative ``now_ms``,
        ``InvalidGroupIdError`` / ``TypeError`` for a malformed ``pending``; nothing changes then.
        """
        if now_ms is not None:
            _check_int("now_ms", now_ms, 0, IllegalArgumentError)
        if pending is not None:
            _check_mapping("pending", pending, "group id to a list of TopicPartition")
        held = {validate_offsets_group_id(group_id): frozenset(map(validate_topic_partition, tps))
                for group_id, tps in (pending or {}).items()}
        with self._lock:
            self._check_open()
            return self._expire_offsets(self._timestamp_clock() if now_ms is None else now_ms,
                                        held)

    # --- internals (called with the lock held) -------------------------------------------------

    def _store_offsets(self, group_id: str, group: GroupCoordinator,
                       offsets: Mapping[TopicPartition, OffsetAndMetadata], now_ms: int,
                       expires_ms: int | None) -> None:
        """Store checked offsets as the group's, committed at ``now_ms``: the group now holds
        back their topics, and a ``"block"`` topic frees what every group has committed."""
        for tp, value in offsets.items():
            group.store_offset(tp, value, now_ms, expires_ms)
            self._topics[tp.topic].tracking_groups.add(group_id)
        for tp in offsets:
            if self._topics[tp.topic].policy is RetentionPolicy.BLOCK:
                self._advance_floor(tp)

    def _check_offsets_retention(self) -> None:
        """Run the retention check if its interval has passed since the last one."""
        now_ms = self._check_due(self.offsets_retention_check_interval_ms,
                                 self._retention_checked_ms)
        if now_ms is not None:
            self._expire_offsets(now_ms)

    def _expire_offsets(self, now_ms: int,
                        pending: Mapping[str, frozenset[TopicPartition]] | None = None,
                        ) -> dict[str, ExpiredOffsets]:
        """The retention check (see :meth:`expire_offsets`)."""
        self._retention_checked_ms = now_ms
        self._check_transactions()  # a transaction past its timeout holds nothing back
        # Per group, its partitions pending in this broker's transactions or in ``pending``.
        held = pending_by_group(itertools.chain(self._transactions.pending_offsets().items(),
                                                (pending or {}).items()))
        retention_ms = offsets_retention_ms(self.offsets_retention_minutes)
        now = self._clock()
        changed: dict[str, ExpiredOffsets] = {}
        for group_id, group in list(self._groups.items()):
            group.expire(now)  # members whose session ended are gone before the group is judged
            expired = group.expire_offsets(now_ms, retention_ms,
                                           self._consumer_group_topics(group_id),
                                           held.get(group_id, frozenset()))
            deleted = self._drop_if_spent(group_id, in_transaction=group_id in held)
            if not deleted:
                self._release_topics(group_id, group, expired)
            if expired or deleted:
                changed[group_id] = ExpiredOffsets(tuple(expired), deleted)
        for group_id, consumer in list(self._consumer_groups.items()):
            # Kafka deletes an empty consumer group once it has no offset left, as a classic one
            # (and none pending in a transaction).
            consumer.expire(now)
            if not consumer.members and group_id not in self._groups and group_id not in held:
                self._forget_consumer_group(group_id)
                changed.setdefault(group_id, ExpiredOffsets((), True))
        return changed

    def _release_topics(self, group_id: str, group: GroupCoordinator,
                        removed: Iterable[TopicPartition]) -> None:
        """The group lost the offsets of ``removed``: it stops holding back each of their
        topics where it has no offset left and does not subscribe."""
        names = {tp.topic for tp in removed}
        if not names:
            return
        subscribed = group.subscribed_topics()
        for name in names - subscribed:
            if name in self._topics and not any(tp.topic == name for tp in group.offsets):
                self._untrack(group_id, name)

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
            log.delete_before(floor)
