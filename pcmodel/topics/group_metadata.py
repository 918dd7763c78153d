"""What a group's members said: the member record, the protocol they agree on, and the answers.

Each member of a group is a :class:`_Member`: who it is, its deadlines, and the protocols it
offered in its JoinGroup as ``(name, metadata bytes)`` in order of preference. From those the
coordinator decides whether a joining member fits the group (same protocol type and at least
one protocol every member offers: Kafka's ``supportsProtocols``), which protocol the group uses
(each member votes for its first choice among the common ones; most votes wins, a tie goes to
the leader's preference), and builds the answers: the JoinGroup response (only the leader's
lists every member's metadata), a consumer group's subscribed topics, and the description with
members, assignments and lag. Nothing here changes the group's state.

:class:`GroupMetadataMixin` is one part of :class:`~pcmodel.topics.coordinator.GroupCoordinator`
and, like it, is called with the broker's lock held.

Prior art: Kafka's ``GroupMetadata.scala`` (``supportsProtocols``, ``selectProtocol``,
``candidateProtocols``) and ``MemberMetadata.scala`` (``vote``, ``metadata``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from pcmodel.topics.consumer_protocol import PROTOCOL_TYPE, decode_subscription
from pcmodel.topics.group_answers import (
    GroupDescription,
    GroupState,
    JoinedMember,
    JoinResult,
    describe_member,
    group_lag,
)
from pcmodel.topics.structs import TopicPartition

__all__ = ["GroupMetadataMixin"]


@dataclass
class _Member:
    member_id: str
    client_id: str
    client_host: str
    protocol_type: str
    protocols: tuple[tuple[str, bytes], ...]
    session_timeout: float
    rebalance_timeout: float
    last_heartbeat: float
    #: A JoinGroup of this member is registered for the current round (Kafka's join callback).
    awaiting_join: bool = False
    #: A SyncGroup of this member is registered and not answered yet.
    awaiting_sync: bool = False
    join_response: JoinResult | None = None
    assignment: bytes = b""
    #: The static member's ``group.instance.id`` (KIP-345), ``None`` for a dynamic member.
    group_instance_id: str | None = None
    #: Another member took this static member's place: its pending calls are refused.
    fenced: bool = False
    #: The group became a consumer group: its pending calls are answered
    #: REBALANCE_IN_PROGRESS (see :mod:`pcmodel.topics.group_migration`).
    moved: bool = False

    def metadata(self, protocol: str) -> bytes:
        return dict(self.protocols)[protocol]

    def vote(self, candidates: Collection[str]) -> str:
        return next(name for name, _ in self.protocols if name in candidates)


class GroupMetadataMixin:
    """Protocol agreement and the answers built from the members' metadata (coordinator part)."""

    def _supports(
        self, protocol_type: str, protocols: tuple[tuple[str, bytes], ...], member_id: str
    ) -> bool:
        """Kafka's ``supportsProtocols``: same type, and a protocol every member also has."""
        if not protocol_type or not protocols:
            return False
        others = [m for mid, m in self.members.items() if mid != member_id]
        if not others:
            return True
        if protocol_type != self.protocol_type:
            return False
        common = {name for name, _ in protocols}
        for m in others:
            common &= {name for name, _ in m.protocols}
        return bool(common)

    def _select_protocol(self) -> str:
        """Kafka's vote: each member's first choice among the protocols all members support."""
        leader = self.members[self.leader]
        candidates = [name for name, _ in leader.protocols]
        for m in self.members.values():
            names = {name for name, _ in m.protocols}
            candidates = [name for name in candidates if name in names]
        votes = {name: 0 for name in candidates}
        for m in self.members.values():
            votes[m.vote(candidates)] += 1
        # max() keeps the first of equals: a tie goes to the leader's preference.
        return max(candidates, key=lambda name: votes[name])

    def _join_response(self, member: _Member) -> JoinResult:
        members: tuple[JoinedMember, ...] = ()
        if member.member_id == self.leader:
            members = tuple(
                JoinedMember(m.member_id, m.group_instance_id, m.metadata(self.protocol))
                for m in self.members.values()
            )
        return JoinResult(
            member.member_id, self.generation, self.protocol_type, self.protocol,
            self.leader or "", members,
        )

    def _metadata_of(self, member: _Member) -> bytes:
        if self.protocol is not None and self.protocol in dict(member.protocols):
            return member.metadata(self.protocol)
        return member.protocols[0][1] if member.protocols else b""

    def subscribed_topics(self) -> set[str]:
        """The topics a consumer group's members subscribe to (empty for other group types)."""
        if self.protocol_type != PROTOCOL_TYPE:
            return set()
        topics: set[str] = set()
        for member in self.members.values():
            metadata = self._metadata_of(member)
            try:
                topics.update(decode_subscription(metadata).topics)
            except ValueError:
                continue  # a client's malformed metadata describes nothing
        return topics

    def describe(
        self,
        end_offsets: Callable[[TopicPartition], int | None],
        partitions_per_topic: Mapping[str, int],
    ) -> GroupDescription:
        """A snapshot of the group; ``end_offsets(tp)`` gives the partition's end (or None)."""
        self.expire(self.clock())
        stable = self.state is GroupState.STABLE
        members = [
            describe_member(
                m.member_id, m.client_id, m.client_host, self.protocol_type,
                self._metadata_of(m) if stable else b"", m.assignment if stable else b"",
                m.group_instance_id,
            )
            for m in self.members.values()
        ]
        return GroupDescription(
            self.group_id, self.state, self.generation, self.protocol_type,
            self.protocol if stable else None, self.leader, tuple(members), dict(self.offsets),
            group_lag(self.subscribed_topics(), self.offsets, end_offsets, partitions_per_topic),
        )
