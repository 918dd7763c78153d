"""Metadata, DescribeTopicPartitions, DescribeCluster and FindCoordinator: which brokers exist
and who leads what.

All answer from the listener's :class:`~pcmodel.wire.view.ClusterView`. A lone broker is the
only broker and leader, sole replica and sole in-sync replica of every partition (epoch 0); a
broker of a replicated cluster lists the live brokers and, per partition, the leader, leader
epoch, replicas, ISR and offline replicas the controller decided; a partition whose leader is
not among the brokers listed (it has none, or the controller fenced it meanwhile) is answered
LEADER_NOT_AVAILABLE with leader -1, as Kafka answers one whose leader is not alive. A
requested topic that does not exist is created when the client allows it and the broker's
``auto_create_topics_enable`` is on (Kafka's defaults), else answered
UNKNOWN_TOPIC_OR_PARTITION. FindCoordinator names the coordinator of a group (``key_type`` 0;
COORDINATOR_NOT_AVAILABLE while there is none) or of a transactional id (``key_type`` 1, the
first request of a transactional producer: a lone broker coordinates every transactional id; on
a cluster it is the leader of the id's ``__transaction_state`` partition, and
COORDINATOR_NOT_AVAILABLE while that has none, as :mod:`pcmodel.wire.node_connection` explains);
any other ``key_type`` is INVALID_REQUEST. Internal topics (``__consumer_offsets``, and on a
cluster ``__transaction_state`` once a transactional producer created it) are listed as
internal, as Kafka lists them: ``is_internal`` is Kafka's ``Topic.isInternal``, an exact set of
names (:func:`~pcmodel.topics.topic_settings.is_internal_topic`), so a user's ``__audit`` is an
ordinary topic.

Every topic has a topic id (KIP-516), drawn at random when it was created (a lone broker's
topic table, a cluster's controller): Metadata v10+ and DescribeTopicPartitions answer it per
topic, and the zero UUID (Kafka's "no id") for a topic that does not exist. A Metadata v12
request may name topics by id instead (Kafka 4 consumers resolve their assignments so): then
the names are ignored, as Kafka's ``KafkaApis.handleTopicMetadataRequest`` ignores them, each
known id is answered as its topic, nothing is auto-created, and an unknown id is answered
UNKNOWN_TOPIC_ID with no name. An id in a request below v12 is INVALID_REQUEST for every
topic of the request, as Kafka answers it.

DescribeCluster (v0-v2) names the same brokers and controller as Metadata, and with
``include_fenced_brokers`` (v2, KIP-1073) also the brokers the controller fenced, marked
``is_fenced``. DescribeTopicPartitions (KIP-966) answers what Metadata answers of the topics
named (or of all), a page at a time (:mod:`pcmodel.topics.partition_pages`); it creates no
topic, answers a leaderless partition with leader -1 and no error (as Kafka does), and its
eligible leader replicas are empty lists: pcmodel's controller keeps none. Asked for the
authorized operations (of the cluster, of each topic; DescribeTopicPartitions always gives a
topic's), they answer every operation the resource has, as a Kafka broker without an
authorizer does (pcmodel has no ACLs: :mod:`pcmodel.topics.authorization`). A
broker listener describes brokers only: asked for controllers (``endpoint_type`` 2) it answers
MISMATCHED_ENDPOINT_TYPE, and UNSUPPORTED_ENDPOINT_TYPE for any other type, as Kafka's
``AuthHelper.computeDescribeClusterResponse``.
"""

from __future__ import annotations

import uuid
from typing import Any

from kafka.protocol.admin import DescribeClusterRequest, DescribeClusterResponse
from kafka.protocol.admin.topics import (
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
)
from kafka.protocol.metadata import (
    FindCoordinatorRequest,
    FindCoordinatorResponse,
    MetadataRequest,
    MetadataResponse,
)

from pcmodel.topics.authorization import CLUSTER_OPERATIONS, TOPIC_OPERATIONS, bit_field
from pcmodel.topics.errors import InvalidRequestError
from pcmodel.topics.partition_pages import PartitionsCursor, page_of_partitions
from pcmodel.topics.topic_settings import is_internal_topic
from pcmodel.wire.api import (
    ApiHandler,
    RequestContext,
    authorized_operations,
    error_code,
    error_message,
    kafka_errors,
)
from pcmodel.wire.view import CLUSTER_ID

