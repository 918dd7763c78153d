"""Metadata and FindCoordinator: who leads what. Here one broker leads everything.

Metadata lists this listener as the only broker and as leader, sole replica and sole in-sync
replica of every partition; a requested topic that does not exist is created when the client
allows it and the broker's ``auto_create_topics_enable`` is on (Kafka's defaults), else
answered UNKNOWN_TOPIC_OR_PARTITION; FindCoordinator names it coordinator of every group. Topics are
named, never identified by topic id (ids arrived with versions this listener does not serve
for Fetch), so ``topic_id`` is the zero UUID, Kafka's "no id".
"""

from __future__ import annotations

from typing import Any

from kafka.protocol.metadata import (
    FindCoordinatorRequest,
    FindCoordinatorResponse,
    MetadataRequest,
    MetadataResponse,
)

from pcmodel.wire.api import ApiHandler, RequestContext, error_code, kafka_errors

__all__ = ["CLUSTER_ID", "HANDLERS"]

#: What Metadata reports as the cluster id (a single broker is a cluster of one).
CLUSTER_ID = "pcmodel"
#: Kafka's coordinator types (FindCoordinator's ``key_type``): 0 is a consumer group.
_GROUP_COORDINATOR = 0

Topic = MetadataResponse.MetadataResponseTopic
Partition = Topic.MetadataResponsePartition


def _topic(ctx: RequestContext, name: str, partitions: int | None, code: int = 0) -> Any:
    node = ctx.node_id
    return Topic(
        error_code=code, name=name, is_internal=False,
        partitions=[
            Partition(error_code=0, partition_index=p, leader_id=node, leader_epoch=0,
                      replica_nodes=[node], isr_nodes=[node], offline_replicas=[])
            for p in range(partitions or 0)
        ],
    )


def handle_metadata(ctx: RequestContext, request: Any) -> Any:
    """List this broker, and every requested topic (all of them for ``topics=None``)."""
    existing = ctx.broker.list_topics()
    wanted = request.topics
    if wanted is None or (ctx.api_version == 0 and not wanted):
        topics = [_topic(ctx, name, count) for name, count in existing.items()]
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
                topics.append(_topic(ctx, name, None, error_code(exc)))
            else:
                topics.append(_topic(ctx, name, count))
    broker = MetadataResponse.MetadataResponseBroker(
        node_id=ctx.node_id, host=ctx.host, port=ctx.port, rack=None
    )
    return ctx.response(
        throttle_time_ms=0, brokers=[broker], cluster_id=CLUSTER_ID,
        controller_id=ctx.node_id, topics=topics,
    )


def handle_find_coordinator(ctx: RequestContext, request: Any) -> Any:
    """This broker coordinates every group; transactions are not supported."""
    if ctx.api_version >= 4:
        keys = list(request.coordinator_keys)
    else:
        keys = [request.key]
    found = []
    for key in keys:
        if request.key_type == _GROUP_COORDINATOR:
            found.append((key, ctx.node_id, ctx.host, ctx.port, 0, None))
        else:
            found.append((
                # Not retriable: retrying cannot make transactions appear.
                key, -1, "", -1, kafka_errors.InvalidRequestError.errno,
                "this broker coordinates consumer groups only (no transactions)",
            ))
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


HANDLERS = {
    MetadataRequest.API_KEY: ApiHandler(MetadataRequest, MetadataResponse, 0, 12, handle_metadata),
    FindCoordinatorRequest.API_KEY: ApiHandler(
        FindCoordinatorRequest, FindCoordinatorResponse, 0, 4, handle_find_coordinator
    ),
}
