"""The group and offset APIs: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
OffsetFetch, OffsetDelete, ListGroups, DescribeGroups, DeleteGroups.

Each handler maps the request's fields to one :class:`~pcmodel.topics.broker.Broker` call of
the group protocol (:mod:`pcmodel.topics.coordinator` explains it) and the answer back. Real
clients and pcmodel's own consumers therefore meet in the same groups, with the same
generations and the same committed offsets.

JoinGroup and SyncGroup block their connection until the group answers (every member joined,
or the leader sent the assignment), at most the group's rebalance timeout: that is how Kafka
serves them, one request at a time per connection. From JoinGroup v4 a new member is first
answered MEMBER_ID_REQUIRED with its id, as Kafka does. Static members (``group.instance.id``,
KIP-345: JoinGroup v5+, SyncGroup and Heartbeat v3+, LeaveGroup v3+, OffsetCommit v7+) are
served as :mod:`pcmodel.topics.group_static` describes; a static leader that takes its place
again in a ``Stable`` group is told to skip the assignment from JoinGroup v9 (KIP-814).

Where Kafka answers per partition (OffsetCommit, OffsetDelete) or per group (DescribeGroups,
DeleteGroups, LeaveGroup v3+), so do these handlers: a partition of an unknown topic fails alone.

OffsetCommit answers OFFSET_METADATA_TOO_LARGE (12) for a partition whose metadata is longer
than the broker's ``offset_metadata_max_bytes`` (Kafka's ``offset.metadata.max.bytes``, counted
in UTF-16 code units as Kafka's ``String.length()``) and commits the request's other
partitions, as Kafka's ``OffsetMetadataManager.commitOffset`` does once the group's checks
pass. The ``committed_leader_epoch`` of OffsetCommit v6+ is stored with the offset and
OffsetFetch v5+ answers it (-1 where none was committed), so a client's ``committed()`` has
the epoch it committed (KIP-320).

OffsetFetch with ``require_stable`` (v7+, KIP-447; a ``read_committed`` consumer sets it) does
not answer an offset that an ongoing transaction has staged for the group (a producer's
``send_offsets_to_transaction()``): that partition is answered UNSTABLE_OFFSET_COMMIT (88,
retriable) with offset -1 until the transaction ends, the others as usual, as Kafka's
``OffsetMetadataManager.fetchOffsets`` answers. The transactional offset commits themselves
(TxnOffsetCommit) are in :mod:`pcmodel.wire.handlers.transactions`.
"""

from __future__ import annotations

from typing import Any

from kafka.protocol.admin import (
    DeleteGroupsRequest,
    DeleteGroupsResponse,
    DescribeGroupsRequest,
    DescribeGroupsResponse,
    ListGroupsRequest,
    ListGroupsResponse,
)
from kafka.protocol.consumer.group import (
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
    SyncGroupRequest,
    SyncGroupResponse,
)

from pcmodel.topics.authorization import GROUP_OPERATIONS
from pcmodel.topics.coordinator import HeartbeatStatus
from pcmodel.topics.errors import (
    GroupIdNotFoundError,
    IllegalStateError,
    MemberIdRequiredError,
    OffsetMetadataTooLargeError,
    UnstableOffsetCommitError,
)
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from pcmodel.wire.api import (
    ApiHandler,
    CloseConnection,
    RequestContext,
    authorized_operations,
    committed_leader_epoch,
    error_code,
    error_message,
    kafka_errors,
)

__all__ = ["HANDLERS"]

_HEARTBEAT_CODES = {
    HeartbeatStatus.OK: 0,
    HeartbeatStatus.REBALANCE_IN_PROGRESS: kafka_errors.RebalanceInProgressError.errno,
    HeartbeatStatus.UNKNOWN_MEMBER: kafka_errors.UnknownMemberIdError.errno,
    HeartbeatStatus.ILLEGAL_GENERATION: kafka_errors.IllegalGenerationError.errno,
    HeartbeatStatus.FENCED_INSTANCE_ID: kafka_errors.FencedInstanceIdError.errno,
}


