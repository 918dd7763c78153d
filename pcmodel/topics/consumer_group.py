"""Kafka 4's consumer group protocol (KIP-848): one state machine per group, driven by heartbeats.

In the classic protocol (:mod:`pcmodel.topics.coordinator`) a rebalance is a barrier: every
member stops, rejoins, and a client leader assigns. In Kafka 4's *consumer* groups there is one
request, **ConsumerGroupHeartbeat**, sent every ``heartbeat_interval_ms``; the coordinator
assigns, and each member moves to its new assignment on its own, without waiting for the others.
Three epochs tell where everybody is:

* the **group epoch** goes up whenever what must be assigned changes: a member joins, leaves, is
  removed or changes its subscription, or a subscribed topic is created, deleted or grows;
* the **assignment epoch** is the group epoch the *target assignment* was computed for. A
  heartbeat that finds the group epoch ahead runs the assignor (``uniform`` or ``range``,
  :mod:`pcmodel.topics.consumer_group_assignors`) over every member at once;
* each member's **member epoch** says which target assignment it has caught up with. Its
  heartbeats move it there one safe step at a time (:func:`~pcmodel.topics.consumer_group_members
  .reconcile`): revoke first, then take partitions once their old owner let them go.

A heartbeat's member epoch means: ``0`` join (the member id is the client's; v0 clients may send
``""`` and get one), ``-1`` leave, ``-2`` a static member (``group.instance.id``) leaves for a
while and keeps its partitions for its return, ``> 0`` I am at this epoch. A member whose
epoch is not the coordinator's is answered FENCED_MEMBER_EPOCH (it must drop its partitions and
rejoin), except one answer behind with a subset of its partitions (the answer was lost). A
fenced member rejoins with ``0`` and its member id, and is taken back at once (Kafka refused
that until KAFKA-19233, and the member stayed out until its session ended).

Liveness: a member silent for the session timeout (``group.consumer.session.timeout.ms``, 45 s)
is removed, and so is one that does not revoke partitions within its rebalance timeout (the
consumer's ``max.poll.interval.ms``). Removing a member raises the group epoch, so the others'
next heartbeats reassign its partitions. The coordinator has no thread: every call first
expires what is due by the broker's clock (:meth:`ConsumerGroup.expire`), as
:mod:`pcmodel.topics.coordinator` does.

States (Kafka's ``ConsumerGroupState``): ``Empty`` (no member), ``Assigning`` (the group epoch
is ahead of the target assignment), ``Reconciling`` (some member has not caught up with the
target), ``Stable``; and ``Dead`` once deleted.

Differences from Kafka 4.0, deliberate: topics are known by name here (the wire layer maps them
to and from the topic ids the broker drew when it created them,
:meth:`~pcmodel.topics.broker_topics.TopicAdminMixin.topic_ids`); a subscription regex
(``SubscribedTopicRegex``) is a Python ``re`` pattern matched in full (Kafka uses RE2/J, whose
syntax is close: no backreferences or lookaround there), resolved at each heartbeat rather than
in the background, and never to one of Kafka's internal topics
(:func:`~pcmodel.topics.topic_settings.is_internal_topic`, an exact set: a user's ``__audit``
is matched), as the Java consumer leaves them out of a pattern by default
(``exclude.internal.topics``), where Kafka's broker, resolving a regex, skips none. Committed
offsets are the broker's, as for classic groups (:mod:`pcmodel.topics.broker_consumer_groups`).

Classic members: a consumer group may also hold members that speak the classic protocol
(JoinGroup, SyncGroup, Heartbeat), served from the same target assignment
(:mod:`pcmodel.topics.consumer_group_classic`), and a group moves online between the two
protocols, classic to consumer when a ConsumerGroupHeartbeat joins it and back when its last
consumer-protocol member leaves (:mod:`pcmodel.topics.group_migration`, Kafka's
``group.consumer.migration.policy``).

Thread safety: every method is called with the broker's lock held.

Prior art: Kafka's ``GroupMetadataManager.consumerGroupHeartbeat``, ``ConsumerGroup``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pcmodel.topics.consumer_group_assignors import ASSIGNORS, DEFAULT_ASSIGNOR, MemberSpec
from pcmodel.topics.consumer_group_classic import ClassicMembersMixin
from pcmodel.topics.consumer_group_errors import (
    FencedMemberEpochError,
    GroupMaxSizeReachedError,
    InvalidRegularExpressionError,
    UnreleasedInstanceIdError,
    UnsupportedAssignorError,
)
from pcmodel.topics.consumer_group_members import (
    Assignment,
    ConsumerGroupMember,
    MemberState,
    reconcile,
)
from pcmodel.topics.consumer_group_offsets import ConsumerGroupOffsetsMixin
from pcmodel.topics.errors import (
    FencedInstanceIdError,
    GroupIdNotFoundError,
    InvalidRequestError,
    UnknownMemberIdError,
)
from pcmodel.topics.topic_settings import is_internal_topic

if TYPE_CHECKING:
    from pcmodel.topics.group_migration import GroupMigrationMixin

__all__ = [
    "LEAVE_GROUP_MEMBER_EPOCH",
    "LEAVE_GROUP_STATIC_MEMBER_EPOCH",
    "ConsumerGroup",
    "HeartbeatAnswer",
    "validate_heartbeat",
]

#: The member epoch of a heartbeat that leaves the group.
LEAVE_GROUP_MEMBER_EPOCH = -1
#: The member epoch of a static member leaving for a while (it keeps its partitions).
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2

@dataclass(frozen=True)
class HeartbeatAnswer:
    """A ConsumerGroupHeartbeat's answer: the member's id and epoch, how often to heartbeat,
    and its assignment, or ``None`` when it did not change (and was not asked for)."""

    member_id: str
    member_epoch: int
    heartbeat_interval_ms: int
    assignment: Assignment | None


def validate_heartbeat(group_id: str, member_id: str, member_epoch: int,
                       instance_id: str | None, rack_id: str | None,
                       rebalance_timeout_ms: int, topic_names: Sequence[str] | None,
                       regex: str | None, assignor: str | None,
                       owned: Mapping[str, set[int]] | None) -> None:
    """Kafka's ``throwIfConsumerGroupHeartbeatRequestIsInvalid``: raise
    ``InvalidRequestError`` naming the malformed field, ``UnsupportedAssignorError`` for an
    assignor the broker does not have, ``InvalidRegularExpressionError`` for a regex that
    does not compile."""
    def invalid(text: str) -> InvalidRequestError:
        return InvalidRequestError(text)

    for name, value in (("GroupId", group_id), ("InstanceId", instance_id),
                        ("RackId", rack_id)):
        if value is not None and not value.strip():
            raise invalid(f"{name} can't be empty.")
    if member_epoch > 0 or member_epoch == LEAVE_GROUP_MEMBER_EPOCH:
        if not member_id.strip():
            raise invalid("MemberId can't be empty.")
    elif member_epoch == 0:
        if rebalance_timeout_ms == -1:
            raise invalid("RebalanceTimeoutMs must be provided in first request.")
        if owned is None or owned:
            raise invalid("TopicPartitions must be empty when (re-)joining.")
        if not topic_names and regex is None:
            raise invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first "
                          "request.")
    elif member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
        if not member_id.strip():
            raise invalid("MemberId can't be empty.")
        if instance_id is None:
            raise invalid("InstanceId can't be null.")
    else:
        raise invalid("MemberEpoch is invalid.")
    if assignor is not None and assignor not in ASSIGNORS:
        raise UnsupportedAssignorError(
            f"ServerAssignor {assignor} is not supported. Supported assignors: "
            f"{', '.join(ASSIGNORS)}.")
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            raise InvalidRegularExpressionError(f"SubscribedTopicRegex {regex!r} is not a "
                                                f"valid regular expression: {exc}") from None


class ConsumerGroup(ClassicMembersMixin, ConsumerGroupOffsetsMixin):
    """One consumer group's members, epochs and assignments (see the module docstring).

    ``session_timeout_ms`` and ``heartbeat_interval_ms`` are the group's (Kafka's
    ``group.consumer.*`` settings); ``max_size`` bounds its members (``None``: no bound).
    """

    def __init__(self, group_id: str, *, session_timeout_ms: int = 45_000,
                 heartbeat_interval_ms: int = 5_000, max_size: int | None = None) -> None:
        self.group_id = group_id
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.max_size = max_size
        self.members: dict[str, ConsumerGroupMember] = {}
        #: instance id -> member id of the static members.
        self.static_members: dict[str, str] = {}
        self.group_epoch = 0
        self.assignment_epoch = 0
        #: member id -> its target assignment at ``assignment_epoch``.
        self.target: dict[str, Assignment] = {}
        #: The subscribed topics that exist, with their partition counts, at the group epoch.
        self.subscription_metadata: dict[str, int] = {}
        self.session_deadlines: dict[str, float] = {}
        #: member id -> (the epoch it must revoke at, the moment it is removed if it has not).
        self.revocation_deadlines: dict[str, tuple[int, float]] = {}
        #: Classic members' deadlines to send JoinGroup (once told to rejoin) and SyncGroup.
        self.join_deadlines: dict[str, float] = {}
        self.sync_deadlines: dict[str, float] = {}
        #: The broker's hook that may turn the group into a classic group when its last
        #: consumer-protocol member goes: leaving (its id), or replaced by a classic static
        #: member (``None``); it returns whether it did.
        self.downgrade: Callable[[ConsumerGroup, str | None], bool] | None = None
        #: The classic group it became (:mod:`pcmodel.topics.group_migration`); it has no
        #: members any more then.
        self.classic_group: GroupMigrationMixin | None = None
        self.dead = False

    @property
    def converted(self) -> bool:
        """Whether the group became a classic group (and is out of the broker's table)."""
        return self.classic_group is not None

    # --- what the group looks like --------------------------------------------------------

    @property
    def state(self) -> str:
        """Kafka's ``ConsumerGroupState`` name: Empty, Assigning, Reconciling, Stable, Dead."""
        if self.dead:
            return "Dead"
        if not self.members:
            return "Empty"
        if self.group_epoch > self.assignment_epoch:
            return "Assigning"
        if any(not m.is_reconciled_to(self.assignment_epoch) for m in self.members.values()):
            return "Reconciling"
        return "Stable"

    def assignor_name(self) -> str:
        """Kafka's ``computePreferredServerAssignor``: the assignor most members name."""
        votes: dict[str, int] = {}
        for member in self.members.values():
            if member.server_assignor is not None:
                votes[member.server_assignor] = votes.get(member.server_assignor, 0) + 1
        return max(sorted(votes), key=lambda a: votes[a]) if votes else DEFAULT_ASSIGNOR

    def subscribed_topics(self, topics: Mapping[str, int] | None = None) -> set[str]:
        """The topics some member subscribes to: by name, and by regex among ``topics``."""
        names: set[str] = set()
        for member in self.members.values():
            names |= self._member_topics(member, topics or {})
        return names

    def owner_epoch(self, topic: str, partition: int) -> int:
        """Kafka's ``currentPartitionEpoch``: the epoch of the member holding the partition
        (assigned or still to revoke), ``-1`` when nobody does."""
        for member in self.members.values():
            if partition in member.owns().get(topic, ()):
                return member.member_epoch
        return -1

    # --- the heartbeat ----------------------------------------------------------------------

    def heartbeat(
        self, member_id: str, member_epoch: int, *, topics: Mapping[str, int], now: float,
        instance_id: str | None = None, rack_id: str | None = None,
        rebalance_timeout_ms: int = -1, topic_names: Sequence[str] | None = None,
        regex: str | None = None, assignor: str | None = None,
        owned: Mapping[str, set[int]] | None = None, client_id: str = "",
        client_host: str = "",
    ) -> HeartbeatAnswer:
        """One ConsumerGroupHeartbeat (checked by :func:`validate_heartbeat` first).

        ``topics`` are the broker's topics and partition counts now; ``owned`` what the member
        says it owns (``None``: unchanged since its last heartbeat). Returns at once. Raises
        ``GroupMaxSizeReachedError``, ``UnknownMemberIdError``, ``FencedMemberEpochError``,
        ``UnreleasedInstanceIdError``, ``FencedInstanceIdError`` (Kafka's checks, in order);
        nothing changes then.
        """
        if member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
            return self._leave(member_id, member_epoch, instance_id)
        joining = member_epoch == 0
        if self.max_size is not None and len(self.members) >= self.max_size and (
                not member_id or member_id not in self.members):
            raise GroupMaxSizeReachedError(
                f"The consumer group has reached its maximum capacity of {self.max_size} "
                "members.")
        if not member_id:
            member_id = str(uuid.uuid4())
        old, replaced = self._member_for(member_id, member_epoch, instance_id, owned, joining)
        # A member sending this heartbeat speaks the consumer protocol from now on.
        changes: dict[str, object] = {"client_id": client_id, "client_host": client_host,
                                      "classic": None}
        for name, value in (("instance_id", instance_id), ("rack_id", rack_id),
                            ("server_assignor", assignor), ("subscribed_topic_regex", regex)):
            if value is not None:
                changes[name] = value
        if rebalance_timeout_ms != -1:
            changes["rebalance_timeout_ms"] = rebalance_timeout_ms
        if topic_names is not None:
            changes["subscribed_topic_names"] = tuple(sorted(set(topic_names)))
        updated = self._update(old, old.copy(**changes), replaced, topics, owned, now)
        self.session_deadlines[member_id] = now + self.session_timeout_ms / 1000
        full = joining or (rebalance_timeout_ms != -1 and topic_names is not None
                           and owned is not None)
        changed = updated.assigned != old.assigned or replaced is not None
        return HeartbeatAnswer(member_id, updated.member_epoch, self.heartbeat_interval_ms,
                               dict(updated.assigned) if full or changed else None)

    def _update(self, old: ConsumerGroupMember, member: ConsumerGroupMember,
                replaced: str | None, topics: Mapping[str, int],
                owned: Mapping[str, set[int]] | None, now: float) -> ConsumerGroupMember:
        """Store ``member`` (in the place of the static member ``replaced``), bump the group
        epoch if what must be assigned changed, compute the target assignment if it is behind,
        and move the member towards it: steps 1-3 of Kafka's heartbeat, shared by
        ConsumerGroupHeartbeat and a classic member's JoinGroup."""
        member_id = member.member_id
        bump = (member.subscribed_topic_names != old.subscribed_topic_names
                or member.subscribed_topic_regex != old.subscribed_topic_regex)
        if replaced is not None:  # a static member back under a new id takes its old place
            self._remove(replaced)
            self.target[member_id] = self.target.pop(replaced, {})
            self.static_members[member.instance_id] = member_id
        elif member.instance_id is not None:
            self.static_members[member.instance_id] = member_id
        self.members[member_id] = member
        metadata = {t: topics[t] for t in sorted(self.subscribed_topics(topics)) if t in topics}
        if bump or metadata != self.subscription_metadata:
            self.subscription_metadata = metadata
            self.group_epoch += 1
        if self.group_epoch > self.assignment_epoch:
            self._assign(topics)
        return self._reconcile(member, owned, now)

    def _member_for(self, member_id: str, epoch: int, instance_id: str | None,
                    owned: Mapping[str, set[int]] | None,
                    joining: bool) -> tuple[ConsumerGroupMember, str | None]:
        """The member the heartbeat is from (a new one when joining), and the id of a static
        member it replaces; Kafka's ``getOrMaybeSubscribe*ConsumerGroupMember``."""
        if instance_id is None:
            member = self.members.get(member_id)
            if member is None:
                if not joining:
                    raise UnknownMemberIdError(
                        f"Member {member_id} is not a member of group {self.group_id}.")
                return ConsumerGroupMember(member_id), None
            self._check_epoch(member, epoch, owned)
            return member, None
        existing_id = self.static_members.get(instance_id)
        existing = None if existing_id is None else self.members[existing_id]
        if joining:
            if existing is None:
                return self.members.get(member_id) or ConsumerGroupMember(member_id), None
            if existing.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH and \
                    not existing.uses_classic_protocol:  # a classic one is replaced at once
                raise UnreleasedInstanceIdError(
                    f"Static member {member_id} with instance id {instance_id} cannot join the "
                    f"group because the instance id is owned by {existing.member_id} member.")
            back = existing.copy(member_id=member_id, member_epoch=0, previous_member_epoch=0)
            return back, (existing.member_id if existing.member_id != member_id else None)
        if existing is None:
            raise UnknownMemberIdError(f"Instance id {instance_id} is unknown.")
        if existing.member_id != member_id:
            raise FencedInstanceIdError(
                f"Static member {member_id} with instance id {instance_id} was fenced by "
                f"member {existing.member_id}.")
        self._check_epoch(existing, epoch, owned)
        return existing, None

    @staticmethod
    def _check_epoch(member: ConsumerGroupMember, epoch: int,
                     owned: Mapping[str, set[int]] | None) -> None:
        """Kafka's ``throwIfConsumerGroupMemberEpochIsInvalid``."""
        if epoch == 0:
            # A rejoin: the member owns nothing now (a join lists no partitions), so it
            # is reconciled from where the coordinator has it.
            return
        if epoch > member.member_epoch:
            raise FencedMemberEpochError(
                f"The consumer group member has a greater member epoch ({epoch}) than the one "
                f"known by the group coordinator ({member.member_epoch}). The member must "
                "abandon all its partitions and rejoin.")
        if epoch < member.member_epoch:
            # One answer behind, owning a subset of its partitions: that answer was lost.
            subset = owned is not None and all(
                set(ps) <= member.assigned.get(t, frozenset()) for t, ps in owned.items())
            if epoch != member.previous_member_epoch or not subset:
                raise FencedMemberEpochError(
                    f"The consumer group member has a smaller member epoch ({epoch}) than the "
                    f"one known by the group coordinator ({member.member_epoch}). The member "
                    "must abandon all its partitions and rejoin.")

    def _assign(self, topics: Mapping[str, int]) -> None:
        """Compute the target assignment of every member at the group epoch."""
        specs = {
            m.member_id: MemberSpec(frozenset(t for t in self._member_topics(m, topics)
                                              if t in self.subscription_metadata),
                                    m.instance_id)
            for m in self.members.values()
        }
        assign = ASSIGNORS[self.assignor_name()]
        self.target = assign(specs, self.subscription_metadata, self.target)
        self.assignment_epoch = self.group_epoch

    def _reconcile(self, member: ConsumerGroupMember, owned: Mapping[str, set[int]] | None,
                   now: float) -> ConsumerGroupMember:
        """Kafka's ``maybeReconcile``: move the member towards its target; start (or stop)
        the clock of its revocation."""
        if member.is_reconciled_to(self.assignment_epoch):
            return member
        updated = reconcile(member, self.assignment_epoch,
                            self.target.get(member.member_id, {}), self.owner_epoch, owned)
        if updated is not member:
            self.members[member.member_id] = updated
            # A classic member's deadlines are to join and to sync instead
            # (:mod:`pcmodel.topics.consumer_group_classic`).
            if updated.state is MemberState.UNREVOKED_PARTITIONS and \
                    not updated.uses_classic_protocol:
                timeout = max(updated.rebalance_timeout_ms, 0) / 1000
                self.revocation_deadlines[member.member_id] = (updated.member_epoch,
                                                               now + timeout)
            else:
                self.revocation_deadlines.pop(member.member_id, None)
        return updated

    def _member_topics(self, member: ConsumerGroupMember, topics: Mapping[str, int]) -> set[str]:
        names = set(member.subscribed_topic_names)
        if member.subscribed_topic_regex is not None:
            pattern = re.compile(member.subscribed_topic_regex)
            names |= {t for t in topics if not is_internal_topic(t) and pattern.fullmatch(t)}
        return names

    # --- leaving, expiring ------------------------------------------------------------------

    def _leave(self, member_id: str, epoch: int, instance_id: str | None) -> HeartbeatAnswer:
        """Kafka's ``consumerGroupLeave``."""
        if instance_id is None:
            member = self.members.get(member_id)
            if member is None:
                raise UnknownMemberIdError(
                    f"Member {member_id} is not a member of group {self.group_id}.")
        else:
            existing_id = self.static_members.get(instance_id)
            if existing_id is None:
                raise UnknownMemberIdError(f"Instance id {instance_id} is unknown.")
            if existing_id != member_id:
                raise FencedInstanceIdError(
                    f"Static member {member_id} with instance id {instance_id} was fenced by "
                    f"member {existing_id}.")
            member = self.members[existing_id]
            if epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                # It keeps its place and partitions until it returns or its session ends.
                self.members[member_id] = member.copy(
                    member_epoch=LEAVE_GROUP_STATIC_MEMBER_EPOCH, pending_revocation={})
                self.revocation_deadlines.pop(member_id, None)
                return HeartbeatAnswer(member_id, epoch, 0, None)
        self.fence(member.member_id)
        return HeartbeatAnswer(member_id, epoch, 0, None)

    def fence(self, member_id: str) -> None:
        """Remove the member: its partitions are free, and the group epoch goes up so the
        others' next heartbeats reassign them (Kafka's ``consumerGroupFenceMember``). When it
        is the last member speaking the consumer protocol and classic members remain, the
        broker may turn the group into a classic one instead (``downgrade``, see
        :mod:`pcmodel.topics.group_migration`): then this group is left empty."""
        if self.downgrade is not None and self.only_classic_members_but(member_id) and \
                self.downgrade(self, member_id):
            return
        self._remove(member_id)
        self.target.pop(member_id, None)
        self.subscription_metadata = {t: n for t, n in self.subscription_metadata.items()
                                      if t in self.subscribed_topics(self.subscription_metadata)}
        self.group_epoch += 1

    def _remove(self, member_id: str) -> None:
        member = self.members.pop(member_id)
        if member.instance_id is not None and \
                self.static_members.get(member.instance_id) == member_id:
            del self.static_members[member.instance_id]
        self.session_deadlines.pop(member_id, None)
        self.revocation_deadlines.pop(member_id, None)
        self.join_deadlines.pop(member_id, None)
        self.sync_deadlines.pop(member_id, None)

    def expire(self, now: float) -> list[str]:
        """Remove the members whose session ended, whose revocation took longer than their
        rebalance timeout, or (classic members) that did not join or sync in time; return
        their ids. Removing the last consumer-protocol member may downgrade the group
        (:meth:`fence`)."""
        gone = [m for m, deadline in self.session_deadlines.items() if now >= deadline]
        # A classic member told to rejoin must join, and once joined sync, within its
        # rebalance timeout (Kafka's join and sync timeouts).
        for deadlines in (self.join_deadlines, self.sync_deadlines):
            gone += [m for m, deadline in deadlines.items() if now >= deadline and m not in gone]
        for member_id, (epoch, deadline) in self.revocation_deadlines.items():
            member = self.members.get(member_id)
            if member_id not in gone and now >= deadline and member is not None and \
                    member.state is MemberState.UNREVOKED_PARTITIONS and \
                    member.member_epoch == epoch:
                gone.append(member_id)
        for member_id in gone:
            if member_id in self.members:
                self.fence(member_id)
        return gone

    def check_exists(self) -> None:
        """Raise ``GroupIdNotFoundError`` once the group was deleted."""
        if self.dead:
            raise GroupIdNotFoundError(f"Consumer group {self.group_id} not found.")
