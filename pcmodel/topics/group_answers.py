"""What the group APIs answer with: group states, join/sync/heartbeat results, descriptions.

Plain picklable values (enums and NamedTuples), so the same answers reach a client in this
process, in another process, or (mapped field by field) a Kafka client through the wire front
end. The state machine that produces them is :mod:`pcmodel.topics.coordinator`.

Prior art: Kafka's ``JoinGroupResponse``, ``SyncGroupResponse``, ``HeartbeatResponse`` and
``DescribeGroupsResponse`` schemas; kafka-python's ``GroupInformation`` / ``MemberInformation``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping
from typing import NamedTuple

from pcmodel.topics.consumer_protocol import (
    PROTOCOL_TYPE,
    decode_assignment,
    decode_subscription,
)
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

__all__ = [
    "ExpiredOffsets",
    "GroupDescription",
    "GroupState",
    "HeartbeatResult",
    "HeartbeatStatus",
    "JoinResult",
    "JoinedMember",
    "MemberDescription",
    "SyncResult",
    "describe_member",
    "group_lag",
    "validate_group_id",
    "validate_offsets_group_id",
]


class GroupState(str, enum.Enum):
    """Kafka's group states; the value is the name DescribeGroups and ListGroups report."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


class HeartbeatStatus(str, enum.Enum):
    """What a heartbeat tells the member (Kafka's error codes for Heartbeat)."""

    OK = "ok"
    #: A rebalance started: send JoinGroup again.
    REBALANCE_IN_PROGRESS = "rebalance_in_progress"
    #: You were removed (session or rebalance timeout, or you left): partitions are lost.
    UNKNOWN_MEMBER = "unknown_member"
    #: Your generation is over: your partitions are lost; rejoin with the same member id.
    ILLEGAL_GENERATION = "illegal_generation"
    #: Another member joined with your ``group_instance_id`` and took your place: stop.
    FENCED_INSTANCE_ID = "fenced_instance_id"


class JoinedMember(NamedTuple):
    """One member as the leader's JoinGroup answer lists it."""

    member_id: str
    group_instance_id: str | None
    metadata: bytes


class JoinResult(NamedTuple):
    """What ``join_group`` answers.

    ``pending`` is true when the round did not complete within the call's timeout: the join stays
    registered; call again with the same ``member_id`` to keep waiting (the other fields are then
    ``-1`` / ``None`` / empty). Otherwise this is the new ``generation``, the chosen
    ``protocol``, the ``leader``'s member id and, for the leader only, every member with its
    metadata for that protocol.

    ``skip_assignment`` (JoinGroup v9, KIP-814) is set in one answer only: to a static leader
    that took its old place in a ``Stable`` group. It is the leader and gets the members'
    metadata, but must not compute an assignment: the group keeps the one it has.
    """

    member_id: str
    generation: int
    protocol_type: str | None
    protocol: str | None
    leader: str
    members: tuple[JoinedMember, ...]
    pending: bool = False
    skip_assignment: bool = False


class SyncResult(NamedTuple):
    """What ``sync_group`` answers: this member's assignment bytes (``pending``: as for joins).

    ``to_store``: this call handed in the generation's assignment with ``store_first`` (a
    cluster's coordinator): the group's metadata is to be stored before anyone acts on it.
    """

    protocol_type: str | None
    protocol: str | None
    assignment: bytes
    pending: bool = False
    to_store: bool = False


class HeartbeatResult(NamedTuple):
    """A heartbeat's answer, plus the broker's topic metadata version (to refresh patterns)."""

    status: HeartbeatStatus
    metadata_version: int


class ExpiredOffsets(NamedTuple):
    """What one offsets-retention check removed from a group: the ``partitions`` whose
    committed offsets expired, and whether the group itself was deleted (``Empty`` with no
    offset left)."""

    partitions: tuple[TopicPartition, ...]
    group_deleted: bool