__all__ = ["CLUSTER_ID", "HANDLERS", "all_topics"]

_LEADER_NOT_AVAILABLE = kafka_errors.LeaderNotAvailableError.errno

#: DescribeCluster's endpoint types (KIP-919): this listener serves brokers.
_BROKERS, _CONTROLLERS = 1, 2

#: Kafka's coordinator types (FindCoordinator's ``key_type``): a consumer group, a
#: transactional id.
_GROUP_COORDINATOR, _TRANSACTION_COORDINATOR = 0, 1

Topic = MetadataResponse.MetadataResponseTopic
Partition = Topic.MetadataResponsePartition


def _topic(ctx: RequestContext, name: str, partitions: int | None, listed: set[int],
           code: int = 0, topic_id: uuid.UUID | None = None) -> Any:
    """One topic's entry; a partition whose leader is not among the ``listed`` brokers is
    answered LEADER_NOT_AVAILABLE with leader -1, as Kafka answers a partition without a leader
    or whose leader is not alive: a client must never learn of a leader it has no address for
    (the controller may fence a broker between reading the partitions and the brokers).
    ``topic_id`` ``None`` is sent as the zero UUID."""
    return Topic(
        error_code=code, name=name, topic_id=topic_id, is_internal=is_internal_topic(name),
        partitions=[
            Partition(error_code=0 if p.leader in listed else _LEADER_NOT_AVAILABLE,
                      partition_index=p.partition,
                      leader_id=p.leader if p.leader in listed else -1,
                      leader_epoch=p.leader_epoch, replica_nodes=list(p.replicas),
                      isr_nodes=list(p.isr), offline_replicas=list(p.offline))
            for p in (ctx.view.partitions(name, partitions) if partitions else ())
        ],
    )


def all_topics(ctx: RequestContext) -> dict[str, int]:
    """Every topic with its partition count, internal ones included where the broker has any."""
    topics = dict(ctx.broker.list_topics())
    internal = getattr(ctx.broker, "internal_topics", None)
    if internal is not None:
        topics.update(internal())
    return dict(sorted(topics.items()))


def _asked_by_id(ctx: RequestContext, request: Any) -> list[Any] | None:
    """The topic ids a Metadata request names (zero ids left out), ``None`` if it names
    topics by name only; raises ``InvalidRequestError`` for an id, or a missing name, below
    v12, where Kafka takes neither."""
    if request.topics is None or ctx.api_version < 10:
        return None
    ids = [t.topic_id for t in request.topics if t.topic_id is not None]  # zero id: None
    if ctx.api_version < 12 and (ids or any(t.name is None for t in request.topics)):
        raise InvalidRequestError(
            f"Metadata v{ctx.api_version} names topics by name only: topic ids need v12")
    return list(dict.fromkeys(ids)) or None


def _refused_metadata(ctx: RequestContext, request: Any, exc: Exception) -> Any:
    """Kafka's answer to a request it refuses as a whole (``MetadataRequest.getErrorResponse``):
    every topic asked, with the error and no partitions, and no brokers."""
    return ctx.response(throttle_time_ms=0, brokers=[], cluster_id=None, controller_id=-1,
                        topics=[Topic(error_code=error_code(exc), name=t.name or "",
                                      topic_id=t.topic_id, is_internal=False, partitions=[])
                                for t in request.topics])