#: What Kafka's group coordinator answers a Heartbeat or LeaveGroup naming no group (``""``),
#: before it looks for the group or its members.
_INVALID_GROUP_ID = kafka_errors.InvalidGroupIdError.errno


def _code(exc: BaseException) -> int:
    """Kafka's code for a group call's exception; a dead group or closed broker is
    COORDINATOR_NOT_AVAILABLE, as on a broker that stopped coordinating the group."""
    if isinstance(exc, IllegalStateError):
        return kafka_errors.CoordinatorNotAvailableError.errno
    return error_code(exc)


# --- JoinGroup, SyncGroup, Heartbeat, LeaveGroup ---------------------------------------------


#: How long a JoinGroup or SyncGroup waits for its round at a time (seconds): between two
#: waits it looks whether the listener is stopping. The broker keeps a call that was not
#: answered in time registered, as a request still in flight, so the next one picks up the
#: answer and the member notices nothing.
_WAIT_SLICE = 0.1


def _check_not_stopping(ctx: RequestContext) -> None:
    """Close the connection of a call still waiting for its round once the listener stops."""
    if ctx.stopping():
        raise CloseConnection("the listener is stopping")


def handle_join_group(ctx: RequestContext, request: Any) -> Any:
    """Join (blocking until the round completes); the leader gets every member's metadata."""
    version = ctx.api_version
    instance_id = request.group_instance_id if version >= 5 else None
    empty_name = None if version >= 7 else ""

    def failed(code: int, member_id: str) -> Any:
        return ctx.response(
            throttle_time_ms=0, error_code=code, generation_id=-1, protocol_type=None,
            protocol_name=empty_name, leader="", skip_assignment=False, member_id=member_id,
            members=[],
        )

    rebalance = request.rebalance_timeout_ms if version >= 1 else -1
    member_id = request.member_id
    try:
        while True:
            joined = ctx.broker.join_group(
                request.group_id, member_id,
                protocols=[(p.name, bytes(p.metadata)) for p in request.protocols],
                protocol_type=request.protocol_type,
                session_timeout_ms=request.session_timeout_ms,
                rebalance_timeout_ms=rebalance if rebalance > 0 else None,
                client_id=ctx.client_id or "", group_instance_id=instance_id,
                require_known_member_id=version >= 4, supports_skip_assignment=version >= 9,
                timeout=_WAIT_SLICE,
            )
            if not joined.pending:
                break
            member_id = joined.member_id  # still registered: the next call picks the answer up
            _check_not_stopping(ctx)
    except CloseConnection:
        raise
    except MemberIdRequiredError as exc:
        return failed(exc.errno, exc.member_id)
    except Exception as exc:
        return failed(_code(exc), request.member_id)
    Member = JoinGroupResponse.JoinGroupResponseMember
    return ctx.response(
        throttle_time_ms=0, error_code=0, generation_id=joined.generation,
        protocol_type=joined.protocol_type, protocol_name=joined.protocol,
        leader=joined.leader, skip_assignment=joined.skip_assignment,
        member_id=joined.member_id, members=[
            Member(member_id=m.member_id, group_instance_id=m.group_instance_id,
                   metadata=m.metadata)
            for m in joined.members
        ],
    )


def handle_sync_group(ctx: RequestContext, request: Any) -> Any:
    """The leader's plan in, each member's own assignment out (followers wait for it)."""
    version = ctx.api_version
    empty = None if version >= 5 else ""

    def failed(code: int) -> Any:
        return ctx.response(throttle_time_ms=0, error_code=code, protocol_type=empty,
                            protocol_name=empty, assignment=b"")

    try:
        while True:
            synced = ctx.broker.sync_group(
                request.group_id, request.member_id, request.generation_id,
                assignments={a.member_id: bytes(a.assignment) for a in request.assignments},
                protocol_type=request.protocol_type if version >= 5 else None,
                protocol=request.protocol_name if version >= 5 else None,
                group_instance_id=request.group_instance_id if version >= 3 else None,
                timeout=_WAIT_SLICE,
            )
            if not synced.pending:
                break
            _check_not_stopping(ctx)
    except CloseConnection:
        raise
    except Exception as exc:
        return failed(_code(exc))
    return ctx.response(throttle_time_ms=0, error_code=0, protocol_type=synced.protocol_type,
                        protocol_name=synced.protocol, assignment=synced.assignment)


