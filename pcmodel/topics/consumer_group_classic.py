"""Classic members inside a Kafka 4 consumer group: JoinGroup, SyncGroup and Heartbeat answered
from the group's target assignment.

A consumer group (:mod:`pcmodel.topics.consumer_group`) can hold members that still speak the
classic protocol: the members of a classic group that became a consumer group
(:mod:`pcmodel.topics.group_migration`), or classic consumers that join a consumer group. Their
clients do not change; the coordinator plays the classic protocol's roles for them:

* **JoinGroup** is a heartbeat in disguise. The coordinator reads the member's subscription (and,
  for a cooperative client, the partitions it still owns) from its protocol metadata, updates the
  member as a ConsumerGroupHeartbeat would (the group epoch goes up if its subscription changed,
  the target assignment is recomputed), moves it towards its target one safe step
  (:func:`~pcmodel.topics.consumer_group_members.reconcile`) and answers at once. The answer's
  *generation* is the member's epoch, and the member is never the leader: nobody in a consumer
  group runs a client assignor.
* **SyncGroup** carries no plan; it answers the member's current assignment, encoded as the
  consumer protocol's assignment.
* **Heartbeat** answers REBALANCE_IN_PROGRESS, which makes the client rejoin, whenever a JoinGroup
  would move it on: the group epoch is ahead of the member's, it has partitions to revoke, or
  partitions it waits for were released. So a classic member catches up one rejoin at a time,
  and no partition has two owners at once, as for the consumer protocol's members.
* **LeaveGroup** removes the member, as a leaving heartbeat does.

Deadlines: a classic member's session is its JoinGroup's session timeout; once told to rejoin it
must send JoinGroup within its rebalance timeout, and after a JoinGroup its SyncGroup, or it is
removed (Kafka's join and sync timeouts).

Thread safety: as :class:`~pcmodel.topics.consumer_group.ConsumerGroup`, called with the
broker's lock held.

Prior art: Kafka's ``GroupMetadataManager.classicGroupJoinToConsumerGroup``,
``classicGroupSyncToConsumerGroup``, ``classicGroupHeartbeatToConsumerGroup``,
``classicGroupLeaveToConsumerGroup`` and ``ConsumerGroup.supportsClassicProtocols``.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping, Sequence

from pcmodel.topics.consumer_group_errors import GroupMaxSizeReachedError
from pcmodel.topics.consumer_group_members import (
    ClassicMetadata,
    ConsumerGroupMember,
    MemberState,
)
from pcmodel.topics.consumer_protocol import (
    PROTOCOL_TYPE,
    Subscription,
    decode_subscription,
    encode_assignment,
)
from pcmodel.topics.errors import (
    FencedInstanceIdError,
    IllegalGenerationError,
    InconsistentGroupProtocolError,
    MemberIdRequiredError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from pcmodel.topics.group_answers import HeartbeatStatus, JoinResult, SyncResult
from pcmodel.topics.structs import TopicPartition

__all__ = ["ClassicMembersMixin", "encode_member_assignment"]


def encode_member_assignment(assigned: Mapping[str, frozenset[int]],
                             protocols: Sequence[tuple[str, bytes]]) -> bytes:
    """A consumer protocol assignment of ``assigned``, in the version of the member's first
    subscription (Kafka's ``prepareAssignment``; every version has the same fields)."""
    partitions = [TopicPartition(t, p) for t, ps in sorted(assigned.items()) for p in sorted(ps)]
    encoded = encode_assignment(partitions)
    try:
        version = struct.unpack_from(">h", protocols[0][1])[0] if protocols else 1
    except struct.error:
        version = 1
    return struct.pack(">h", max(0, min(version, 3))) + encoded[2:]


def read_subscription(group_id: str, protocols: Sequence[tuple[str, bytes]]) -> Subscription:
    """The subscription a classic consumer sent (every protocol carries the same one);
    ``InconsistentGroupProtocolError`` when its bytes are not a consumer subscription."""
    try:
        return decode_subscription(protocols[0][1])
    except (ValueError, IndexError, struct.error):
        raise InconsistentGroupProtocolError(
            f"the JoinGroup metadata is not a consumer subscription: group {group_id!r} is a "
            "consumer group, which reads its members' subscriptions; join with a Kafka "
            "consumer's metadata") from None


class ClassicMembersMixin:
    """JoinGroup, SyncGroup, Heartbeat and LeaveGroup of classic members (ConsumerGroup part)."""

    # --- who speaks which protocol ----------------------------------------------------------

    def only_classic_members_but(self, member_id: str) -> bool:
        """Kafka's ``allMembersUseClassicProtocolExcept``: ``member_id`` speaks the consumer
        protocol and every other member (there is one at least) the classic one."""
        member = self.members.get(member_id)
        others = [m for mid, m in self.members.items() if mid != member_id]
        return member is not None and not member.uses_classic_protocol and bool(others) and \
            all(m.uses_classic_protocol for m in others)

    def supports_classic_protocols(self, protocol_type: str, names: set[str]) -> bool:
        """Kafka's ``supportsClassicProtocols``: a consumer's protocol type, and (when the group
        has members) an assignor name every classic member offered too."""
        if protocol_type != PROTOCOL_TYPE:
            return False
        classic = [m for m in self.members.values() if m.uses_classic_protocol]
        if not self.members:
            return bool(names)
        return any(all(name in dict(m.classic.protocols) for m in classic) for name in names)

    def waiting_on_unreleased_partition(self, member: ConsumerGroupMember) -> bool:
        """Whether a partition of the member's target is still held by another member."""
        if member.state is not MemberState.UNRELEASED_PARTITIONS:
            return False
        target = self.target.get(member.member_id, {})
        return any(p not in member.assigned.get(t, frozenset()) and self.owner_epoch(t, p) != -1
                   for t, ps in target.items() for p in ps)

    # --- JoinGroup, SyncGroup, Heartbeat, LeaveGroup ----------------------------------------

    def classic_join(
        self, member_id: str, *, protocol_type: str, protocols: Sequence[tuple[str, bytes]],
        session_timeout_ms: int, rebalance_timeout_ms: int, topics: Mapping[str, int],
        now: float, instance_id: str | None = None, client_id: str = "",
        client_host: str = "", require_known_member_id: bool = False,
    ) -> JoinResult:
        """A classic member's JoinGroup (see the module docstring); answers at once.

        Raises ``GroupMaxSizeReachedError``, ``InconsistentGroupProtocolError`` (not a
        consumer, no assignor in common with the classic members, or metadata that is no
        consumer subscription), ``MemberIdRequiredError`` (a new dynamic member with
        ``require_known_member_id``: join again with its id), ``UnknownMemberIdError`` and
        ``FencedInstanceIdError`` (a static member's id is not the one holding its instance
        id); nothing changes then.
        """
        protocols = tuple((str(name), bytes(data)) for name, data in protocols)
        unknown = member_id == ""
        if unknown:
            member_id = str(uuid.uuid4())
        if self.max_size is not None and len(self.members) >= self.max_size and \
                member_id not in self.members:
            raise GroupMaxSizeReachedError(
                f"The consumer group has reached its maximum capacity of {self.max_size} "
                "members.")
        if not self.supports_classic_protocols(protocol_type, {n for n, _ in protocols}):
            raise InconsistentGroupProtocolError(
                f"Member {member_id}'s protocols are not supported: group {self.group_id!r} "
                f"needs protocol type {PROTOCOL_TYPE!r} and an assignor every classic member "
                "offers.")
        if unknown and instance_id is None and require_known_member_id:
            raise MemberIdRequiredError("join again with the member id this error carries",
                                        member_id=member_id)
        subscription = read_subscription(self.group_id, protocols)
        old, replaced = self._classic_member_for(member_id, instance_id, unknown)
        # Kafka's validateOnlineDowngradeWithReplacedMemberId: it replaces the last member
        # that speaks the consumer protocol.
        last_consumer = replaced is not None and self.only_classic_members_but(replaced)
        member = old.copy(
            member_id=member_id, instance_id=instance_id if instance_id is not None
            else old.instance_id, rack_id=subscription.rack_id or old.rack_id,
            rebalance_timeout_ms=rebalance_timeout_ms,
            subscribed_topic_names=tuple(sorted(set(subscription.topics))),
            client_id=client_id, client_host=client_host,
            classic=ClassicMetadata(session_timeout_ms, protocols))
        owned: dict[str, set[int]] = {}
        for tp in subscription.owned_partitions:
            owned.setdefault(tp.topic, set()).add(tp.partition)
        updated = self._update(old, member, replaced, topics, owned, now)
        self.session_deadlines[member_id] = now + session_timeout_ms / 1000
        self.join_deadlines.pop(member_id, None)
        self.sync_deadlines[member_id] = now + rebalance_timeout_ms / 1000
        if last_consumer and self.downgrade is not None:
            self.downgrade(self, None)  # a classic group, Stable, the replaced one's partitions
        return JoinResult(member_id, updated.member_epoch, PROTOCOL_TYPE, protocols[0][0],
                          "", ())

    def _classic_member_for(self, member_id: str, instance_id: str | None,
                            unknown: bool) -> tuple[ConsumerGroupMember, str | None]:
        """Kafka's ``getOrMaybeSubscribe*ConsumerGroupMember`` for a JoinGroup: the member (new
        if need be), and the static member it replaces."""
        if instance_id is None:
            return self.members.get(member_id) or ConsumerGroupMember(member_id), None
        existing_id = self.static_members.get(instance_id)
        if unknown:
            if existing_id is None:
                return ConsumerGroupMember(member_id), None
            back = self.members[existing_id].copy(member_id=member_id, member_epoch=0,
                                                  previous_member_epoch=0)
            return back, existing_id
        self._static_member(member_id, instance_id)
        return self.members[member_id], None

    def _static_member(self, member_id: str, instance_id: str) -> ConsumerGroupMember:
        existing_id = self.static_members.get(instance_id)
        if existing_id is None:
            raise UnknownMemberIdError(f"Member with instance id {instance_id} is not a member "
                                       f"of group {self.group_id}.")
        if member_id and existing_id != member_id:
            raise FencedInstanceIdError(
                f"Static member {member_id} with instance id {instance_id} was fenced by "
                f"member {existing_id}.")
        return self.members[existing_id]

    def _classic_member(self, member_id: str, instance_id: str | None) -> ConsumerGroupMember:
        """Kafka's ``validateConsumerGroupMember``, ``throwIfMemberDoesNotUseClassicProtocol``."""
        member = self.members.get(member_id) if instance_id is None else \
            self._static_member(member_id, instance_id)
        if member is None:
            raise UnknownMemberIdError(
                f"Member {member_id} is not a member of group {self.group_id}.")
        if not member.uses_classic_protocol:
            raise UnknownMemberIdError(
                f"Member {member.member_id} does not use the classic protocol.")
        return member

    @staticmethod
    def _check_generation(member: ConsumerGroupMember, generation: int) -> None:
        if generation != member.member_epoch:
            raise IllegalGenerationError(
                f"The request generation id {generation} is not equal to the member epoch "
                f"{member.member_epoch} of member {member.member_id}.")

    def _must_rejoin(self, member: ConsumerGroupMember, now: float) -> bool:
        """Whether a JoinGroup would move the member on; if so its join deadline starts."""
        rejoin = member.member_epoch < self.group_epoch or \
            member.state is MemberState.UNREVOKED_PARTITIONS or (
                member.state is MemberState.UNRELEASED_PARTITIONS
                and not self.waiting_on_unreleased_partition(member))
        if rejoin:
            self.join_deadlines.setdefault(
                member.member_id, now + max(member.rebalance_timeout_ms, 0) / 1000)
        return rejoin

    def classic_sync(self, member_id: str, generation: int, *, now: float,
                     protocol_type: str | None = None, protocol: str | None = None,
                     instance_id: str | None = None) -> SyncResult:
        """A classic member's SyncGroup: its current assignment, at once. Raises
        ``UnknownMemberIdError``, ``FencedInstanceIdError``, ``IllegalGenerationError``,
        ``InconsistentGroupProtocolError`` (a type or assignor that is not the member's) and
        ``RebalanceInProgressError`` (the group epoch moved on: join again)."""
        member = self._classic_member(member_id, instance_id)
        self._check_generation(member, generation)
        name = member.classic.protocols[0][0]
        if (protocol_type is not None and protocol_type != PROTOCOL_TYPE) or \
                (protocol is not None and protocol != name):
            raise InconsistentGroupProtocolError(
                f"sync for protocol {protocol_type}/{protocol}, but member {member_id} joined "
                f"with {PROTOCOL_TYPE}/{name}")
        if self.group_epoch > member.member_epoch and \
                member.state is not MemberState.UNREVOKED_PARTITIONS:
            self.join_deadlines.setdefault(
                member.member_id, now + max(member.rebalance_timeout_ms, 0) / 1000)
            raise RebalanceInProgressError(
                f"A new rebalance is triggered in group {self.group_id} and member "
                f"{member.member_id} should rejoin to catch up.")
        self.sync_deadlines.pop(member.member_id, None)
        self.session_deadlines[member.member_id] = \
            now + member.classic.session_timeout_ms / 1000
        return SyncResult(PROTOCOL_TYPE, name,
                          encode_member_assignment(member.assigned, member.classic.protocols))

    def classic_heartbeat(self, member_id: str, generation: int, *, now: float,
                          instance_id: str | None = None) -> HeartbeatStatus:
        """A classic member's Heartbeat: ``REBALANCE_IN_PROGRESS`` when a JoinGroup would move
        it on, ``UNKNOWN_MEMBER``, ``FENCED_INSTANCE_ID`` or ``ILLEGAL_GENERATION``."""
        try:
            member = self._classic_member(member_id, instance_id)
            self._check_generation(member, generation)
        except FencedInstanceIdError:
            return HeartbeatStatus.FENCED_INSTANCE_ID
        except UnknownMemberIdError:
            return HeartbeatStatus.UNKNOWN_MEMBER
        except IllegalGenerationError:
            return HeartbeatStatus.ILLEGAL_GENERATION
        self.session_deadlines[member.member_id] = \
            now + member.classic.session_timeout_ms / 1000
        if self._must_rejoin(member, now):
            return HeartbeatStatus.REBALANCE_IN_PROGRESS
        return HeartbeatStatus.OK

    def classic_leave(self, member_id: str, instance_id: str | None = None) -> None:
        """A classic member's LeaveGroup (``member_id=""`` with an instance id: an
        administrator removes the static member holding it). Raises ``UnknownMemberIdError``
        and ``FencedInstanceIdError``."""
        member = self._classic_member(member_id, instance_id)
        self.fence(member.member_id)
