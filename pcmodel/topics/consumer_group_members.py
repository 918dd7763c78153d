"""A member of a Kafka 4 consumer group, and how it is reconciled with its target assignment.

This is Kafka's ``ConsumerGroupMember`` and ``CurrentAssignmentBuilder``
(group-coordinator/.../modern/consumer/), the heart of KIP-848's incremental rebalance. The
coordinator keeps, for each member, two assignments:

* the **target** assignment: what the assignor decided the member should own at the group's
  assignment epoch (:mod:`pcmodel.topics.consumer_group_assignors`);
* the **current** assignment: what the member was told it owns (``assigned``), plus what it was
  asked to give up (``pending_revocation``), at its **member epoch**.

Each heartbeat moves the current assignment one safe step towards the target
(:func:`reconcile`), in the states of :class:`MemberState`:

1. Partitions the member owns that are not in its target must go first. The member stays at its
   epoch in ``UNREVOKED_PARTITIONS`` and is told its smaller assignment; it stops fetching them,
   commits, and says in a later heartbeat (its *owned partitions*) that it no longer owns them.
   Only then does it move on, to its epoch + 1 and then towards the target.
2. A partition of its target that another member still holds (it is in that member's
   ``assigned`` or ``pending_revocation``) is *unreleased*: it is withheld, the member moves to
   the target epoch in ``UNRELEASED_PARTITIONS``, and gets the partition on a later heartbeat,
   once its old owner revoked it. So **no partition ever has two owners at once**.
3. Otherwise the member takes its whole target and the target epoch: ``STABLE``.

A member that does not revoke within its rebalance timeout is removed from the group
(:mod:`pcmodel.topics.consumer_group`), which releases its partitions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["Assignment", "ClassicMetadata", "ConsumerGroupMember", "MemberState", "reconcile"]

#: A set of partitions by topic name.
Assignment = dict[str, frozenset[int]]


class MemberState(Enum):
    """Where a member is in its reconciliation (Kafka's ``MemberState``)."""

    STABLE = "stable"
    UNREVOKED_PARTITIONS = "unrevoked_partitions"
    UNRELEASED_PARTITIONS = "unreleased_partitions"


@dataclass(frozen=True)
class ClassicMetadata:
    """What a member speaking the classic protocol (JoinGroup, SyncGroup, Heartbeat) said in
    its last JoinGroup: its session timeout and its ``(assignor name, subscription bytes)``
    pairs in order of preference (Kafka's ``ClassicMemberMetadata``)."""

    session_timeout_ms: int
    protocols: tuple[tuple[str, bytes], ...]


@dataclass
class ConsumerGroupMember:
    """One member: who it is, what it subscribes to, what it owns and at which epoch."""

    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    #: How long it may take to revoke partitions (ms); -1 until its first heartbeat says.
    rebalance_timeout_ms: int = -1
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    state: MemberState = MemberState.STABLE
    member_epoch: int = 0
    previous_member_epoch: int = 0
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    #: Set for a member of a classic group that became a consumer group, or a classic
    #: consumer that joined one (see :mod:`pcmodel.topics.consumer_group_classic`).
    classic: ClassicMetadata | None = None

    @property
    def uses_classic_protocol(self) -> bool:
        """Whether the member speaks JoinGroup/SyncGroup/Heartbeat rather than
        ConsumerGroupHeartbeat."""
        return self.classic is not None

    def copy(self, **changes: object) -> ConsumerGroupMember:
        """A copy with ``changes`` (the assignments are immutable values, shared safely)."""
        return dataclasses.replace(self, **changes)

    def with_epoch(self, epoch: int, **changes: object) -> ConsumerGroupMember:
        """Kafka's ``updateMemberEpoch``: the old epoch becomes the previous one."""
        return self.copy(previous_member_epoch=self.member_epoch, member_epoch=epoch, **changes)

    def is_reconciled_to(self, epoch: int) -> bool:
        """Whether the member owns its target of ``epoch`` and nothing else."""
        return self.state is MemberState.STABLE and self.member_epoch == epoch

    def owns(self) -> Assignment:
        """Every partition still counted as the member's: assigned or pending revocation."""
        merged = dict(self.assigned)
        for topic, partitions in self.pending_revocation.items():
            merged[topic] = merged.get(topic, frozenset()) | partitions
        return merged


def _owns_any(owned: Mapping[str, set[int]] | None, revoked: Assignment) -> bool:
    """Kafka's ``ownsRevokedPartitions``: whether the member still says it owns one of
    ``revoked``; a heartbeat that did not list its partitions (``None``) may still own them."""
    if owned is None:
        return True
    return any(p in revoked.get(topic, ()) for topic, ps in owned.items() for p in ps)


def reconcile(member: ConsumerGroupMember, target_epoch: int, target: Assignment,
              owner_epoch: Callable[[str, int], int],
              owned: Mapping[str, set[int]] | None) -> ConsumerGroupMember:
    """Kafka's ``CurrentAssignmentBuilder.build``: the member's next state towards ``target``.

    ``owner_epoch(topic, partition)`` is the epoch of the member currently holding a partition
    (``-1``: nobody, it is free); ``owned`` are the partitions the member's heartbeat says it
    owns (``None``: not sent). Returns ``member`` itself when it cannot move yet.
    """
    if member.state is MemberState.STABLE:
        if member.member_epoch == target_epoch:
            return member
        return _next(member, member.member_epoch, target_epoch, target, owner_epoch, owned)
    if member.state is MemberState.UNREVOKED_PARTITIONS:
        if _owns_any(owned, member.pending_revocation):
            return member  # still waiting for the member to give them up
        return _next(member, member.member_epoch + 1, target_epoch, target, owner_epoch, owned)
    return _next(member, member.member_epoch, target_epoch, target, owner_epoch, owned)


def _next(member: ConsumerGroupMember, epoch: int, target_epoch: int, target: Assignment,
          owner_epoch: Callable[[str, int], int],
          owned: Mapping[str, set[int]] | None) -> ConsumerGroupMember:
    """Kafka's ``computeNextAssignment``."""
    assigned: Assignment = {}
    revoke: Assignment = {}
    grant: Assignment = {}
    unreleased = False
    for topic in sorted(set(target) | set(member.assigned)):
        wanted = target.get(topic, frozenset())
        had = member.assigned.get(topic, frozenset())
        keep = had & wanted
        # A partition of the target is granted only once nobody else holds it.
        new = {p for p in wanted - keep if owner_epoch(topic, p) == -1}
        unreleased = unreleased or len(new) < len(wanted - keep)
        if keep:
            assigned[topic] = keep
        if had - keep:
            revoke[topic] = had - keep
        if new:
            grant[topic] = frozenset(new)
    if revoke and _owns_any(owned, revoke):
        # Revoke first, at the current epoch; nothing new until the member has let go.
        return member.with_epoch(epoch, state=MemberState.UNREVOKED_PARTITIONS,
                                 assigned=assigned, pending_revocation=revoke)
    for topic, partitions in grant.items():
        assigned[topic] = assigned.get(topic, frozenset()) | partitions
    state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE
    return member.with_epoch(target_epoch, state=state, assigned=assigned,
                             pending_revocation={})