def handle_heartbeat(ctx: RequestContext, request: Any) -> Any:
    """OK, or tell the member to rejoin (REBALANCE_IN_PROGRESS) or that it is out."""
    if not request.group_id:
        return ctx.response(throttle_time_ms=0, error_code=_INVALID_GROUP_ID)
    instance_id = request.group_instance_id if ctx.api_version >= 3 else None
    try:
        result = ctx.broker.heartbeat(request.group_id, request.member_id, request.generation_id,
                                      group_instance_id=instance_id)
    except Exception as exc:
        return ctx.response(throttle_time_ms=0, error_code=_code(exc))
    return ctx.response(throttle_time_ms=0, error_code=_HEARTBEAT_CODES[result.status])


def _leave(ctx: RequestContext, group_id: str, member_id: str,
           instance_id: str | None = None) -> int:
    try:
        ctx.broker.leave_group(group_id, member_id, group_instance_id=instance_id)
    except Exception as exc:
        return _code(exc)
    return 0


def handle_leave_group(ctx: RequestContext, request: Any) -> Any:
    """Remove the member (v0-2) or each listed member (v3+, answered one by one; a static one
    may be named by its instance id alone, with member id ``""``)."""
    if not request.group_id:
        return ctx.response(throttle_time_ms=0, error_code=_INVALID_GROUP_ID, members=[])
    if ctx.api_version < 3:
        code = _leave(ctx, request.group_id, request.member_id)
        return ctx.response(throttle_time_ms=0, error_code=code, members=[])
    answers = []
    for member in request.members:
        code = _leave(ctx, request.group_id, member.member_id, member.group_instance_id)
        answers.append(LeaveGroupResponse.MemberResponse(
            member_id=member.member_id, group_instance_id=member.group_instance_id,
            error_code=code,
        ))
    return ctx.response(throttle_time_ms=0, error_code=0, members=answers)


# --- OffsetCommit, OffsetFetch -----------------------------------------------------------------


def handle_offset_commit(ctx: RequestContext, request: Any) -> Any:
    """Store the offsets of existing partitions; the group's member and generation are checked."""
    counts = ctx.broker.list_topics()
    offsets: dict[TopicPartition, OffsetAndMetadata] = {}
    codes: dict[TopicPartition, int] = {}
    for topic in request.topics:
        for part in topic.partitions:
            tp = TopicPartition(topic.name, part.partition_index)
            if not 0 <= tp.partition < counts.get(tp.topic, 0):
                codes[tp] = kafka_errors.UnknownTopicOrPartitionError.errno
            elif part.committed_offset < 0:
                codes[tp] = kafka_errors.InvalidRequestError.errno
            else:
                # A null metadata stays None for the broker's check (Kafka never refuses
                # one), which stores it as "".
                offsets[tp] = OffsetAndMetadata(part.committed_offset,
                                                part.committed_metadata,
                                                committed_leader_epoch(part.committed_leader_epoch))
    if offsets:
        try:
            ctx.broker.commit_offsets(
                request.group_id, request.generation_id_or_member_epoch, request.member_id,
                offsets, retention_time_ms=_retention_time_ms(request),
                group_instance_id=request.group_instance_id if ctx.api_version >= 7 else None,
            )
            group_code = 0
        except OffsetMetadataTooLargeError as exc:  # those alone: the others were committed
            group_code = 0
            codes.update(dict.fromkeys(exc.partitions, exc.errno))
        except Exception as exc:
            group_code = _code(exc)
        codes.update({tp: group_code for tp in offsets if tp not in codes})
    Topic = OffsetCommitResponse.OffsetCommitResponseTopic
    topics = _partition_codes(request, codes, Topic, Topic.OffsetCommitResponsePartition)
    return ctx.response(throttle_time_ms=0, topics=topics)


