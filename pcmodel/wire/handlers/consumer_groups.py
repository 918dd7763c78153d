"""Kafka 4's consumer group APIs (KIP-848): ConsumerGroupHeartbeat and ConsumerGroupDescribe.

A consumer configured with ``group.protocol=consumer`` (confluent-kafka / librdkafka 2.x,
Kafka's Java client 4.x) joins, stays in and leaves its group with ConsumerGroupHeartbeat
alone, and is told its partitions in the answers: the broker assigns
(:mod:`pcmodel.topics.consumer_group` explains the protocol). These handlers map the
requests' fields to :meth:`Broker.consumer_group_heartbeat
<pcmodel.topics.broker_consumer_groups.ConsumerGroupsMixin.consumer_group_heartbeat>` and
:meth:`describe_consumer_group
<pcmodel.topics.broker_consumer_groups.ConsumerGroupsMixin.describe_consumer_group>` and back.
kafka-python 3 has no classes for these APIs; :mod:`pcmodel.wire.schemas` builds them from
Kafka's own JSON schemas with kafka-python's codec.

Partitions travel by **topic id** in these APIs. pcmodel's coordinator knows topics by name;
these handlers map names to the ids the broker drew when it created each topic
(``Broker.topic_ids``), the ids Metadata answers, with which a client resolves its assignment
to names. An owned partition whose topic id the broker does not know (the topic was deleted,
or deleted and created again with a new id) is of no topic the group can assign.

ConsumerGroupHeartbeat v1 (``SubscribedTopicRegex``, and the member id made by the client,
KIP-1082: an empty one is INVALID_REQUEST) is what librdkafka 2.16 and Kafka 4 clients send; v0
is served too, the coordinator then making the member id of a joining member that sends none.
ConsumerGroupDescribe v1 (Kafka 4.0, KIP-1099) adds each member's ``MemberType``: 0 for a
classic member (one that speaks JoinGroup/SyncGroup/Heartbeat in a consumer group, as during
an online migration), 1 for a consumer-protocol member; v0 is served too.

A replicated cluster's listeners serve these APIs at the group's coordinator, and answer
NOT_COORDINATOR elsewhere (:mod:`pcmodel.cluster.client_consumer_groups`); a cluster of broker
processes serves classic groups only, and its listeners leave these APIs out
(:mod:`pcmodel.wire.cluster_listeners`). Given a broker without consumer groups, the handlers
answer UNSUPPORTED_VERSION, saying so.
"""

from __future__ import annotations

import uuid
from typing import Any

from pcmodel.topics.authorization import GROUP_OPERATIONS
from pcmodel.topics.errors import (
    InvalidGroupIdError,
    InvalidRequestError,
    UnsupportedVersionError,
)
from pcmodel.wire.api import (
    ApiHandler,
    RequestContext,
    authorized_operations,
    error_message,
)
from pcmodel.wire.handlers.groups import group_error_code
from pcmodel.wire.schemas import (
    ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)

__all__ = ["HANDLERS"]

_NO_CONSUMER_GROUPS = (
    "this broker's group coordinator serves classic groups only; use group.protocol=classic")


def _names_by_id(ids: dict[str, uuid.UUID]) -> dict[uuid.UUID, str]:
    return {topic_id: name for name, topic_id in ids.items()}


def _heartbeat_failed(ctx: RequestContext, code: int, message: str | None) -> Any:
    return ctx.response(throttle_time_ms=0, error_code=code, error_message=message,
                        member_id=None, member_epoch=0, heartbeat_interval_ms=0,
                        assignment=None)


