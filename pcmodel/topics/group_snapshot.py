"""A group's metadata as a record: what a new coordinator needs to carry on without a rebalance.

Kafka keeps group *membership* in ``__consumer_offsets`` next to the committed offsets: when a
generation's SyncGroup completes (the group is ``Stable``), when a static member takes its
place again in a ``Stable`` group, and when the group becomes ``Empty``, the coordinator writes
a GroupMetadata record (key: the group id) with the generation, protocol type, chosen protocol,
leader, the time the group entered its state and, per member, its id, static instance id,
client, timeouts, subscription metadata and assignment. A broker that becomes leader of the
partition loads these records, so the members keep their ids and generation: their next
heartbeat or commit, sent to the new coordinator, succeeds. Their session timers start again
at the load. An ``Empty`` group keeps the time it became empty, from which its offsets expire
(:mod:`pcmodel.topics.group_offsets`).

:class:`GroupMetadataRecord` is that record; :meth:`encode` / :meth:`decode` turn it into the
bytes stored in the log (JSON, readable with any consumer of the offsets topic).
:class:`GroupSnapshotMixin` is the part of
:class:`~pcmodel.topics.coordinator.GroupCoordinator` that takes the snapshot, answers the
members once a cluster has stored it (:meth:`~GroupSnapshotMixin.assignment_stored`) or undoes
what could not be stored (:meth:`~GroupSnapshotMixin.not_stored`), and restores a group from
one; like the coordinator it is called with the broker's lock held.

Prior art: Kafka's ``GroupMetadataManager`` (``storeGroup``, ``groupMetadataValue``,
``loadGroupsAndOffsets``) and ``GroupMetadata.loadGroup``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from pcmodel.topics.group_answers import GroupState
from pcmodel.topics.group_metadata import _Member

__all__ = ["GroupMetadataRecord", "GroupSnapshotMixin", "MemberRecord"]


@dataclass(frozen=True)
class MemberRecord:
    """One member as the GroupMetadata record keeps it (Kafka's ``MemberMetadata`` value)."""

    member_id: str
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    #: The member's metadata for the group's chosen protocol (a consumer's subscription).
    metadata: bytes
    assignment: bytes
    #: A static member's ``group.instance.id``; ``None`` for a dynamic member (and in a record
    #: written before pcmodel stored it).
    group_instance_id: str | None = None


@dataclass(frozen=True)
class GroupMetadataRecord:
    """A ``Stable`` group (or an ``Empty`` one: no members) as stored in the offsets topic."""

    group_id: str
    generation: int
    protocol_type: str | None
    protocol: str | None
    leader: str | None
    members: tuple[MemberRecord, ...]
    #: When the group entered its state (epoch ms; Kafka's ``current_state_timestamp``), -1
    #: in a record written before pcmodel stored it.
    current_state_timestamp: int = -1

    def encode(self) -> bytes:
        """The record's value: JSON with the bytes fields in base64."""
        members = [
            dict(vars(m), metadata=_b64(m.metadata), assignment=_b64(m.assignment))
            for m in self.members
        ]
        return json.dumps(dict(vars(self), members=members), sort_keys=True).encode()

    @classmethod
    def decode(cls, value: bytes) -> GroupMetadataRecord:
        """The record from its stored value (``ValueError`` if it is not one)."""
        fields = json.loads(value)
        members = tuple(
            MemberRecord(**dict(m, metadata=base64.b64decode(m["metadata"]),
                                assignment=base64.b64decode(m["assignment"])))
            for m in fields.pop("members")
        )
        return cls(members=members, **fields)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class GroupSnapshotMixin:
    """Taking a group's metadata record, what its store does, and restoring a group from one
    (coordinator part)."""

    def metadata_record(self) -> GroupMetadataRecord | None:
        """The group as Kafka stores it, or ``None`` while it rebalances (nothing to store:
        the last ``Stable`` generation stays the stored one) or is ``Dead``. A generation
        whose assignment is being stored (:attr:`storing`) is its record already."""
        if self.state not in (GroupState.STABLE, GroupState.EMPTY) and not self.storing:
            return None
        members = tuple(
            MemberRecord(m.member_id, m.client_id, m.client_host,
                         round(m.session_timeout * 1000), round(m.rebalance_timeout * 1000),
                         self._metadata_of(m), m.assignment, m.group_instance_id)
            for m in self.members.values()
        )
        return GroupMetadataRecord(self.group_id, self.generation, self.protocol_type,
                                   self.protocol, self.leader, members, self.state_since_ms)

    def assignment_stored(self, generation: int) -> None:
        """The leader's assignment of ``generation`` is stored (at once on a lone broker):
        every member waiting for it is answered and the group is ``Stable``. Nothing happens
        if the group has moved on (a new round, or a generation already answered)."""
        if self.generation != generation or self.state is not GroupState.COMPLETING_REBALANCE:
            return
        now = self.clock()
        for m in self.members.values():
            # A member answered now starts its session again, as Kafka's propagateAssignment
            # reschedules its heartbeat: its wait for the leader did not count against it.
            if m.awaiting_sync:
                m.last_heartbeat = now
            m.awaiting_sync = False
        self.storing = False
        self._transition(GroupState.STABLE)

    def not_stored(self, member_id: str) -> None:
        """The group's metadata could not be stored after ``member_id``'s JoinGroup or
        SyncGroup (a cluster's ``__consumer_offsets`` partition refused it; Kafka's
        ``storeGroup`` failing): a static member's replacement is undone; a generation is not
        kept: the group rebalances (Kafka's ``resetAndPropagateAssignmentError`` and
        ``maybePrepareRebalance``), so that no member goes on with what was not stored. Call
        with the broker's lock held."""
        now = self.clock()
        if self._revert_static_member(member_id, now):
            return
        if member_id in self.members and self.state in (GroupState.STABLE,
                                                        GroupState.COMPLETING_REBALANCE):
            self._prepare_rebalance(now)
            self._changed.notify_all()

    def restore(self, record: GroupMetadataRecord) -> bool:
        """Become the group ``record`` describes, if it is newer than this one.

        Called when this broker becomes the group's coordinator and loads the offsets topic.
        From a ``Stable`` record, members keep their ids, generation and assignments; their
        session timers start now. From an ``Empty`` one, a group without members takes its
        generation, protocol type and the time it became empty. A record whose generation
        this group already has changes nothing. Returns whether the group was restored.
        """
        if record.generation <= self.generation:
            return False
        if not record.members:
            if self.members or self.state is not GroupState.EMPTY:
                return False
            self.generation = record.generation
            self.protocol_type, self.protocol, self.leader = record.protocol_type, None, None
            if record.current_state_timestamp >= 0:
                self.state_since_ms = record.current_state_timestamp
            return True
        now = self.clock()
        self.members = {
            m.member_id: _Member(
                m.member_id, m.client_id, m.client_host, record.protocol_type or "",
                ((record.protocol or "", m.metadata),), m.session_timeout_ms / 1000,
                m.rebalance_timeout_ms / 1000, now, assignment=m.assignment,
                group_instance_id=m.group_instance_id,
            )
            for m in record.members
        }
        self.generation = record.generation
        self.protocol_type, self.protocol = record.protocol_type, record.protocol
        self.leader = record.leader
        self.pending_members.clear()
        self.pending_sync.clear()
        self.delay_deadline = None
        self.storing = False
        # A load is not a transition of the state machine: the group *was* Stable elsewhere.
        self.state = GroupState.STABLE
        if record.current_state_timestamp >= 0:
            self.state_since_ms = record.current_state_timestamp
        self._changed.notify_all()
        return True
