"""CreateTopics, DeleteTopics, CreatePartitions: the admin client's topic operations.

Each topic of a request succeeds or fails on its own, with Kafka's error code and message
(TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION, INVALID_PARTITIONS, ...). The replication
factor and the topic configs follow :mod:`pcmodel.topics.topic_configs`, as pcmodel's own
admin client does: a factor above the number of live brokers is INVALID_REPLICATION_FACTOR (a
lone broker takes 1 only), a config neither honoured nor known to mean nothing here is
INVALID_CONFIG naming what is supported. A created topic's answer lists its every config
(CreateTopics v5 and later, as DescribeConfigs would). Replicas are placed by the broker (a
cluster's controller), or by hand: CreateTopics' and CreatePartitions' assignments name each
partition's brokers, checked as Kafka's controller checks them
(:mod:`pcmodel.topics.replica_placement`: INVALID_REPLICA_ASSIGNMENT for a repeated or unknown
broker, lists of different lengths, partitions not 0, 1, 2..., brokers all down;
INVALID_REQUEST for an assignment with a partition count or a replication factor other than
-1). A lone broker is the only broker: its own id is the only one a list may name.
"""

from __future__ import annotations

from typing import Any

from kafka.protocol.admin import (
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
)

from pcmodel.topics.errors import (
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.replica_placement import (
    add_partitions_placed,
    check_replication_factor,
    new_topic_assignment,
)
from pcmodel.topics.topic_configs import (
    check_topic_configs,
    describe_topic_configs,
    topic_options,
)
from pcmodel.topics.topic_settings import check_topic_name
from pcmodel.wire.api import ApiHandler, RequestContext, error_code, error_message, kafka_errors

__all__ = ["HANDLERS"]

_CreatedConfig = CreateTopicsResponse.CreatableTopicResult.CreatableTopicConfigs

#: Kafka's ``num.partitions`` default, used when a request leaves the count to the broker (-1).
DEFAULT_PARTITIONS = 1


class _Refused(Exception):  # noqa: N818 - carries a Kafka error code for one topic
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _partition_count(ctx: RequestContext, topic: Any
                     ) -> tuple[int, int | None, list[tuple[int, ...]] | None]:
    """``(partitions, replication factor, replicas placed by hand)``; a factor of ``None``:
    the broker's default; no placement: the broker's (a cluster's controller's)."""
    if topic.assignments:
        placed = new_topic_assignment(
            ctx.broker, topic.num_partitions, topic.replication_factor,
            ((a.partition_index, list(a.broker_ids)) for a in topic.assignments),
            node_id=ctx.node_id)
        return len(placed), len(placed[0]), placed
    rf = check_replication_factor(topic.replication_factor, len(ctx.view.brokers()))
    partitions = topic.num_partitions
    if partitions == -1:  # Kafka's num.partitions: the broker's setting
        partitions = getattr(ctx.broker, "num_partitions", DEFAULT_PARTITIONS)
    return partitions, rf, None


def _create_one(ctx: RequestContext, topic: Any,
                validate_only: bool) -> tuple[int, str | None, int, int]:
    """``(error code, message, partitions, replication factor)`` of one topic."""
    try:
        partitions, rf, placed = _partition_count(ctx, topic)
        configs = {config.name: config.value for config in topic.configs or ()}
        topic_options(configs, replicates=getattr(ctx.broker, "replicates", False))  # checks
        options: dict[str, Any] = {"configs": configs}
        if getattr(ctx.broker, "replicates", False):
            if placed is None:
                options["replication_factor"] = rf
            else:
                options["replica_assignment"] = placed
        if validate_only:
            check_topic_name(topic.name)
            if topic.name in ctx.broker.list_topics():
                raise TopicAlreadyExistsError(f"topic {topic.name!r} already exists")
            if partitions < 1:
                raise _Refused(kafka_errors.InvalidPartitionsError.errno,
                               f"the number of partitions must be >= 1, got {partitions}")
        else:
            ctx.broker.create_topic(topic.name, partitions, **options)
    except _Refused as exc:
        return exc.code, error_message(exc), -1, -1
    except Exception as exc:
        return error_code(exc), error_message(exc), -1, -1
    if rf is None:
        rf = getattr(ctx.broker, "default_replication_factor", 1)
    return 0, None, partitions, rf


def _created_configs(topic: Any) -> list[Any]:
    """The new topic's every config (CreateTopics v5+ answers them, as DescribeConfigs would)."""
    overrides = check_topic_configs({c.name: c.value for c in topic.configs or ()})
    return [_CreatedConfig(name=e.name, value=e.value, read_only=e.read_only,
                           config_source=int(e.source), is_sensitive=e.sensitive)
            for e in describe_topic_configs(overrides)]


def handle_create_topics(ctx: RequestContext, request: Any) -> Any:
    """Create each topic (or only validate, with ``validate_only``)."""
    results = []
    for topic in request.topics:
        code, message, partitions, rf = _create_one(ctx, topic, request.validate_only)
        results.append(CreateTopicsResponse.CreatableTopicResult(
            name=topic.name, error_code=code, error_message=message,
            num_partitions=partitions, replication_factor=rf,
            configs=_created_configs(topic) if code == 0 else None,
        ))
    return ctx.response(throttle_time_ms=0, topics=results)


def handle_delete_topics(ctx: RequestContext, request: Any) -> Any:
    """Delete each named topic; a topic named only by id is unknown (there are no ids)."""
    if ctx.api_version >= 6:
        names = [t.name for t in request.topics]
    else:
        names = list(request.topic_names)
    results = []
    for name in names:
        try:
            if name is None:
                raise UnknownTopicOrPartitionError("topics are deleted by name on this broker")
            ctx.broker.delete_topic(name)
        except Exception as exc:
            code, message = error_code(exc), error_message(exc)
        else:
            code, message = 0, None
        results.append(DeleteTopicsResponse.DeletableTopicResult(
            name=name, error_code=code, error_message=message,
        ))
    return ctx.response(throttle_time_ms=0, responses=results)


def handle_create_partitions(ctx: RequestContext, request: Any) -> Any:
    """Grow each topic to its new partition count."""
    results = []
    for topic in request.topics:
        try:
            add_partitions_placed(ctx.broker, topic.name, topic.count,
                                  [list(a.broker_ids) for a in topic.assignments or ()],
                                  node_id=ctx.node_id, validate_only=request.validate_only)
        except Exception as exc:
            code, message = error_code(exc), error_message(exc)
        else:
            code, message = 0, None
        results.append(CreatePartitionsResponse.CreatePartitionsTopicResult(
            name=topic.name, error_code=code, error_message=message,
        ))
    return ctx.response(throttle_time_ms=0, results=results)


HANDLERS = {
    CreateTopicsRequest.API_KEY: ApiHandler(
        CreateTopicsRequest, CreateTopicsResponse, 0, 7, handle_create_topics
    ),
    DeleteTopicsRequest.API_KEY: ApiHandler(
        DeleteTopicsRequest, DeleteTopicsResponse, 0, 6, handle_delete_topics
    ),
    CreatePartitionsRequest.API_KEY: ApiHandler(
        CreatePartitionsRequest, CreatePartitionsResponse, 0, 3, handle_create_partitions
    ),
}