class MemberDescription(NamedTuple):
    """One member as ``describe_group`` shows it (Kafka's DescribeGroups member).

    ``member_metadata`` and ``member_assignment`` are the raw bytes, filled only while the group
    is ``Stable`` (as in Kafka); ``subscription`` and ``assignment`` are the same decoded, for
    consumer groups.
    """

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    member_metadata: bytes
    member_assignment: bytes
    subscription: tuple[str, ...]
    assignment: tuple[TopicPartition, ...]


class GroupDescription(NamedTuple):
    """A snapshot of one group: state, generation, protocol, members, offsets and lag.

    ``protocol`` is the chosen protocol (for consumers, the assignor's name), ``None`` outside
    ``Stable``, as Kafka's DescribeGroups reports it. ``lag[tp]`` is ``end_offset - committed``
    (``None`` when the group never committed ``tp``), for every partition of the subscribed
    topics and every partition with a committed offset.
    """

    group_id: str
    state: GroupState
    generation: int
    protocol_type: str | None
    protocol: str | None
    leader: str | None
    members: tuple[MemberDescription, ...]
    committed: dict[TopicPartition, OffsetAndMetadata]
    lag: dict[TopicPartition, int | None]

    @property
    def assignor(self) -> str | None:
        """The assignor a consumer group uses: its ``protocol``."""
        return self.protocol


def describe_member(
    member_id: str,
    client_id: str,
    client_host: str,
    protocol_type: str | None,
    metadata: bytes,
    assignment: bytes,
    group_instance_id: str | None = None,
) -> MemberDescription:
    """A member's description, with its subscription and assignment decoded for consumers."""
    topics: tuple[str, ...] = ()
    owned: tuple[TopicPartition, ...] = ()
    if protocol_type == PROTOCOL_TYPE:
        try:
            topics = decode_subscription(metadata).topics if metadata else ()
            owned = tuple(sorted(decode_assignment(assignment)))
        except ValueError:
            pass  # a client's malformed bytes are shown raw only
    return MemberDescription(
        member_id, group_instance_id, client_id, client_host, metadata, assignment,
        tuple(sorted(topics)), owned,
    )


def group_lag(
    subscribed: Collection[str],
    offsets: Mapping[TopicPartition, OffsetAndMetadata],
    end_offsets: Callable[[TopicPartition], int | None],
    partitions_per_topic: Mapping[str, int],
) -> dict[TopicPartition, int | None]:
    """``end_offset - committed`` per partition of the subscribed topics and of ``offsets``.

    ``None`` where the group never committed; partitions that no longer exist are left out.
    """
    tps = {
        TopicPartition(t, p)
        for t in subscribed
        if t in partitions_per_topic
        for p in range(partitions_per_topic[t])
    }
    lag: dict[TopicPartition, int | None] = {}
    for tp in sorted(tps | set(offsets)):
        end = end_offsets(tp)
        if end is None:
            continue
        committed = offsets.get(tp)
        lag[tp] = None if committed is None else max(0, end - committed.offset)
    return lag


def validate_group_id(group_id: object) -> str:
    """Return ``group_id`` if it is a non-empty ``str``, else raise ``InvalidGroupIdError``."""
    from pcmodel.topics.errors import InvalidGroupIdError

    if not isinstance(group_id, str) or not group_id:
        raise InvalidGroupIdError(f"group_id must be a non-empty string, got {group_id!r}")
    return group_id


def validate_offsets_group_id(group_id: object) -> str:
    """Return ``group_id`` if it is a ``str``, the empty one included, else raise
    ``InvalidGroupIdError``: the group of OffsetCommit and OffsetFetch (and of the offsets a
    cluster's coordinator loads back).

    Kafka still accepts ``""`` there, for backwards compatibility with clients of the days
    when ``""`` was the consumer's default ``group.id`` (``GroupCoordinatorService.commitOffsets``
    and ``fetchOffsets`` refuse only a null id); every API that joins, leaves or changes a group
    (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetDelete, TxnOffsetCommit) refuses it
    (:func:`validate_group_id`).
    """
    from pcmodel.topics.errors import InvalidGroupIdError

    if not isinstance(group_id, str):
        raise InvalidGroupIdError(f"group_id must be a string, got {group_id!r}")
    return group_id