def _retention_time_ms(request: Any) -> int:
    """OffsetCommit v2-v4's ``retention_time_ms`` (-1, the broker's retention, in the others)."""
    return request.retention_time_ms if 2 <= request.API_VERSION <= 4 else -1


def _partition_codes(request: Any, codes: dict[TopicPartition, int], topic_class: Any,
                     partition_class: Any) -> list:
    """The answer's topics: each partition of the request, in its order, with its error code
    (the shape of the OffsetCommit and OffsetDelete answers)."""
    return [
        topic_class(name=topic.name, partitions=[
            partition_class(partition_index=p.partition_index,
                            error_code=codes[TopicPartition(topic.name, p.partition_index)])
            for p in topic.partitions
        ])
        for topic in request.topics
    ]


#: A committed offset as OffsetFetch answers it: the offset, none, or why it is not answered.
_Committed = OffsetAndMetadata | None | UnstableOffsetCommitError


def _fetch_offsets(
    ctx: RequestContext, group_id: str, wanted: list[tuple[str, list[int]]] | None,
    require_stable: bool = False,
) -> tuple[int, dict[str, list[tuple[int, _Committed]]]]:
    """``(group error code, {topic: [(partition, committed or None)]})``; ``None`` = all.
    With ``require_stable`` a partition whose offset a transaction is staging answers the
    broker's ``UnstableOffsetCommitError`` instead."""
    try:
        if wanted is None:
            every = getattr(ctx.broker, "all_committed", None)  # a cluster's replicated store
            try:
                committed = every(group_id) if every is not None else \
                    ctx.broker.describe_group(group_id).committed
            except GroupIdNotFoundError:
                committed = {}
            if require_stable:
                committed = _stable(ctx, group_id, list(committed))
        else:
            tps = [TopicPartition(t, p) for t, parts in wanted for p in parts]
            committed = _stable(ctx, group_id, tps) if require_stable else \
                ctx.broker.committed(group_id, tps)
    except Exception as exc:
        return _code(exc), {}
    by_topic: dict[str, list[tuple[int, _Committed]]] = {}
    for tp, value in sorted(committed.items()):
        by_topic.setdefault(tp.topic, []).append((tp.partition, value))
    return 0, by_topic


def _stable(ctx: RequestContext, group_id: str,
            tps: list[TopicPartition]) -> dict[TopicPartition, _Committed]:
    """The group's committed offsets of ``tps``, each partition that a transaction is staging
    answered by the broker's ``UnstableOffsetCommitError`` (the broker refuses the whole call;
    Kafka answers the partitions one by one)."""
    try:
        return ctx.broker.committed(group_id, tps, require_stable=True)
    except UnstableOffsetCommitError:
        pass
    answers: dict[TopicPartition, _Committed] = {}
    for tp in tps:
        try:
            answers[tp] = ctx.broker.committed(group_id, [tp], require_stable=True)[tp]
        except UnstableOffsetCommitError as exc:
            answers[tp] = exc
    return answers


def _partition_fields(partition: int, value: _Committed) -> dict[str, Any]:
    if isinstance(value, UnstableOffsetCommitError):
        return {"partition_index": partition, "committed_offset": -1,
                "committed_leader_epoch": -1, "metadata": "", "error_code": value.errno}
    return {
        "partition_index": partition,
        "committed_offset": -1 if value is None else value.offset,
        "committed_leader_epoch": -1 if value is None or value.leader_epoch is None
        else value.leader_epoch,
        "metadata": "" if value is None else value.metadata,
        "error_code": 0,
    }


