"""The broker's consumer groups: one :class:`~pcmodel.topics.coordinator.GroupCoordinator` each.

:class:`GroupsMixin` is the part of :class:`~pcmodel.topics.broker.Broker` behind Kafka's
JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, DeleteGroups and ListGroups. It
checks the arguments, finds or creates the group's coordinator in the group table
(``_groups``) and delegates: the membership state machine, and the waiting of ``join_group``
and ``sync_group`` on conditions of the broker lock, live in :mod:`pcmodel.topics.coordinator`.
A classic group holds at most ``group_classic_max_size`` members (Kafka's ``group.max.size``,
``None``: no bound): a JoinGroup past it is refused with ``GroupMaxSizeReachedError``, and a
group over it (loaded so, or the bound was lowered) shrinks to it at its next rebalance, as
Kafka's ``acceptJoiningMember`` decides. A first join that is refused leaves no group behind;
a group that subscribes to a ``"block"`` topic starts holding it back (see
:mod:`pcmodel.topics.broker_offsets`).

A group id names one group of one type. Kafka 4's consumer groups
(:mod:`pcmodel.topics.broker_consumer_groups`) are not classic groups, but they take classic
members: JoinGroup, SyncGroup, Heartbeat and LeaveGroup to a consumer group that has members are
answered by it from its target assignment (:mod:`pcmodel.topics.consumer_group_classic`), as
Kafka 4 answers them; an empty one gives way to the classic group (its offsets stay), and a
group may change type online (:mod:`pcmodel.topics.group_migration`). DescribeGroups does not
find a consumer group (``GroupIdNotFoundError``, as Kafka's ``describeGroups`` answers
``Dead``); ListGroups and DeleteGroups serve both types.

Prior art: Kafka's ``GroupCoordinator`` request handlers (``handleJoinGroup``,
``handleSyncGroup``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pcmodel.topics.broker_checks import INT32_MAX, _check_int, _check_mapping, _check_timeout
from pcmodel.topics.consumer_group_errors import GroupMaxSizeReachedError
from pcmodel.topics.consumer_protocol import PROTOCOL_TYPE
from pcmodel.topics.coordinator import GroupCoordinator, check_session_timeout, validate_group_id
from pcmodel.topics.errors import (
    GroupIdNotFoundError,
    GroupNotEmptyError,
    IllegalArgumentError,
    UnknownMemberIdError,
)
from pcmodel.topics.group_answers import (
    GroupDescription,
    GroupState,
    HeartbeatResult,
    HeartbeatStatus,
    JoinResult,
    SyncResult,
)
from pcmodel.topics.group_snapshot import GroupMetadataRecord
from pcmodel.topics.log import RetentionPolicy
from pcmodel.topics.structs import TopicPartition

__all__ = ["GroupsMixin"]


def _check_instance_id(group_instance_id: str | None) -> None:
    """A static member's instance id is a non-empty string (``None``: a dynamic member)."""
    if group_instance_id is None:
        return
    if not isinstance(group_instance_id, str):
        raise TypeError(f"group_instance_id must be a str or None, not "
                        f"{type(group_instance_id).__name__}")
    if not group_instance_id:
        raise IllegalArgumentError("group_instance_id must not be empty; use None for a "
                                   "dynamic member")


