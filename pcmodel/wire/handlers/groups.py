"""The group APIs: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ListGroups, DescribeGroups,
DeleteGroups (a group's committed offsets: :mod:`pcmodel.wire.handlers.group_offsets`).

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

A Kafka 4 consumer group answers classic members too (the broker routes their calls to it,
:mod:`pcmodel.topics.consumer_group_classic`): their JoinGroup and SyncGroup are answered at
once, and a group changes protocol online (:mod:`pcmodel.topics.group_migration`).

Where Kafka answers per group (DescribeGroups, DeleteGroups, LeaveGroup v3+), so do these
handlers.
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
    SyncGroupRequest,
    SyncGroupResponse,
)

from pcmodel.topics.authorization import GROUP_OPERATIONS
from pcmodel.topics.consumer_group_errors import GroupMaxSizeReachedError
from pcmodel.topics.coordinator import HeartbeatStatus
from pcmodel.topics.errors import (
    GroupIdNotFoundError,
    IllegalStateError,
    MemberIdRequiredError,
)
from pcmodel.wire.api import (
    ApiHandler,
    CloseConnection,
    RequestContext,
    authorized_operations,
    error_code,
    error_message,
    kafka_errors,
)

__all__ = ["HANDLERS", "group_error_code"]

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


def group_error_code(exc: BaseException) -> int:
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
                client_id=ctx.client_id or "", client_host=ctx.client_host,
                group_instance_id=instance_id,
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
    except GroupMaxSizeReachedError as exc:
        return failed(exc.errno, "")  # Kafka: the refused member is removed, its id unknown
    except Exception as exc:
        return failed(group_error_code(exc), request.member_id)
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
        return failed(group_error_code(exc))
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
        return ctx.response(throttle_time_ms=0, error_code=group_error_code(exc))
    return ctx.response(throttle_time_ms=0, error_code=_HEARTBEAT_CODES[result.status])


def _leave(ctx: RequestContext, group_id: str, member_id: str,
           instance_id: str | None = None) -> int:
    try:
        ctx.broker.leave_group(group_id, member_id, group_instance_id=instance_id)
    except Exception as exc:
        return group_error_code(exc)
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


# --- ListGroups, DescribeGroups, DeleteGroups ---------------------------------------------------


#: What Java's ``String.trim()`` removes from either end: every character up to U+0020.
_JAVA_TRIMMED = "".join(map(chr, range(0x21)))


def handle_list_groups(ctx: RequestContext, request: Any) -> Any:
    """Every group with its protocol type (v4+: state, filtered; v5+: type, ``classic`` or
    ``consumer`` for Kafka 4's consumer groups, filtered)."""
    version = ctx.api_version
    # Kafka trims the states asked for (Java's trim(): spaces and control characters), not
    # the types.
    states = {s.strip(_JAVA_TRIMMED).lower() for s in request.states_filter} \
        if version >= 4 else set()
    types = {t.lower() for t in request.types_filter} if version >= 5 else set()
    every = [(group_id, protocol_type or "", state.value, "classic")
             for group_id, (protocol_type, state) in ctx.broker.group_states().items()]
    consumer_groups = getattr(ctx.broker, "consumer_group_states", None)  # none on a cluster
    if consumer_groups is not None:
        every += [(group_id, "consumer", state, "consumer")
                  for group_id, state in consumer_groups().items()]
    listed = [
        ListGroupsResponse.ListedGroup(group_id=group_id, protocol_type=protocol_type,
                                       group_state=state, group_type=group_type)
        for group_id, protocol_type, state, group_type in sorted(every)
        if not (states and state.lower() not in states)
        and not (types and group_type not in types)
    ]
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
        return Group(error_code=group_error_code(exc), error_message=error_message(exc),
                     group_id=group_id, group_state="", protocol_type="", protocol_data="",
                     members=[])
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


def handle_delete_groups(ctx: RequestContext, request: Any) -> Any:
    """Delete each empty group (NON_EMPTY_GROUP / GROUP_ID_NOT_FOUND otherwise)."""
    results = []
    for group_id in request.groups_names:
        try:
            ctx.broker.delete_group(group_id)
            code = 0
        except Exception as exc:
            code = group_error_code(exc)
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
    ListGroupsRequest.API_KEY: ApiHandler(
        ListGroupsRequest, ListGroupsResponse, 0, 5, handle_list_groups),
    DescribeGroupsRequest.API_KEY: ApiHandler(
        DescribeGroupsRequest, DescribeGroupsResponse, 0, 6, handle_describe_groups),
    DeleteGroupsRequest.API_KEY: ApiHandler(
        DeleteGroupsRequest, DeleteGroupsResponse, 0, 2, handle_delete_groups),
}
