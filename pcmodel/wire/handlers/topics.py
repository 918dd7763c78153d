"""CreateTopics, DeleteTopics, CreatePartitions: the admin client's topic operations.

Each topic of a request succeeds or fails on its own, with Kafka's error code and message
(TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION, INVALID_PARTITIONS, ...). A replication
factor above the number of live brokers is INVALID_REPLICATION_FACTOR, as Kafka answers (a lone
broker takes 1 only). Topic configs: ``retention.ms`` and ``cleanup.policy=delete`` are
honoured, and on a replicated cluster (a broker object with ``replicates``) also
``min.insync.replicas`` and ``unclean.leader.election.enable``; common Kafka configs that mean
nothing on an in-memory broker (segment settings...) are accepted with no effect; anything else
is INVALID_CONFIG naming what is supported. Replicas are placed by the broker (a cluster's
controller), so an explicit assignment is accepted only where it is the only possible one (a
lone broker's own id), else INVALID_REPLICA_ASSIGNMENT asking for a replication factor.
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

from pcmodel.topics.broker_topics import check_topic_name
from pcmodel.topics.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from pcmodel.wire.api import ApiHandler, RequestContext, error_code, kafka_errors

__all__ = ["HANDLERS", "IGNORED_TOPIC_CONFIGS"]

#: Kafka's ``num.partitions`` default, used when a request leaves the count to the broker (-1).
DEFAULT_PARTITIONS = 1
#: Topic configs accepted and ignored: they tune storage or replication this broker has not.
IGNORED_TOPIC_CONFIGS = frozenset({
    "min.insync.replicas", "segment.bytes", "segment.ms", "segment.index.bytes",
    "segment.jitter.ms", "flush.messages", "flush.ms", "index.interval.bytes",
    "unclean.leader.election.enable", "preallocate", "message.downconversion.enable",
    "compression.type", "max.message.bytes", "message.timestamp.type",
    "file.delete.delay.ms", "delete.retention.ms", "min.cleanable.dirty.ratio",
})


class _Refused(Exception):  # noqa: N818 - carries a Kafka error code for one topic
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


#: Topic configs a replicated cluster honours: name -> (keyword, parser).
_REPLICATION_CONFIGS = {
    "min.insync.replicas": ("min_insync_replicas", int),
    "unclean.leader.election.enable": (
        "unclean_leader_election_enable",
        lambda v: {"true": True, "false": False}[str(v).strip().lower()],
    ),
}


def _create_options(ctx: RequestContext, configs: list[Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    replicates = getattr(ctx.broker, "replicates", False)
    for config in configs or ():
        name, value = config.name, config.value
        if replicates and name in _REPLICATION_CONFIGS:
            keyword, parse = _REPLICATION_CONFIGS[name]
            try:
                options[keyword] = parse(value)
            except (KeyError, TypeError, ValueError):
                raise _Refused(kafka_errors.InvalidConfigurationError.errno,
                               f"{name} has an invalid value {value!r}") from None
        elif name == "retention.ms":
            try:
                ms = int(value)
            except (TypeError, ValueError):
                raise _Refused(kafka_errors.InvalidConfigurationError.errno,
                               f"retention.ms must be an integer, got {value!r}") from None
            options["retention_ms"] = None if ms < 0 else ms
        elif name == "cleanup.policy":
            if value != "delete":
                raise _Refused(kafka_errors.InvalidConfigurationError.errno,
                               f"cleanup.policy={value!r} is not supported; only 'delete'")
        elif name not in IGNORED_TOPIC_CONFIGS:
            raise _Refused(
                kafka_errors.InvalidConfigurationError.errno,
                f"unknown or unsupported topic config {name!r}; supported: retention.ms, "
                "cleanup.policy=delete (and, with no effect here: "
                f"{', '.join(sorted(IGNORED_TOPIC_CONFIGS))})",
            )
    return options


def _check_assignment(ctx: RequestContext, what: str, broker_ids: list[int]) -> None:
    """Refuse an explicit replica assignment unless it is the only possible one."""
    if getattr(ctx.broker, "replicates", False):
        raise _Refused(
            kafka_errors.InvalidReplicationAssignmentError.errno,
            f"{what} is assigned to brokers {broker_ids}; this cluster's controller places "
            "replicas itself: ask for a replication factor instead of an assignment",
        )
    if broker_ids != [ctx.node_id]:
        raise _Refused(
            kafka_errors.InvalidReplicationAssignmentError.errno,
            f"{what} is assigned to brokers {broker_ids}; the only broker is {ctx.node_id}",
        )


def _partition_count(ctx: RequestContext, topic: Any) -> tuple[int, int | None]:
    """``(partitions, replication factor)``; ``None``: the broker's default factor."""
    if topic.assignments:
        for assignment in topic.assignments:
            _check_assignment(ctx, f"partition {assignment.partition_index}",
                              list(assignment.broker_ids))
        return len(topic.assignments), None
    live = len(ctx.view.brokers())
    rf = topic.replication_factor
    if rf != -1 and not 1 <= rf <= live:
        raise _Refused(
            kafka_errors.InvalidReplicationFactorError.errno,
            f"Replication factor: {rf} larger than available brokers: {live}." if rf > live
            else f"Replication factor must be larger than 0 (or -1 for the default), got {rf}.",
        )
    partitions = DEFAULT_PARTITIONS if topic.num_partitions == -1 else topic.num_partitions
    return partitions, None if rf == -1 else rf


def _create_one(ctx: RequestContext, topic: Any,
                validate_only: bool) -> tuple[int, str | None, int, int]:
    """``(error code, message, partitions, replication factor)`` of one topic."""
    try:
        partitions, rf = _partition_count(ctx, topic)
        options = _create_options(ctx, topic.configs)
        if getattr(ctx.broker, "replicates", False):
            options["replication_factor"] = rf
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
        return exc.code, str(exc), -1, -1
    except Exception as exc:
        return error_code(exc), str(exc), -1, -1
    if rf is None:
        rf = getattr(ctx.broker, "default_replication_factor", 1)
    return 0, None, partitions, rf


def handle_create_topics(ctx: RequestContext, request: Any) -> Any:
    """Create each topic (or only validate, with ``validate_only``)."""
    results = []
    for topic in request.topics:
        code, message, partitions, rf = _create_one(ctx, topic, request.validate_only)
        results.append(CreateTopicsResponse.CreatableTopicResult(
            name=topic.name, error_code=code, error_message=message,
            num_partitions=partitions, replication_factor=rf,
            configs=[] if code == 0 else None,
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
            code, message = error_code(exc), str(exc)
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
            for assignment in topic.assignments or ():
                _check_assignment(ctx, "a new partition", list(assignment.broker_ids))
            if request.validate_only:
                current = ctx.broker.partitions_for(topic.name)
                if topic.count <= len(current):
                    raise _Refused(
                        kafka_errors.InvalidPartitionsError.errno,
                        f"topic {topic.name!r} already has {len(current)} partitions; the new "
                        f"total must be larger (got {topic.count})",
                    )
            else:
                ctx.broker.add_partitions(topic.name, topic.count)
        except _Refused as exc:
            code, message = exc.code, str(exc)
        except Exception as exc:
            code, message = error_code(exc), str(exc)
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