def handle_metadata(ctx: RequestContext, request: Any) -> Any:
    """List the live brokers, and every requested topic (all of them for ``topics=None``),
    asked by name or (v12) by topic id."""
    try:
        by_id = _asked_by_id(ctx, request)
    except InvalidRequestError as exc:
        return _refused_metadata(ctx, request, exc)
    existing = all_topics(ctx)
    ids = ctx.broker.topic_ids()
    brokers = [
        MetadataResponse.MetadataResponseBroker(node_id=b.node_id, host=b.host, port=b.port,
                                                rack=None)
        for b in ctx.view.brokers()
    ]
    listed = {b.node_id for b in brokers}
    wanted = request.topics
    if wanted is None or (ctx.api_version == 0 and not wanted):
        topics = [_topic(ctx, name, count, listed, topic_id=ids.get(name))
                  for name, count in existing.items()]
    elif by_id is not None:
        names = {topic_id: name for name, topic_id in ids.items()}
        topics = [_topic(ctx, names[i], existing[names[i]], listed, topic_id=i)
                  if names.get(i) in existing else
                  Topic(error_code=kafka_errors.UnknownTopicIdError.errno, name=None,
                        topic_id=i, is_internal=False, partitions=[])
                  for i in by_id]
    else:
        # Before v4 a client could not refuse auto-creation: Kafka created the topic then.
        allow_create = ctx.api_version < 4 or request.allow_auto_topic_creation
        topics = []
        for item in wanted:
            name = item.name
            try:
                count = existing.get(name) or len(
                    ctx.broker.partitions_for(name, auto_create=allow_create))
            except Exception as exc:  # unknown (auto-creation off or refused), illegal name
                topics.append(_topic(ctx, name, None, listed, error_code(exc)))
            else:
                # A topic created just now is not in ``ids`` yet.
                topic_id = ids.get(name) or ctx.broker.topic_ids().get(name)
                topics.append(_topic(ctx, name, count, listed, topic_id=topic_id))
    if ctx.api_version >= 8:
        for topic in topics:
            topic.authorized_operations = authorized_operations(
                request.include_topic_authorized_operations, TOPIC_OPERATIONS)
    cluster_operations = {"authorized_operations": authorized_operations(
        request.include_cluster_authorized_operations, CLUSTER_OPERATIONS)} \
        if 8 <= ctx.api_version <= 10 else {}
    return ctx.response(
        throttle_time_ms=0, brokers=brokers, cluster_id=ctx.view.cluster_id,
        controller_id=ctx.view.controller_id(), topics=topics, **cluster_operations,
    )


def handle_describe_cluster(ctx: RequestContext, request: Any) -> Any:
    """The cluster id, the controller and the brokers (the fenced ones too, if asked)."""
    endpoint_type = request.endpoint_type if ctx.api_version >= 1 else _BROKERS
    if endpoint_type != _BROKERS:
        code = kafka_errors.MismatchedEndpointTypeError.errno if endpoint_type == _CONTROLLERS \
            else kafka_errors.UnsupportedEndpointTypeError.errno
        message = ("The request was sent to an endpoint of type BROKER, but we wanted an "
                   "endpoint of type CONTROLLER") if endpoint_type == _CONTROLLERS \
            else f"Unsupported endpoint type {endpoint_type}"
        return ctx.response(throttle_time_ms=0, error_code=code, error_message=message,
                            endpoint_type=_BROKERS, cluster_id="", controller_id=-1, brokers=[])
    listed = [(b, False) for b in ctx.view.brokers()]
    if ctx.api_version >= 2 and request.include_fenced_brokers:
        listed += [(b, True) for b in ctx.view.fenced_brokers()]
    listed.sort(key=lambda entry: entry[0].node_id)
    controller = ctx.view.controller_id()
    return ctx.response(
        throttle_time_ms=0, error_code=0, error_message=None, endpoint_type=_BROKERS,
        cluster_id=ctx.view.cluster_id,
        # Kafka answers -1 rather than name a controller the list does not hold.
        controller_id=controller if any(b.node_id == controller for b, _ in listed) else -1,
        brokers=[DescribeClusterResponse.DescribeClusterBroker(
            broker_id=b.node_id, host=b.host, port=b.port, rack=None, is_fenced=fenced)
            for b, fenced in listed],
        authorized_operations=authorized_operations(
            request.include_cluster_authorized_operations, CLUSTER_OPERATIONS),
    )


def handle_find_coordinator(ctx: RequestContext, request: Any) -> Any:
    """The coordinator of each key: of a group, or of a transactional id."""
    if ctx.api_version >= 4:
        keys = list(request.coordinator_keys)
    else:
        keys = [request.key]
    # v0 has no key type: it asks for a group's coordinator.
    key_type = request.key_type if ctx.api_version >= 1 else _GROUP_COORDINATOR
    found = [_coordinator(ctx, key_type, key) for key in keys]
    if ctx.api_version >= 4:
        return ctx.response(throttle_time_ms=0, coordinators=[
            FindCoordinatorResponse.Coordinator(
                key=key, node_id=node, host=host, port=port, error_code=code,
                error_message=message,
            )
            for key, node, host, port, code, message in found
        ])
    _, node, host, port, code, message = found[0]
    return ctx.response(throttle_time_ms=0, error_code=code, error_message=message,
                        node_id=node, host=host, port=port)