def handle_consumer_group_heartbeat(ctx: RequestContext, request: Any) -> Any:
    """Join, heartbeat or leave; the answer carries the member's epoch and, when it changed,
    its assignment (by topic id)."""
    heartbeat = getattr(ctx.broker, "consumer_group_heartbeat", None)
    if heartbeat is None:
        return _heartbeat_failed(ctx, UnsupportedVersionError.errno, _NO_CONSUMER_GROUPS)
    if ctx.api_version >= 1 and not request.member_id:
        return _heartbeat_failed(ctx, InvalidRequestError.errno, "MemberId can't be empty.")
    ids = ctx.broker.topic_ids()
    names = _names_by_id(ids)
    owned = None
    if request.topic_partitions is not None:
        # A topic id the broker does not know stays a key of its own: never a known topic.
        owned = {names.get(t.topic_id, str(t.topic_id)): list(t.partitions)
                 for t in request.topic_partitions}
    try:
        answer = heartbeat(
            request.group_id, request.member_id, request.member_epoch,
            instance_id=request.instance_id, rack_id=request.rack_id,
            rebalance_timeout_ms=request.rebalance_timeout_ms,
            subscribed_topic_names=request.subscribed_topic_names,
            subscribed_topic_regex=request.subscribed_topic_regex
            if ctx.api_version >= 1 else None,
            server_assignor=request.server_assignor, owned_partitions=owned,
            client_id=ctx.client_id or "", client_host=ctx.client_host,
        )
    except Exception as exc:
        return _heartbeat_failed(ctx, group_error_code(exc), error_message(exc))
    assignment = None
    if answer.assignment is not None:
        ids.update(ctx.broker.topic_ids())  # a topic the heartbeat created, deleted, re-created
        Assignment = ConsumerGroupHeartbeatResponse.Assignment
        assignment = Assignment(topic_partitions=[
            Assignment.TopicPartitions(topic_id=ids.get(topic), partitions=sorted(parts))
            for topic, parts in sorted(answer.assignment.items())])
    return ctx.response(throttle_time_ms=0, error_code=0, error_message=None,
                        member_id=answer.member_id, member_epoch=answer.member_epoch,
                        heartbeat_interval_ms=answer.heartbeat_interval_ms,
                        assignment=assignment)


#: ConsumerGroupDescribe v1's MemberType of each kind of member (KIP-1099; -1 is "unknown",
#: which this broker never answers). Version 0 has no such field: the codec leaves it out.
_MEMBER_TYPES = {"classic": 0, "consumer": 1}


def _assignment(parts: dict[str, frozenset[int]], ids: dict[str, uuid.UUID]) -> Any:
    Assignment = ConsumerGroupDescribeResponse.DescribedGroup.Member.Assignment
    return Assignment(topic_partitions=[
        Assignment.TopicPartitions(topic_id=ids.get(topic), topic_name=topic,
                                   partitions=sorted(ps))
        for topic, ps in sorted(parts.items())])


def _described(ctx: RequestContext, group_id: str, operations: set[int] | None) -> Any:
    Group = ConsumerGroupDescribeResponse.DescribedGroup
    describe = getattr(ctx.broker, "describe_consumer_group", None)
    try:
        if describe is None:
            raise UnsupportedVersionError(_NO_CONSUMER_GROUPS)
        if not group_id:
            raise InvalidGroupIdError("Group id must not be empty.")
        desc = describe(group_id)
        ids = ctx.broker.topic_ids()
    except Exception as exc:
        return Group(error_code=group_error_code(exc), error_message=error_message(exc),
                     group_id=group_id, group_state="", group_epoch=0, assignment_epoch=0,
                     assignor_name="", members=[])
    return Group(
        error_code=0, error_message=None, group_id=group_id, group_state=desc.state,
        group_epoch=desc.group_epoch, assignment_epoch=desc.assignment_epoch,
        assignor_name=desc.assignor_name, authorized_operations=operations, members=[
            Group.Member(member_id=m.member_id, instance_id=m.instance_id, rack_id=m.rack_id,
                         member_epoch=m.member_epoch, client_id=m.client_id,
                         client_host=m.client_host,
                         subscribed_topic_names=list(m.subscribed_topic_names),
                         subscribed_topic_regex=m.subscribed_topic_regex,
                         assignment=_assignment(m.assignment, ids),
                         target_assignment=_assignment(m.target_assignment, ids),
                         member_type=_MEMBER_TYPES[m.member_type])
            for m in desc.members])


def handle_consumer_group_describe(ctx: RequestContext, request: Any) -> Any:
    """State, epochs, assignor and members (current and target assignments; from v1 whether
    each speaks the classic or the consumer protocol) per group; GROUP_ID_NOT_FOUND for a
    group that is not a consumer group, as Kafka answers."""
    operations = authorized_operations(request.include_authorized_operations,
                                       GROUP_OPERATIONS)
    return ctx.response(throttle_time_ms=0, groups=[
        _described(ctx, group_id, operations) for group_id in request.group_ids])


HANDLERS = {
    ConsumerGroupHeartbeatRequest.API_KEY: ApiHandler(
        ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, 0, 1,
        handle_consumer_group_heartbeat),
    ConsumerGroupDescribeRequest.API_KEY: ApiHandler(
        ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, 0, 1,
        handle_consumer_group_describe),
}