def handle_offset_fetch(ctx: RequestContext, request: Any) -> Any:
    """The committed offset per partition (``-1`` where none); all of them for ``topics=None``;
    UNSTABLE_OFFSET_COMMIT for a partition a transaction is staging, if the request requires
    stable offsets (v7+)."""
    stable = ctx.api_version >= 7 and request.require_stable
    if ctx.api_version < 8:
        wanted = (None if request.topics is None
                  else [(t.name, list(t.partition_indexes)) for t in request.topics])
        code, found = _fetch_offsets(ctx, request.group_id, wanted, stable)
        Topic = OffsetFetchResponse.OffsetFetchResponseTopic
        Partition = Topic.OffsetFetchResponsePartition
        topics = [
            Topic(name=name, partitions=[Partition(**_partition_fields(p, v)) for p, v in parts])
            for name, parts in found.items()
        ]
        return ctx.response(throttle_time_ms=0, topics=topics, error_code=code, groups=[])
    Group = OffsetFetchResponse.OffsetFetchResponseGroup
    Topics = Group.OffsetFetchResponseTopics
    Partitions = Topics.OffsetFetchResponsePartitions
    groups = []
    for group in request.groups:
        wanted = (None if group.topics is None
                  else [(t.name, list(t.partition_indexes)) for t in group.topics])
        code, found = _fetch_offsets(ctx, group.group_id, wanted, stable)
        groups.append(Group(group_id=group.group_id, error_code=code, topics=[
            Topics(name=name, partitions=[Partitions(**_partition_fields(p, v))
                                          for p, v in parts])
            for name, parts in found.items()
        ]))
    return ctx.response(throttle_time_ms=0, topics=[], error_code=0, groups=groups)


# --- ListGroups, DescribeGroups, DeleteGroups ------------------------------------------------


def handle_list_groups(ctx: RequestContext, request: Any) -> Any:
    """Every group with its protocol type (v4+: state, filtered; v5+: type, always classic)."""
    version = ctx.api_version
    states = {s.lower() for s in request.states_filter} if version >= 4 else set()
    types = {t.lower() for t in request.types_filter} if version >= 5 else set()
    listed = []
    for group_id, (protocol_type, state) in ctx.broker.group_states().items():
        if (states and state.value.lower() not in states) or (types and "classic" not in types):
            continue
        listed.append(ListGroupsResponse.ListedGroup(
            group_id=group_id, protocol_type=protocol_type or "", group_state=state.value,
            group_type="classic",
        ))
    return ctx.response(throttle_time_ms=0, error_code=0, groups=listed)


def _described(ctx: RequestContext, group_id: str, operations: set[int] | None) -> Any:
    """One group's entry; ``operations`` are the authorized operations of a group found
    (``None``: not asked), as Kafka sets them only on groups answered without error."""
    Group = DescribeGroupsResponse.DescribedGroup
    Member = Group.DescribedGroupMember
    try:
        desc = ctx.broker.describe_group(group_id)
    except GroupIdNotFoundError:
        # Kafka describes a group it does not know as Dead: from v6 with GROUP_ID_NOT_FOUND
        # (KIP-1043), before that with no error (and so with the operations asked for).
        if ctx.api_version >= 6:
            return Group(error_code=GroupIdNotFoundError.errno,
                         error_message=f"Group {group_id} not found.", group_id=group_id,
                         group_state="Dead", protocol_type="", protocol_data="", members=[])
        return Group(error_code=0, error_message=None, group_id=group_id, group_state="Dead",
                     protocol_type="", protocol_data="", members=[],
                     authorized_operations=operations)
    except Exception as exc:
        return Group(error_code=_code(exc), error_message=error_message(exc), group_id=group_id,
                     group_state="", protocol_type="", protocol_data="", members=[])
    return Group(
        error_code=0, error_message=None, group_id=group_id, group_state=desc.state.value,
        protocol_type=desc.protocol_type or "", protocol_data=desc.protocol or "",
        members=[
            Member(member_id=m.member_id, group_instance_id=m.group_instance_id,
                   client_id=m.client_id,
                   client_host=m.client_host, member_metadata=m.member_metadata,
                   member_assignment=m.member_assignment)
            for m in desc.members
        ],
        authorized_operations=operations,
    )


