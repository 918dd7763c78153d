"""Online migration between the classic and the consumer group protocols (KIP-848).

A group of running consumers cannot stop to change protocols: its members are restarted one at
a time, each with ``group.protocol=consumer`` (or back to ``classic``). Kafka 4 lets the group
change type under their feet, without losing a partition or a committed offset, and so does
this broker, as Kafka's ``group.consumer.migration.policy`` allows:

* **Upgrade** (``upgrade`` or ``bidirectional``). A ConsumerGroupHeartbeat joins a *classic*
  group that has members. The classic group becomes a consumer group
  (:func:`consumer_group_from_classic`): its generation becomes the group epoch and the target
  assignment's epoch, and each member keeps what the last SyncGroup gave it, as its assignment
  and its target, at that epoch. Joins and syncs still waiting in the classic group are answered
  REBALANCE_IN_PROGRESS. The new member's join raises the group epoch, the target is recomputed,
  and the classic members, still speaking JoinGroup/SyncGroup/Heartbeat, are told to rejoin and
  are served from that target (:mod:`pcmodel.topics.consumer_group_classic`).
* **Downgrade** (``downgrade`` or ``bidirectional``). The last member that speaks the consumer
  protocol leaves (or is removed) while classic members remain: instead of removing it, the
  group becomes a classic group (:meth:`GroupMigrationMixin.take_over`) whose generation is the
  group epoch, whose members are the classic ones with their target assignments, and which
  rebalances at once, so that a client leader assigns the leaver's partitions.
* Refusals, as Kafka's ``validateOnlineUpgrade`` / ``validateOnlineDowngrade*``: no upgrade when
  the policy does not allow it, when the classic group's protocol type is not ``consumer`` (the
  coordinator could not read its members' subscriptions) or when it has more members than
  ``group.consumer.max.size``; the heartbeat is answered GROUP_ID_NOT_FOUND ("not a consumer
  group"). No downgrade when the policy does not allow it or when more members would remain
  than ``group.max.size`` (the broker's ``group_classic_max_size``): the group stays a consumer
  group of classic members.

Whatever the policy, a classic member may join a consumer group that has members (Kafka's
``classicGroupJoin``), and an *empty* group of either type gives way to the other. Committed
offsets are kept by the broker in a member-less classic group of the same id
(:mod:`pcmodel.topics.broker_consumer_groups`): a conversion never touches them.

Prior art: Kafka's ``GroupMetadataManager.convertToConsumerGroup``, ``convertToClassicGroup``,
``validateOnlineUpgrade``, ``validateOnlineDowngradeWithFencedMember``,
``ConsumerGroup.fromClassicGroup``, ``ClassicGroup.fromConsumerGroup`` and
``ConsumerGroupMigrationPolicy``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pcmodel.topics.consumer_group_classic import encode_member_assignment
from pcmodel.topics.consumer_group_members import (
    ClassicMetadata,
    ConsumerGroupMember,
    MemberState,
)
from pcmodel.topics.consumer_protocol import PROTOCOL_TYPE, decode_assignment, decode_subscription
from pcmodel.topics.errors import GroupIdNotFoundError, IllegalArgumentError
from pcmodel.topics.group_answers import GroupState
from pcmodel.topics.group_metadata import _Member

if TYPE_CHECKING:
    from pcmodel.topics.consumer_group import ConsumerGroup

__all__ = [
    "DEFAULT_MIGRATION_POLICY",
    "MIGRATION_POLICIES",
    "GroupMigrationMixin",
    "check_migration_policy",
    "consumer_group_from_classic",
    "downgrade_allowed",
    "upgrade_refusal",
]

#: Kafka's ``group.consumer.migration.policy`` values: which conversions a group may make.
MIGRATION_POLICIES = ("disabled", "upgrade", "downgrade", "bidirectional")
#: Kafka 4's default.
DEFAULT_MIGRATION_POLICY = "bidirectional"


def check_migration_policy(policy: object) -> str:
    """``policy`` as Kafka spells it (any case); ``IllegalArgumentError`` naming the legal
    values otherwise."""
    if not isinstance(policy, str) or policy.lower() not in MIGRATION_POLICIES:
        raise IllegalArgumentError(
            f"group_consumer_migration_policy must be one of {', '.join(MIGRATION_POLICIES)}, "
            f"not {policy!r}")
    return policy.lower()


def upgrade_refusal(classic: GroupMigrationMixin, policy: str,
                    consumer_max_size: int | None) -> str | None:
    """Why the classic group may not become a consumer group (``None``: it may)."""
    if policy not in ("upgrade", "bidirectional"):
        return f"the online upgrade is disabled (group.consumer.migration.policy={policy})"
    if classic.protocol_type != PROTOCOL_TYPE:
        return (f"its members' protocol type is {classic.protocol_type!r}, not "
                f"{PROTOCOL_TYPE!r}")
    if consumer_max_size is not None and len(classic.members) > consumer_max_size:
        return (f"its {len(classic.members)} members exceed group.consumer.max.size "
                f"({consumer_max_size})")
    return None


def downgrade_allowed(group: ConsumerGroup, leaving_id: str | None, policy: str,
                      classic_max_size: int | None) -> bool:
    """Kafka's ``validateOnlineDowngradeWithFencedMember``: whether the group becomes a classic
    group instead of losing ``leaving_id``, its last consumer-protocol member; with
    ``leaving_id=None`` (``...WithReplacedMemberId``), whether the group, whose last
    consumer-protocol member a classic static member just replaced, becomes one."""
    if leaving_id is None:
        classic = bool(group.members) and \
            all(m.uses_classic_protocol for m in group.members.values())
        remaining = len(group.members)
    else:
        classic = group.only_classic_members_but(leaving_id)
        remaining = len(group.members) - 1
    return classic and policy in ("downgrade", "bidirectional") and \
        (classic_max_size is None or remaining <= classic_max_size)


def consumer_group_from_classic(classic: GroupMigrationMixin, group: ConsumerGroup) -> None:
    """Fill the new, empty consumer ``group`` from the classic group (Kafka's
    ``ConsumerGroup.fromClassicGroup``): every member at the generation, ``Stable``, its last
    assignment as its target. Raises ``GroupIdNotFoundError`` when a member's subscription or
    assignment is not the consumer protocol's; ``group`` is left half-filled then, so pass a
    new one."""
    group.group_epoch = group.assignment_epoch = classic.generation
    for member in classic.members.values():
        try:
            subscription = decode_subscription(classic._metadata_of(member))
            assigned: dict[str, frozenset[int]] = {}
            for tp in decode_assignment(member.assignment):
                assigned[tp.topic] = assigned.get(tp.topic, frozenset()) | {tp.partition}
        except ValueError:
            raise GroupIdNotFoundError(
                f"Cannot upgrade the classic group {classic.group_id} to consumer group "
                "because the embedded consumer protocol is malformed.") from None
        group.members[member.member_id] = ConsumerGroupMember(
            member.member_id, instance_id=member.group_instance_id,
            rack_id=subscription.rack_id, client_id=member.client_id,
            client_host=member.client_host,
            rebalance_timeout_ms=round(member.rebalance_timeout * 1000),
            subscribed_topic_names=tuple(sorted(set(subscription.topics))),
            state=MemberState.STABLE, member_epoch=classic.generation,
            previous_member_epoch=classic.generation, assigned=assigned,
            classic=ClassicMetadata(round(member.session_timeout * 1000), member.protocols))
        group.target[member.member_id] = dict(assigned)
        if member.group_instance_id is not None:
            group.static_members[member.group_instance_id] = member.member_id


class GroupMigrationMixin:
    """A classic group handing its members to a consumer group, and taking them back
    (coordinator part; called with the broker's lock held)."""

    def hand_over(self) -> None:
        """The group became a consumer group: every waiting JoinGroup and SyncGroup is answered
        REBALANCE_IN_PROGRESS, and the group is left ``Empty``, keeping its offsets."""
        for member in self.members.values():
            member.moved = True
            member.awaiting_join = member.awaiting_sync = False
        self.members.clear()
        self.pending_members.clear()
        self.pending_sync.clear()
        self.static_replacements.clear()
        self.leader = self.protocol = None
        self.delay_deadline, self.storing = None, False
        self.state = GroupState.EMPTY
        self.state_since_ms = self.timestamp_clock()
        self._changed.notify_all()

    def take_over(self, group: ConsumerGroup, leaving_id: str | None, now: float) -> None:
        """The consumer ``group`` becomes this (empty) classic group, without ``leaving_id``
        (Kafka's ``ClassicGroup.fromConsumerGroup``): ``Stable`` at the group epoch with the
        classic members and their target assignments, then at once a new rebalance, so that
        a leader assigns the leaver's partitions. Without a leaver (a classic static member
        took the place of the last consumer-protocol one, and its partitions) it stays
        ``Stable``."""
        self.members.clear()
        for member in group.members.values():
            if member.member_id == leaving_id or member.classic is None:
                continue
            self.members[member.member_id] = _Member(
                member.member_id, member.client_id, member.client_host, PROTOCOL_TYPE,
                member.classic.protocols, member.classic.session_timeout_ms / 1000,
                max(member.rebalance_timeout_ms, 0) / 1000, now,
                assignment=encode_member_assignment(group.target.get(member.member_id, {}),
                                                    member.classic.protocols),
                group_instance_id=member.instance_id)
        self.generation = group.group_epoch
        self.protocol_type = PROTOCOL_TYPE
        self.leader = next(iter(self.members))
        self.protocol = self._select_protocol()
        self.state = GroupState.STABLE
        self.state_since_ms = self.timestamp_clock()
        if leaving_id is not None:
            self._prepare_rebalance(now)
