"""The broker's Kafka 4 consumer groups (KIP-848), next to its classic groups.

:class:`ConsumerGroupsMixin` is the part of :class:`~pcmodel.topics.broker.Broker` behind
Kafka's ConsumerGroupHeartbeat and ConsumerGroupDescribe. Each group is a
:class:`~pcmodel.topics.consumer_group.ConsumerGroup` in the table ``_consumer_groups``; the
state machine, the assignors and the reconciliation are explained in
:mod:`pcmodel.topics.consumer_group`. A group id names one group of one type. A joining
heartbeat turns a classic group that has members into a consumer group, and the last
consumer-protocol member leaving turns it back, as ``group_consumer_migration_policy`` allows
(:mod:`pcmodel.topics.group_migration`; refused, the heartbeat is answered GROUP_ID_NOT_FOUND,
"not a consumer group"). Classic members' JoinGroup, SyncGroup, Heartbeat and LeaveGroup to a
consumer group are served by it (:mod:`pcmodel.topics.consumer_group_classic`, routed by
:mod:`pcmodel.topics.broker_groups`). An *empty* group of either type gives way to the other
type, and its committed offsets stay.

**Committed offsets** are stored as a classic group's are (:mod:`pcmodel.topics.broker_offsets`,
in a member-less classic group of the same id that only holds them), and checked by the consumer
group: a commit carries the member's id and *member epoch* (Kafka's
``ConsumerGroup.validateOffsetCommit``: UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH). They expire as
Kafka expires a consumer group's: each counted from its commit, those of topics a member
subscribes to kept. On a ``"block"`` topic (pcmodel's own retention policy) a consumer group
holds records back from its first commit there, not from its subscription as a classic group
does.

These calls are the Kafka listener's (:mod:`pcmodel.wire.handlers.consumer_groups`), not
client methods (:data:`~pcmodel.topics.broker.CLIENT_METHODS`): pcmodel's own consumers speak
the classic protocol. The one exception is ``consumer_group_states``, which the admin client's
``list_groups`` calls. A replicated cluster routes them to the broker coordinating the group
(:mod:`pcmodel.cluster.client_consumer_groups`), which hands the cluster a
:class:`ConsumerGroupSnapshot` of the group to store after each heartbeat
(:meth:`~ConsumerGroupsMixin.consumer_group_snapshot`) and, once it becomes coordinator,
restores the group from one (:meth:`~ConsumerGroupsMixin.restore_consumer_group`).

The broker's settings (Kafka's names): ``group_consumer_session_timeout_ms`` (45 s) and
``group_consumer_heartbeat_interval_ms`` (5 s) apply to every consumer group that does not
set its own ``consumer.session.timeout.ms`` and ``consumer.heartbeat.interval.ms`` (Kafka 4's
group configs, :mod:`pcmodel.topics.group_configs`, read at each heartbeat as Kafka's
coordinator reads them); ``group_consumer_max_size`` bounds its members (``None``, Kafka's
default: no bound).
``group_consumer_migration_policy`` (``"bidirectional"``, Kafka 4's default; or ``"upgrade"``,
``"downgrade"``, ``"disabled"``) says which conversions a group may make, and
``group_classic_max_size`` (``None``: no bound), Kafka's ``group.max.size``, refuses a downgrade
that would leave more classic members. These two are arguments of the broker and attributes
that may be set while it runs, checked either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pcmodel.topics.broker_checks import INT32_MAX, _check_int, _check_list, _check_mapping
from pcmodel.topics.consumer_group import ConsumerGroup, HeartbeatAnswer, validate_heartbeat
from pcmodel.topics.consumer_group_members import Assignment, ConsumerGroupMember, MemberState
from pcmodel.topics.coordinator import GroupCoordinator, validate_group_id
from pcmodel.topics.errors import GroupIdNotFoundError, IllegalArgumentError, InvalidRequestError
from pcmodel.topics.group_answers import GroupState
from pcmodel.topics.group_configs import consumer_group_timeouts
from pcmodel.topics.group_migration import (
    DEFAULT_MIGRATION_POLICY,
    check_migration_policy,
    consumer_group_from_classic,
    downgrade_allowed,
    upgrade_refusal,
)

__all__ = [
    "ConsumerGroupDescription",
    "ConsumerGroupMemberDescription",
    "ConsumerGroupSnapshot",
    "ConsumerGroupsMixin",
]


@dataclass(frozen=True)
class ConsumerGroupMemberDescription:
    """One member as ConsumerGroupDescribe shows it."""

    member_id: str
    instance_id: str | None
    rack_id: str | None
    member_epoch: int
    client_id: str
    client_host: str
    subscribed_topic_names: tuple[str, ...]
    subscribed_topic_regex: str | None
    assignment: Assignment
    target_assignment: Assignment
    #: ``"consumer"``, or ``"classic"`` for a member speaking JoinGroup/SyncGroup/Heartbeat.
    member_type: str = "consumer"


@dataclass(frozen=True)
class ConsumerGroupDescription:
    """A consumer group as ConsumerGroupDescribe shows it."""

    group_id: str
    state: str
    group_epoch: int
    assignment_epoch: int
    assignor_name: str
    members: tuple[ConsumerGroupMemberDescription, ...]


@dataclass(frozen=True)
class ConsumerGroupSnapshot:
    """What a consumer group's coordinator must remember to carry on elsewhere: what Kafka's
    group coordinator writes to ``__consumer_offsets`` for it (the group epoch, the subscribed
    topics' partition counts, each member's metadata and current assignment, the target
    assignment and its epoch). Timers are not part of it: a coordinator that restores it
    starts every member's session afresh, as Kafka's does when it loads a group."""

    group_id: str
    group_epoch: int
    subscription_metadata: Mapping[str, int]
    assignment_epoch: int
    members: tuple[ConsumerGroupMember, ...]
    target: Mapping[str, Assignment]


def _check_str(name: str, value: object, nullable: bool = True) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str{' or None' if nullable else ''}, not "
                        f"{type(value).__name__}")


class ConsumerGroupsMixin:
    """Kafka 4 consumer group calls (Broker part)."""

    _migration_policy: str = DEFAULT_MIGRATION_POLICY
    _classic_max_size: int | None = None

    @property
    def group_consumer_migration_policy(self) -> str:
        """Kafka's ``group.consumer.migration.policy``: ``"bidirectional"`` (default),
        ``"upgrade"``, ``"downgrade"`` or ``"disabled"``. Setting another value raises
        ``IllegalArgumentError``; a new value applies to the conversions that follow."""
        return self._migration_policy

    @group_consumer_migration_policy.setter
    def group_consumer_migration_policy(self, policy: str) -> None:
        self._migration_policy = check_migration_policy(policy)

    @property
    def group_classic_max_size(self) -> int | None:
        """Kafka's ``group.max.size``, the classic groups' bound (``None``: no bound): a
        JoinGroup past it is refused, and so is a downgrade that would leave more classic
        members. Setting anything but a positive int or ``None`` raises
        ``IllegalArgumentError``; a new value applies to the joins and conversions that
        follow."""
        return self._classic_max_size

    @group_classic_max_size.setter
    def group_classic_max_size(self, size: int | None) -> None:
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                 or size < 1):
            raise IllegalArgumentError(
                f"group_classic_max_size must be a positive int or None, not {size!r}")
        self._classic_max_size = size

    def consumer_group_heartbeat(
        self,
        group_id: str,
        member_id: str,
        member_epoch: int,
        *,
        instance_id: str | None = None,
        rack_id: str | None = None,
        rebalance_timeout_ms: int = -1,
        subscribed_topic_names: Sequence[str] | None = None,
        subscribed_topic_regex: str | None = None,
        server_assignor: str | None = None,
        owned_partitions: Mapping[str, Iterable[int]] | None = None,
        client_id: str = "",
        client_host: str = "",
    ) -> HeartbeatAnswer:
        """Kafka's ConsumerGroupHeartbeat: join (``member_epoch=0``), stay, or leave (-1;
        -2 for a static member coming back) the consumer group ``group_id``.

        The ``None`` fields mean "unchanged since my last heartbeat", as on the wire;
        ``owned_partitions`` maps topic names to the partitions the member owns. Returns at
        once, with the member's epoch and (when it changed, or the heartbeat was a full one)
        its assignment. Raises ``InvalidRequestError`` for malformed fields (a
        ``rebalance_timeout_ms`` beyond an int32 among them),
        ``UnsupportedAssignorError``, ``InvalidRegularExpressionError``,
        ``GroupIdNotFoundError`` (no such consumer group, for a heartbeat that is not a join,
        or a classic group with members), ``GroupMaxSizeReachedError``,
        ``UnknownMemberIdError``, ``FencedMemberEpochError``, ``UnreleasedInstanceIdError``,
        ``FencedInstanceIdError``; ``TypeError`` for a field of the wrong type, such as a bare
        str given as ``subscribed_topic_names`` (pass ``["orders"]``); nothing changes then.
        """
        _check_str("group_id", group_id, nullable=False)
        _check_str("member_id", member_id, nullable=False)
        for name, value in (("instance_id", instance_id), ("rack_id", rack_id),
                            ("subscribed_topic_regex", subscribed_topic_regex),
                            ("server_assignor", server_assignor)):
            _check_str(name, value)
        # Stored with the member, as an int32 (ConsumerGroupHeartbeat's RebalanceTimeoutMs).
        _check_int("rebalance_timeout_ms", rebalance_timeout_ms, -INT32_MAX - 1,
                   InvalidRequestError, INT32_MAX)
        names = None if subscribed_topic_names is None else _check_list(
            "subscribed_topic_names", subscribed_topic_names)
        owned = None if owned_partitions is None else {
            topic: set(partitions) for topic, partitions in _check_mapping(
                "owned_partitions", owned_partitions, "topic to a list of partitions").items()}
        validate_heartbeat(group_id, member_id, member_epoch, instance_id, rack_id,
                           rebalance_timeout_ms, names, subscribed_topic_regex,
                           server_assignor, owned)
        with self._lock:
            self._check_open()
            self._check_offsets_retention()
            now = self._clock()
            group = self._consumer_group(group_id, create=member_epoch == 0)
            # Kafka's coordinator reads the group's configs at each heartbeat: a new session
            # timeout applies to the sessions this heartbeat and the later ones start.
            group.session_timeout_ms, group.heartbeat_interval_ms = \
                self._consumer_group_timeouts(group_id)
            classic = self._groups.get(group_id)
            upgraded = group_id not in self._consumer_groups and classic is not None and \
                self._in_use(classic)
            answer = group.heartbeat(
                member_id, member_epoch, topics=self._partition_counts(), now=now,
                instance_id=instance_id, rack_id=rack_id,
                rebalance_timeout_ms=rebalance_timeout_ms, topic_names=names,
                regex=subscribed_topic_regex, assignor=server_assignor, owned=owned,
                client_id=client_id, client_host=client_host)
            if upgraded:  # only now, so that a refused join leaves the classic group whole
                classic.hand_over()
            if not group.converted:  # a leave may have turned it into a classic group
                self._consumer_groups[group_id] = group  # a refused first join leaves none
            return answer

    def describe_consumer_group(self, group_id: str) -> ConsumerGroupDescription:
        """Kafka's ConsumerGroupDescribe of one group: its state, epochs, assignor and members
        with their current and target assignments. Raises ``GroupIdNotFoundError`` when
        ``group_id`` is no consumer group (none, or a classic one)."""
        validate_group_id(group_id)
        with self._lock:
            group = self._existing_consumer_group(group_id)
            return ConsumerGroupDescription(
                group_id, group.state, group.group_epoch, group.assignment_epoch,
                group.assignor_name(), tuple(
                    ConsumerGroupMemberDescription(
                        m.member_id, m.instance_id, m.rack_id, m.member_epoch, m.client_id,
                        m.client_host, m.subscribed_topic_names, m.subscribed_topic_regex,
                        dict(m.assigned), dict(group.target.get(m.member_id, {})),
                        "classic" if m.uses_classic_protocol else "consumer")
                    for m in group.members.values()))

    def consumer_group_states(self) -> dict[str, str]:
        """``{group id: state}`` of every consumer group (ListGroups shows them with type
        ``consumer``)."""
        with self._lock:
            now = self._clock()
            for group in list(self._consumer_groups.values()):
                group.expire(now)  # may turn one into a classic group
            return {gid: g.state for gid, g in sorted(self._consumer_groups.items())}

    def all_committed(self, group_id: str) -> dict:
        """Every committed offset of ``group_id`` (classic or consumer group; ``{}`` for a
        group that has none). Returns at once."""
        with self._lock:
            self._check_offsets_retention()
            holder = self._groups.get(group_id)
            return {} if holder is None else dict(holder.offsets)

    def check_offset_fetch(self, group_id: str, member_id: str | None,
                           member_epoch: int) -> None:
        """Kafka's OffsetFetch v9+ check of a consumer group's member (``member_id`` ``None``
        and epoch -1: not a member, always accepted): raises ``UnknownMemberIdError`` or
        ``StaleMemberEpochError``. Nothing is checked for a classic group or no group."""
        with self._lock:
            group = self._live_consumer_group(group_id)
            if group is not None:
                group.check_offset_fetch(member_id, member_epoch)

    def consumer_group_snapshot(self, group_id: str) -> ConsumerGroupSnapshot | None:
        """The consumer group ``group_id`` as a cluster's coordinator stores it (expired
        members removed first), or ``None`` when ``group_id`` is no consumer group now (none,
        deleted, or a classic group). Returns at once."""
        with self._lock:
            group = self._live_consumer_group(group_id)
            if group is None:
                return None
            return ConsumerGroupSnapshot(
                group_id, group.group_epoch, dict(group.subscription_metadata),
                group.assignment_epoch, tuple(group.members.values()),
                {m: dict(a) for m, a in group.target.items()})

    def restore_consumer_group(self, snapshot: ConsumerGroupSnapshot | None,
                               group_id: str | None = None) -> None:
        """Make the consumer group what ``snapshot`` says (this broker became its coordinator,
        or what it changed could not be stored); ``None`` removes consumer group ``group_id``.
        Every member's session, and an unrevoked member's revocation, starts now, as Kafka's
        coordinator schedules them when it loads a group: a member that died meanwhile is
        fenced once its session runs out. Returns at once."""
        with self._lock:
            self._check_open()
            if snapshot is None:
                self._consumer_groups.pop(validate_group_id(group_id or ""), None)
                return
            now = self._clock()
            session_ms, heartbeat_ms = self._consumer_group_timeouts(snapshot.group_id)
            group = ConsumerGroup(
                snapshot.group_id, session_timeout_ms=session_ms,
                heartbeat_interval_ms=heartbeat_ms, max_size=self.group_consumer_max_size)
            group.downgrade = self._downgrade_consumer_group
            group.group_epoch = snapshot.group_epoch
            group.assignment_epoch = snapshot.assignment_epoch
            group.subscription_metadata = dict(snapshot.subscription_metadata)
            group.target = {m: dict(a) for m, a in snapshot.target.items()}
            for member in snapshot.members:
                group.members[member.member_id] = member
                if member.instance_id is not None:
                    group.static_members[member.instance_id] = member.member_id
                session_ms = group.session_timeout_ms if member.classic is None \
                    else member.classic.session_timeout_ms
                group.session_deadlines[member.member_id] = now + session_ms / 1000
                if member.state is MemberState.UNREVOKED_PARTITIONS and member.classic is None:
                    group.revocation_deadlines[member.member_id] = (
                        member.member_epoch, now + max(member.rebalance_timeout_ms, 0) / 1000)
            self._consumer_groups[snapshot.group_id] = group

    # --- internals (called with the lock held) ----------------------------------------------

    def _consumer_group(self, group_id: str, *, create: bool) -> ConsumerGroup:
        """The consumer group ``group_id``, its expired members removed; a new one (not yet in
        the table) if ``create``. Kafka's ``getOrMaybeCreateConsumerGroup``."""
        group = self._live_consumer_group(group_id)
        if group is not None:
            return group
        if not create:
            raise GroupIdNotFoundError(f"Consumer group {group_id} not found.")
        session_ms, heartbeat_ms = self._consumer_group_timeouts(group_id)
        group = ConsumerGroup(group_id, session_timeout_ms=session_ms,
                              heartbeat_interval_ms=heartbeat_ms,
                              max_size=self.group_consumer_max_size)
        group.downgrade = self._downgrade_consumer_group
        classic = self._groups.get(group_id)
        if classic is not None:
            classic.expire(self._clock())
            if self._in_use(classic):
                refusal = upgrade_refusal(classic, self._migration_policy,
                                          self.group_consumer_max_size)
                if refusal is not None:
                    raise GroupIdNotFoundError(
                        f"Group {group_id} is not a consumer group: it is a classic group "
                        f"that cannot become one, because {refusal}.")
                consumer_group_from_classic(classic, group)  # Kafka's online upgrade
        return group

    def _consumer_group_timeouts(self, group_id: str) -> tuple[int, int]:
        """The session timeout and heartbeat interval (ms) of consumer group ``group_id``:
        its group configs' (:mod:`pcmodel.topics.group_configs`), else the broker's.
        Kafka's ``consumerGroupSessionTimeoutMs`` and ``consumerGroupHeartbeatIntervalMs``."""
        return consumer_group_timeouts(
            self._group_configs.get(group_id),
            session_ms=self.group_consumer_session_timeout_ms,
            heartbeat_ms=self.group_consumer_heartbeat_interval_ms)

    @staticmethod
    def _in_use(classic: GroupCoordinator) -> bool:
        """Whether a classic group is more than the keeper of a group id's offsets."""
        return bool(classic.members or classic.pending_members) or \
            classic.state is not GroupState.EMPTY

    def _live_consumer_group(self, group_id: str) -> ConsumerGroup | None:
        """The consumer group ``group_id``, its expired members removed, or ``None`` (no such
        group, or it has just become a classic group)."""
        group = self._consumer_groups.get(group_id)
        if group is None:
            return None
        group.expire(self._clock())
        return None if group.converted else group

    def _downgrade_consumer_group(self, group: ConsumerGroup, leaving_id: str | None) -> bool:
        """The hook a consumer group calls before it removes its last consumer-protocol member
        (``leaving_id``), or once a classic static member replaced it (``None``): become a
        classic group of the classic members if the policy and ``group_classic_max_size``
        allow (:mod:`pcmodel.topics.group_migration`). Returns whether it did; the consumer
        group is then empty and out of the table."""
        if not downgrade_allowed(group, leaving_id, self._migration_policy,
                                 self._classic_max_size):
            return False
        classic = self._group(group.group_id, create=True)
        classic.take_over(group, leaving_id, self._clock())
        group.members.clear()
        group.static_members.clear()
        for deadlines in (group.session_deadlines, group.revocation_deadlines,
                          group.join_deadlines, group.sync_deadlines):
            deadlines.clear()
        group.classic_group = classic
        self._consumer_groups.pop(group.group_id, None)
        self._track_subscriptions(group.group_id, classic)
        return True

    def _existing_consumer_group(self, group_id: str) -> ConsumerGroup:
        group = self._live_consumer_group(group_id)
        if group is None:
            if group_id in self._groups:
                raise GroupIdNotFoundError(f"Group {group_id} is not a consumer group.")
            raise GroupIdNotFoundError(f"Group {group_id} not found.")
        return group

    def _consumer_group_topics(self, group_id: str) -> set[str] | None:
        """The topics the members of consumer group ``group_id`` subscribe to (their offsets
        do not expire), or ``None`` when ``group_id`` is not a consumer group."""
        group = self._live_consumer_group(group_id)
        if group is None:
            return None
        return group.subscribed_topics(self._partition_counts())

    def _forget_consumer_group(self, group_id: str) -> None:
        """An empty consumer group goes ``Dead`` and leaves the table."""
        self._consumer_groups.pop(group_id).dead = True