def _coordinator(ctx: RequestContext, key_type: int,
                 key: str) -> tuple[str, int, str, int, int, str | None]:
    """``(key, node id, host, port, error code, error message)`` for one key."""
    if key_type == _TRANSACTION_COORDINATOR:
        try:
            address = ctx.view.transaction_coordinator(key)
        except Exception as exc:  # none right now: the client asks again
            return key, -1, "", -1, error_code(exc), error_message(exc)
        return key, address.node_id, address.host, address.port, 0, None
    if key_type != _GROUP_COORDINATOR:
        # Not retriable: asking again cannot make another kind of coordinator appear.
        return (key, -1, "", -1, kafka_errors.InvalidRequestError.errno,
                f"unknown coordinator type {key_type}: this broker coordinates consumer "
                "groups (0) and transactional ids (1)")
    coordinator = ctx.view.coordinator(key)
    if coordinator is None:
        return (key, -1, "", -1, kafka_errors.CoordinatorNotAvailableError.errno,
                "the group's coordinator is being elected; retry")
    return key, coordinator.node_id, coordinator.host, coordinator.port, 0, None


_PageTopic = DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic
_PagePartition = _PageTopic.DescribeTopicPartitionsResponsePartition


def handle_describe_topic_partitions(ctx: RequestContext, request: Any) -> Any:
    """One page of the topics asked (every topic for an empty list) and their partitions, from
    the cursor on, as :mod:`pcmodel.topics.partition_pages` pages them."""
    existing = all_topics(ctx)
    every = not request.topics
    counts = dict(existing) if every else {t.name: existing.get(t.name) for t in request.topics}
    cursor = None if request.cursor is None else PartitionsCursor(
        request.cursor.topic_name, request.cursor.partition_index)
    try:
        pages, following = page_of_partitions(counts, every_topic=every, cursor=cursor,
                                              limit=request.response_partition_limit)
    except InvalidRequestError as exc:  # a cursor outside the request: every topic refused
        return ctx.response(throttle_time_ms=0, next_cursor=None, topics=[
            _PageTopic(error_code=error_code(exc), name=t.name, is_internal=False,
                       partitions=[]) for t in request.topics])
    listed = {b.node_id for b in ctx.view.brokers()}
    ids = ctx.broker.topic_ids()
    topics = []
    for page in pages:
        described = ctx.view.partitions(page.name, existing[page.name]) \
            if page.error is None else []
        topics.append(_PageTopic(
            error_code=0 if page.error is None else error_code(page.error), name=page.name,
            topic_id=ids.get(page.name) if page.error is None else None,
            is_internal=is_internal_topic(page.name),
            # This schema's field is a plain int32 to kafka-python: the bit field itself.
            topic_authorized_operations=bit_field(TOPIC_OPERATIONS),
            partitions=[_PagePartition(
                error_code=0, partition_index=p.partition,
                leader_id=p.leader if p.leader in listed else -1, leader_epoch=p.leader_epoch,
                replica_nodes=list(p.replicas), isr_nodes=list(p.isr),
                eligible_leader_replicas=[], last_known_elr=[],
                offline_replicas=list(p.offline))
                for p in described if p.partition in page.partitions]))
    next_cursor = None if following is None else DescribeTopicPartitionsResponse.Cursor(
        topic_name=following.topic_name, partition_index=following.partition_index)
    return ctx.response(throttle_time_ms=0, topics=topics, next_cursor=next_cursor)


HANDLERS = {
    MetadataRequest.API_KEY: ApiHandler(MetadataRequest, MetadataResponse, 0, 12, handle_metadata),
    DescribeTopicPartitionsRequest.API_KEY: ApiHandler(
        DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, 0, 0,
        handle_describe_topic_partitions),
    DescribeClusterRequest.API_KEY: ApiHandler(
        DescribeClusterRequest, DescribeClusterResponse, 0, 2, handle_describe_cluster
    ),
    FindCoordinatorRequest.API_KEY: ApiHandler(
        FindCoordinatorRequest, FindCoordinatorResponse, 0, 4, handle_find_coordinator
    ),
}