class GroupsMixin:
    """Group membership calls, delegated to each group's coordinator (Broker part)."""

    def join_group(
        self,
        group_id: str,
        member_id: str,
        *,
        protocols: Sequence[tuple[str, bytes]],
        protocol_type: str = PROTOCOL_TYPE,
        session_timeout_ms: int = 10_000,
        rebalance_timeout_ms: int | None = None,
        client_id: str = "",
        client_host: str = "",
        group_instance_id: str | None = None,
        require_known_member_id: bool = False,
        supports_skip_assignment: bool = False,
        timeout: float | None = None,
    ) -> JoinResult:
        """Kafka's JoinGroup: join group ``group_id`` (``member_id=""`` for a new member).

        ``protocols`` lists ``(name, metadata)`` pairs in order of preference (consumers: one per
        assignor, the metadata from :func:`~pcmodel.topics.consumer_protocol.encode_subscription`).
        **Blocks** until every known member has joined or the rebalance timeout
        (``rebalance_timeout_ms``, default ``session_timeout_ms``) passed, but at most
        ``timeout`` seconds: then the answer has ``pending=True`` and the join stays registered;
        call again with the same member id. The leader's answer lists every member's metadata.
        A ``group_instance_id`` makes the member static (KIP-345): joining again with
        ``member_id=""`` it takes its old place, without a rebalance in a ``Stable`` group
        (see :mod:`pcmodel.topics.group_static`); ``supports_skip_assignment`` is JoinGroup v9's
        (KIP-814). A member of a consumer group (or joining one that has members) is answered
        at once, by that group (:mod:`pcmodel.topics.consumer_group_classic`).
        Raises ``InvalidGroupIdError``, then ``InvalidSessionTimeoutError`` (a session timeout
        outside ``group_min_session_timeout_ms`` .. ``group_max_session_timeout_ms``, a
        negative one included) before the group is looked at, as Kafka's
        ``GroupCoordinatorService.joinGroup``; then
        ``MemberIdRequiredError`` (with ``require_known_member_id``, for a
        dynamic member: join again with its ``member_id``), ``UnknownMemberIdError``,
        ``FencedInstanceIdError``, ``GroupMaxSizeReachedError`` (a new member, or one that
        had not rejoined a round already holding ``group_classic_max_size`` members, which is
        then removed from the group: Kafka's ``group.max.size``),
        ``InconsistentGroupProtocolError``, ``TypeError`` / ``IllegalArgumentError`` for
        malformed arguments.
        """
        validate_group_id(group_id)
        _check_instance_id(group_instance_id)
        if isinstance(protocols, (str, bytes)) or not all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
            and isinstance(p[1], (bytes, bytearray))
            for p in protocols
        ):
            raise TypeError(f"protocols must be (name, metadata bytes) pairs, got {protocols!r}")
        session = _check_int("session_timeout_ms", session_timeout_ms, -INT32_MAX - 1,
                             IllegalArgumentError, INT32_MAX)  # an int32 in JoinGroup
        # As Kafka's GroupCoordinatorService.joinGroup: INVALID_SESSION_TIMEOUT (a negative
        # one too) right after the group id, before the group is looked at, so before
        # GROUP_MAX_SIZE_REACHED (which would also remove a member of a full round).
        check_session_timeout(session, self.group_min_session_timeout_ms,
                              self.group_max_session_timeout_ms)
        rebalance = session if rebalance_timeout_ms is None else _check_int(
            "rebalance_timeout_ms", rebalance_timeout_ms, 1, IllegalArgumentError, INT32_MAX
        )  # an int32 in JoinGroup, as in Kafka's group metadata
        _check_timeout(timeout)
        with self._lock:
            self._check_open()
            self._check_offsets_retention()
            consumer = self._live_consumer_group(group_id)
            if consumer is not None and consumer.members:
                return consumer.classic_join(
                    member_id, protocol_type=protocol_type, protocols=protocols,
                    session_timeout_ms=session, rebalance_timeout_ms=rebalance,
                    topics=self._partition_counts(), now=self._clock(),
                    instance_id=group_instance_id, client_id=client_id,
                    client_host=client_host, require_known_member_id=require_known_member_id)
            if consumer is not None:  # Kafka's maybeDeleteEmptyConsumerGroup; offsets stay
                self._forget_consumer_group(group_id)
            created = group_id not in self._groups
            group = self._group(group_id, create=True)
            try:
                self._check_room(group, member_id)
                result = group.join(
                    member_id, protocol_type=protocol_type, protocols=protocols,
                    session_timeout_ms=session, rebalance_timeout_ms=rebalance,
                    client_id=client_id, client_host=client_host,
                    group_instance_id=group_instance_id,
                    require_known_member_id=require_known_member_id,
                    supports_skip_assignment=supports_skip_assignment, timeout=timeout,
                )
            except BaseException:
                if created and not group.members and not group.pending_members:
                    del self._groups[group_id]  # a rejected first join leaves no trace
                raise
            self._track_subscriptions(group_id, group)
            return result

    def sync_group(
        self,
        group_id: str,
        member_id: str,
        generation: int,
        *,
        assignments: Mapping[str, bytes] | None = None,
        protocol_type: str | None = None,
        protocol: str | None = None,
        group_instance_id: str | None = None,
        timeout: float | None = None,
        store_first: bool = False,
    ) -> SyncResult:
        """Kafka's SyncGroup: the leader sends every member's assignment; each gets its own.

        A follower **blocks** until the leader's SyncGroup arrived, at most ``timeout`` seconds
        (then ``pending=True``: call again). ``store_first`` is a cluster's: the followers are
        answered only once it has stored the group's metadata and called
        :meth:`group_stored` (see :meth:`GroupCoordinator.sync
        <pcmodel.topics.coordinator.GroupCoordinator.sync>`). Raises ``UnknownMemberIdError``,
        ``IllegalGenerationError``, ``RebalanceInProgressError`` (a new round started: join
        again), ``InconsistentGroupProtocolError`` when ``protocol_type`` / ``protocol`` are
        given and are not the group's, ``FencedInstanceIdError`` when another member holds
        ``group_instance_id``, ``TypeError`` for ``assignments`` that are not a mapping.
        """
        validate_group_id(group_id)
        _check_timeout(timeout)
        if assignments is not None:
            _check_mapping("assignments", assignments, "member id to bytes")
        _check_instance_id(group_instance_id)
        with self._lock:
            self._check_open()
            consumer = self._live_consumer_group(group_id)
            if consumer is not None:
                return consumer.classic_sync(
                    member_id, generation, now=self._clock(), protocol_type=protocol_type,
                    protocol=protocol, instance_id=group_instance_id)
            group = self._known_group(group_id, member_id)
            return group.sync(
                member_id, generation, protocol_type=protocol_type, protocol=protocol,
                assignments=assignments, group_instance_id=group_instance_id, timeout=timeout,
                store_first=store_first,
            )

    def heartbeat(self, group_id: str, member_id: str, generation: int,
                  group_instance_id: str | None = None) -> HeartbeatResult:
        """Kafka's Heartbeat: keep a member alive; the status says whether to rejoin.

        Returns at once; the status is ``UNKNOWN_MEMBER`` for an unknown group or member,
        ``FENCED_INSTANCE_ID`` when another member holds ``group_instance_id``.
        """
        _check_instance_id(group_instance_id)
        with self._lock:
            self._check_open()
            consumer = self._live_consumer_group(group_id)
            group = self._groups.get(group_id)
            if consumer is not None:
                status = consumer.classic_heartbeat(member_id, generation, now=self._clock(),
                                                    instance_id=group_instance_id)
            elif group is None:
                status = HeartbeatStatus.UNKNOWN_MEMBER
            else:
                status = group.heartbeat(member_id, generation, group_instance_id)
            return HeartbeatResult(status, self._metadata_version)

    def leave_group(self, group_id: str, member_id: str,
                    group_instance_id: str | None = None) -> None:
        """Kafka's LeaveGroup: leave now; the group rebalances without the member.

        ``member_id=""`` with a ``group_instance_id`` removes the static member holding it
        (LeaveGroup v3+, as an administrator does). Returns at once. Raises
        ``UnknownMemberIdError`` for a member (or group) the broker does not know, e.g. one
        already removed after its session timeout, and ``FencedInstanceIdError`` when another
        member holds ``group_instance_id``.
        """
        _check_instance_id(group_instance_id)
        with self._lock:
            self._check_open()
            consumer = self._live_consumer_group(group_id)
            if consumer is not None:
                consumer.classic_leave(member_id, group_instance_id)
                return
            self._known_group(group_id, member_id).leave(member_id, group_instance_id)

    def describe_group(self, group_id: str) -> GroupDescription:
        """State, generation, protocol, members, committed offsets and lag of one group.

        Raises ``GroupIdNotFoundError`` for a group that never joined or committed.
        """
        with self._lock:
            self._check_offsets_retention()
            group = self._groups.get(group_id)
            if group_id in self._consumer_groups:
                raise GroupIdNotFoundError(f"Group {group_id} is not a classic group.")
            if group is None:
                raise GroupIdNotFoundError(f"no group {group_id!r}; groups: {sorted(self._groups)}")

            def end(tp: TopicPartition) -> int | None:
                topic = self._topics.get(tp.topic)
                if topic is None or tp.partition >= len(topic.logs):
                    return None
                return topic.logs[tp.partition].high_watermark

            return group.describe(end, self._partition_counts())

    def delete_group(self, group_id: str) -> None:
        """Kafka's DeleteGroups: an empty group goes ``Dead``; its offsets are forgotten.

        Also releases its hold on ``"block"`` topics. A Kafka 4 consumer group is deleted the
        same way. Raises ``GroupIdNotFoundError`` for an unknown group and
        ``GroupNotEmptyError`` while it still has members (Kafka's ``NON_EMPTY_GROUP``);
        nothing changes then.
        """
        with self._lock:
            self._check_open()
            self._check_offsets_retention()
            consumer = self._live_consumer_group(group_id)
            if consumer is not None:
                if consumer.members:
                    raise GroupNotEmptyError(
                        f"consumer group {group_id!r} still has {len(consumer.members)} "
                        "members; close them first")
                self._forget_consumer_group(group_id)
                if group_id not in self._groups:
                    return
            group = self._existing_group(group_id)
            if group.members:
                raise GroupNotEmptyError(
                    f"group {group_id!r} still has {len(group.members)} members; close them first"
                )
            self._forget_group(group_id)

    def group_metadata(self, group_id: str) -> bytes | None:
        """The group's metadata record for the offsets topic (see
        :mod:`pcmodel.topics.group_snapshot`): encoded, or ``None`` for an unknown group and
        while it rebalances. A cluster's coordinator stores it when the group changes."""
        with self._lock:
            group = self._groups.get(group_id)
            if group is None:
                return None
            group.expire(self._clock())
            record = group.metadata_record()
            return None if record is None else record.encode()

    def group_stored(self, group_id: str, generation: int) -> None:
        """A cluster stored the group's metadata with the assignment of ``generation`` that its
        leader's SyncGroup (``store_first``) handed in: the followers get their assignments
        now (see :meth:`GroupCoordinator.assignment_stored
        <pcmodel.topics.group_snapshot.GroupSnapshotMixin.assignment_stored>`). Returns at
        once; nothing happens for a group this broker does not have."""
        with self._lock:
            self._check_open()
            group = self._groups.get(group_id)
            if group is not None:
                group.assignment_stored(generation)

    def group_not_stored(self, group_id: str, member_id: str) -> None:
        """A cluster could not store the group's metadata after ``member_id``'s JoinGroup or
        SyncGroup: undo what was not stored (see :meth:`GroupCoordinator.not_stored
        <pcmodel.topics.coordinator.GroupCoordinator.not_stored>`). Returns at once; nothing
        happens for a group this broker does not have."""
        with self._lock:
            self._check_open()
            group = self._groups.get(group_id)
            if group is not None:
                group.not_stored(member_id)

    def load_group(self, record: bytes) -> bool:
        """Restore a group from its stored metadata record (this broker became its
        coordinator): a ``Stable`` one with its members, an ``Empty`` one with the time it
        became empty (its offsets' retention counts from then); ``False`` if the record is
        older than what the broker has. Load a group's offsets first: an ``Empty`` record of
        a group without offsets leaves no group behind. A group with more members than
        ``group_classic_max_size`` starts a rebalance at once, which keeps at most that many
        of them (see :meth:`join_group`), as Kafka does on loading it."""
        loaded = GroupMetadataRecord.decode(record)
        with self._lock:
            self._check_open()
            group = self._group(validate_group_id(loaded.group_id), create=True)
            restored = group.restore(loaded)
            if not group.members and not group.offsets and group.state is GroupState.EMPTY:
                del self._groups[loaded.group_id]  # an empty record leaves no group behind
            elif restored:
                self._track_subscriptions(loaded.group_id, group)
                limit = self.group_classic_max_size
                if limit is not None and len(group.members) > limit \
                        and group.state is GroupState.STABLE:
                    # Kafka rebalances a group loaded over its bound (the bound was lowered):
                    # its members commit and rejoin, and the round keeps at most the bound.
                    group._prepare_rebalance(self._clock())
            return restored

    def list_groups(self) -> list[str]:
        """Return the ids of every group the broker knows."""
        with self._lock:
            self._check_offsets_retention()
            return sorted(set(self._groups) | set(self._consumer_groups))

    def group_states(self) -> dict[str, tuple[str | None, GroupState]]:
        """``{group id: (protocol type, state)}`` for every classic group (Kafka's
        ListGroups; the consumer groups: :meth:`consumer_group_states`)."""
        with self._lock:
            self._check_offsets_retention()
            now = self._clock()
            for group in self._groups.values():
                group.expire(now)
            return {
                gid: (g.protocol_type, g.state) for gid, g in sorted(self._groups.items())
                if gid not in self._consumer_groups
            }

    # --- internals (called with the lock held) -------------------------------------------------

    def _group(self, group_id: str, *, create: bool) -> GroupCoordinator:
        group = self._groups.get(group_id)
        if group is None and create:
            group = GroupCoordinator(
                group_id, self._lock, self._clock, timestamp_clock=self._timestamp_clock,
                initial_rebalance_delay_ms=self.group_initial_rebalance_delay_ms,
            )
            self._groups[group_id] = group
        return group

    def _check_room(self, group: GroupCoordinator, member_id: str) -> None:
        """Refuse a join that would take ``group`` past ``group_classic_max_size`` with
        ``GroupMaxSizeReachedError``, as Kafka's ``acceptJoiningMember`` does: an ``Empty``
        group takes anyone; a ``Stable`` or ``CompletingRebalance`` one takes its members and
        new ones while it has fewer members than the bound; a ``PreparingRebalance`` one takes
        a member that already rejoined this round, and others while fewer members than the
        bound have rejoined. The count of rejoined members, not of members, is what bounds a
        round, so that a group already over the bound (loaded so, or the bound was lowered)
        shrinks to it: a member refused there is removed from the group, as Kafka removes it.
        """
        limit = self.group_classic_max_size
        if limit is None:
            return
        group.expire(self._clock())  # sessions over now do not count
        member = group.members.get(member_id)
        if group.state in (GroupState.EMPTY, GroupState.DEAD):
            return
        if group.state is GroupState.PREPARING_REBALANCE:
            rejoined = sum(m.awaiting_join for m in group.members.values())
            if (member is not None and member.awaiting_join) or rejoined < limit:
                return
        elif member is not None or len(group.members) < limit:
            return
        group.pending_members.pop(member_id, None)
        if member is not None:
            group._remove(member_id)  # the coordinator's own removal: it may end the round
        raise GroupMaxSizeReachedError(
            f"Consumer group {group.group_id!r} already has the configured maximum number of "
            f"members ({limit}, the broker's group_classic_max_size); stop a member or raise "
            "the bound")

    def _existing_group(self, group_id: str) -> GroupCoordinator:
        """The group, its expired sessions ended; ``GroupIdNotFoundError`` if there is none."""
        group = self._groups.get(group_id)
        if group is None:
            raise GroupIdNotFoundError(f"no group {group_id!r}; groups: {sorted(self._groups)}")
        group.expire(self._clock())
        return group

    def _drop_if_spent(self, group_id: str, in_transaction: bool = False) -> bool:
        """Kafka's ``cleanupGroupMetadata``: once a group's offsets were removed, a group left
        ``Empty`` with no offset is deleted, unless ``in_transaction`` (a transaction has
        offsets of the group pending: Kafka keeps a group with open transactions). Returns
        whether it was."""
        group = self._groups[group_id]
        group.expire(self._clock())
        if group.state is not GroupState.EMPTY or group.offsets or in_transaction:
            return False
        self._forget_group(group_id)
        return True

    def _forget_group(self, group_id: str) -> None:
        """An empty group goes ``Dead`` and leaves the table, releasing its ``"block"`` topics."""
        self._groups.pop(group_id).mark_dead()
        for topic in self._topics.values():
            if group_id in topic.tracking_groups:
                self._untrack(group_id, topic.name)

    def _untrack(self, group_id: str, topic_name: str) -> None:
        """The group no longer holds back ``topic_name`` (a ``"block"`` topic may move on)."""
        topic = self._topics[topic_name]
        topic.tracking_groups.discard(group_id)
        if topic.policy is RetentionPolicy.BLOCK:
            for partition in range(len(topic.logs)):
                self._advance_floor(TopicPartition(topic.name, partition))

    def _known_group(self, group_id: str, member_id: str) -> GroupCoordinator:
        group = self._groups.get(group_id)
        if group is None:
            raise UnknownMemberIdError(
                f"member {member_id!r} is not in group {group_id!r}: no such group; join first"
            )
        return group

    def _track_subscriptions(self, group_id: str, group: GroupCoordinator) -> None:
        # A subscribing consumer group holds back "block" topics from now on (_advance_floor).
        for name in group.subscribed_topics():
            if name in self._topics:
                self._topics[name].tracking_groups.add(group_id)
