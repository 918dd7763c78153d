"""Static members (KIP-345): a member known by its ``group_instance_id`` across restarts.

A member that joins with a ``group_instance_id`` is *static*: the group knows it by that id
across restarts. When it joins again with ``member_id=""`` (a restarted consumer), it is given
a new member id and takes its old place and assignment; the old member id is *fenced*: its
calls, in flight or to come, fail with ``FencedInstanceIdError``, and so does any call that
names the instance id with another member id. A static member needs no MEMBER_ID_REQUIRED
handshake.

What happens next depends on the group's state:

- ``Stable``: nothing else, unless the protocol the group would choose changes (Kafka compares
  only that, not the subscription). There is no rebalance, the other members notice nothing,
  and the member gets its old assignment from its next SyncGroup. A static leader is told the
  old leader's id, so that it does not compute an assignment the group would ignore; from
  JoinGroup v9 it may instead be told that it leads, with ``skip_assignment`` (KIP-814);
- ``PreparingRebalance`` or ``CompletingRebalance``: the group rebalances, since the leader
  may be assigning partitions to the old id.

A cluster stores the group's metadata, with the new member id, before it answers the join in a
``Stable`` group; if it cannot (its ``__consumer_offsets`` partition is short of in-sync
replicas), the replacement is reverted, as Kafka's coordinator reverts it: the old member id
holds the place again, unfenced, and the new one is unknown (:meth:`GroupStaticMixin.
_revert_static_member`); the joiner, answered COORDINATOR_NOT_AVAILABLE, joins again.

Its session timeout, a LeaveGroup (by member id, or by instance id alone) and a missed
rebalance remove a static member as they remove any member. A static consumer does not send
LeaveGroup when it closes, so that a restart within the session timeout moves no partition.

:class:`GroupStaticMixin` is one part of :class:`~pcmodel.topics.coordinator.GroupCoordinator`
and, like it, is called with the broker's lock held.

Prior art: Kafka's ``GroupCoordinator.scala`` (``doStaticNewMemberJoinGroup``,
``updateStaticMemberAndRebalance``, ``validateCurrentMember``),
``GroupMetadata.replaceStaticMember``, KIP-345 and KIP-814.
"""

from __future__ import annotations

import uuid

from pcmodel.topics.errors import FencedInstanceIdError, UnknownMemberIdError
from pcmodel.topics.group_answers import GroupState, JoinResult
from pcmodel.topics.group_metadata import _Member

__all__ = ["GroupStaticMixin"]


class GroupStaticMixin:
    """A static member taking its place again, and the checks of its calls (coordinator part)."""

    def _static_member_id(self, group_instance_id: str) -> str | None:
        """The id of the member that holds ``group_instance_id`` now, if one does."""
        return next((mid for mid, m in self.members.items()
                     if m.group_instance_id == group_instance_id), None)

    def _replace_static_member(
        self, old_id: str, protocols: tuple[tuple[str, bytes], ...], session_timeout_ms: int,
        rebalance_timeout_ms: int, client_id: str, client_host: str,
        supports_skip_assignment: bool, now: float, timeout: float | None,
    ) -> JoinResult:
        """A static member joined again with ``member_id=""``: it takes the place of
        ``old_id`` under a new member id, keeping its assignment (Kafka's
        ``updateStaticMemberAndRebalance``). The old id is fenced: its calls in flight and to
        come fail with ``FencedInstanceIdError``."""
        old = self.members[old_id]
        member = _Member(
            f"{old.group_instance_id}-{uuid.uuid4()}", client_id, client_host, old.protocol_type,
            protocols, session_timeout_ms / 1000, rebalance_timeout_ms / 1000, now,
            assignment=old.assignment, group_instance_id=old.group_instance_id,
        )
        old.fenced, old.awaiting_join, old.awaiting_sync = True, False, False
        leader_before = self.leader
        self._swap_member(old_id, member)  # the old id's waiting join or sync learns it was fenced
        if self.state is GroupState.STABLE and self._select_protocol() == self.protocol:
            # Kept to be undone if it cannot be stored, while the generation lasts.
            self.static_replacements[member.group_instance_id] = (member.member_id, old,
                                                                  self.generation)
            # Nothing the assignment depends on changed: no rebalance. A leader that may skip
            # the assignment is told that it leads; any other member is told the leader the
            # group had, so that a replaced leader does not assign (an assignment sent to a
            # Stable group is ignored).
            skip = supports_skip_assignment and self.leader == member.member_id
            answer = self._join_response(member)
            return answer._replace(leader=answer.leader if skip else leader_before or "",
                                   members=answer.members if skip else (),
                                   skip_assignment=skip)
        # Stable with another protocol to choose, or in the middle of a round: the leader may
        # already hold the old id in its assignment, so the group rebalances.
        self._register_join(member, now)
        return self._await_join(member, timeout)

    def _revert_static_member(self, member_id: str, now: float) -> bool:
        """Undo the replacement that gave ``member_id`` a static member's place in a
        ``Stable`` group, because it could not be stored (Kafka's
        ``updateStaticMemberAndRebalance`` on a failed ``storeGroup``): the old member is back
        in its place, unfenced, its session starting again; ``member_id`` is no member. False
        if ``member_id`` holds no such place, or the group has left the ``Stable`` generation
        the replacement happened in (a later failure is that generation's, not the
        replacement's)."""
        instance = next((instance for instance, (new_id, _, _) in self.static_replacements.items()
                         if new_id == member_id), None)
        if instance is None:
            return False
        _, old, generation = self.static_replacements.pop(instance)
        if member_id not in self.members or self.state is not GroupState.STABLE \
                or self.generation != generation:
            return False
        old.fenced, old.last_heartbeat = False, now
        self._swap_member(member_id, old)
        return True

    def _swap_member(self, out_id: str, member: _Member) -> None:
        """``member`` takes the place of member ``out_id``: its place in the member order
        (which picks leaders), its pending SyncGroup and its lead. Wakes every waiting call."""
        self.members = {(member.member_id if mid == out_id else mid):
                        (member if mid == out_id else m) for mid, m in self.members.items()}
        if out_id in self.pending_sync:
            self.pending_sync.discard(out_id)
            self.pending_sync.add(member.member_id)
        if self.leader == out_id:
            self.leader = member.member_id
        self._changed.notify_all()

    def _check_instance(self, member_id: str, group_instance_id: str | None) -> None:
        """A static member's call: the instance id must be held, and by ``member_id``
        (Kafka's ``validateCurrentMember``)."""
        if group_instance_id is None:
            return
        holder = self._static_member_id(group_instance_id)
        if holder is None:
            raise UnknownMemberIdError(
                f"no member of group {self.group_id!r} has group_instance_id "
                f"{group_instance_id!r} (it was removed or left); join again with member_id=''")
        if holder != member_id:
            raise FencedInstanceIdError(
                f"member {member_id!r} was fenced: member {holder!r} joined group "
                f"{self.group_id!r} with the same group_instance_id {group_instance_id!r}; "
                "give each running consumer its own group_instance_id")

    def _check_not_fenced(self, member: _Member) -> None:
        if member.fenced:
            raise FencedInstanceIdError(
                f"member {member.member_id!r} was fenced while it waited: another member "
                f"joined group {self.group_id!r} with its group_instance_id "
                f"{member.group_instance_id!r}")