def handle_describe_groups(ctx: RequestContext, request: Any) -> Any:
    """State, protocol and members (metadata and assignment bytes while Stable) per group;
    from v3, if asked, the operations a client may perform on it (all: no authorizer); a group
    that does not exist is Dead, and from v6 GROUP_ID_NOT_FOUND."""
    asked = ctx.api_version >= 3 and request.include_authorized_operations
    operations = authorized_operations(asked, GROUP_OPERATIONS)
    return ctx.response(throttle_time_ms=0, groups=[
        _described(ctx, group_id, operations) for group_id in request.groups])


def handle_offset_delete(ctx: RequestContext, request: Any) -> Any:
    """Delete the group's offsets of the partitions named; a group error (GROUP_ID_NOT_FOUND,
    NON_EMPTY_GROUP) answers alone, with no topics, as Kafka does."""
    tps = [TopicPartition(topic.name, part.partition_index)
           for topic in request.topics for part in topic.partitions]
    try:
        results = ctx.broker.delete_offsets(request.group_id, tps)
    except Exception as exc:
        return ctx.response(error_code=_code(exc), throttle_time_ms=0, topics=[])
    codes = {tp: 0 if error is None else _code(error) for tp, error in results.items()}
    Topic = OffsetDeleteResponse.OffsetDeleteResponseTopic
    topics = _partition_codes(request, codes, Topic, Topic.OffsetDeleteResponsePartition)
    return ctx.response(error_code=0, throttle_time_ms=0, topics=topics)


def handle_delete_groups(ctx: RequestContext, request: Any) -> Any:
    """Delete each empty group (NON_EMPTY_GROUP / GROUP_ID_NOT_FOUND otherwise)."""
    results = []
    for group_id in request.groups_names:
        try:
            ctx.broker.delete_group(group_id)
            code = 0
        except Exception as exc:
            code = _code(exc)
        results.append(DeleteGroupsResponse.DeletableGroupResult(group_id=group_id,
                                                                 error_code=code))
    return ctx.response(throttle_time_ms=0, results=results)


HANDLERS = {
    JoinGroupRequest.API_KEY: ApiHandler(
        JoinGroupRequest, JoinGroupResponse, 0, 9, handle_join_group),
    SyncGroupRequest.API_KEY: ApiHandler(
        SyncGroupRequest, SyncGroupResponse, 0, 5, handle_sync_group),
    HeartbeatRequest.API_KEY: ApiHandler(
        HeartbeatRequest, HeartbeatResponse, 0, 4, handle_heartbeat),
    LeaveGroupRequest.API_KEY: ApiHandler(
        LeaveGroupRequest, LeaveGroupResponse, 0, 5, handle_leave_group),
    # v10 names topics by id, which this listener does not use.
    OffsetCommitRequest.API_KEY: ApiHandler(
        OffsetCommitRequest, OffsetCommitResponse, 2, 9, handle_offset_commit),
    OffsetFetchRequest.API_KEY: ApiHandler(
        OffsetFetchRequest, OffsetFetchResponse, 1, 9, handle_offset_fetch),
    OffsetDeleteRequest.API_KEY: ApiHandler(
        OffsetDeleteRequest, OffsetDeleteResponse, 0, 0, handle_offset_delete),
    ListGroupsRequest.API_KEY: ApiHandler(
        ListGroupsRequest, ListGroupsResponse, 0, 5, handle_list_groups),
    DescribeGroupsRequest.API_KEY: ApiHandler(
        DescribeGroupsRequest, DescribeGroupsResponse, 0, 6, handle_describe_groups),
    DeleteGroupsRequest.API_KEY: ApiHandler(
        DeleteGroupsRequest, DeleteGroupsResponse, 0, 2, handle_delete_groups),
}
