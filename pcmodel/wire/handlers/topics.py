"""CreateTopics, DeleteTopics, CreatePartitions: the admin client's topic operations.

Each topic of a request succeeds or fails on its own, with Kafka's error code and message
(TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION, INVALID_PARTITIONS, ...). The replication
factor and the topic configs follow :mod:`pcmodel.topics.topic_configs`, as pcmodel's own
admin client does: a factor above the registered brokers, alive or not, is
INVALID_REPLICATION_FACTOR (a lone broker takes 1 only), a config neither honoured nor known
to mean nothing here is INVALID_CONFIG naming what is supported. A created topic's answer
lists its every config (CreateTopics v5 and later, as DescribeConfigs would). Replicas are
placed by the broker (a cluster's controller), or by hand: CreateTopics' and
CreatePartitions' assignments name each partition's brokers, checked as Kafka's controller
checks them, in its words (:mod:`pcmodel.topics.replica_placement`:
INVALID_REPLICA_ASSIGNMENT for a repeated or unknown broker, lists of different lengths,
partitions not 0, 1, 2..., brokers all down; INVALID_REQUEST for an assignment with a
partition count or a replication factor other than -1). A lone broker is the only broker:
its own id is the only one a list may name.

A topic named twice in one request is neither created, deleted nor grown: each such name is
answered once, INVALID_REQUEST "Duplicate topic name.", after the other topics, as Kafka's
``ControllerApis`` answers it (the request cannot say which of its entries to follow).

A new topic is checked in the order of Kafka's controller (``ReplicationControlManager.
createTopics``), so that each mistake is answered as Kafka answers it: its name
(INVALID_TOPIC_EXCEPTION, also for a name that differs from an existing topic's only by ``.``
against ``_``, though not from one the same request created: Kafka checks against the topics
that existed before the request, so ``a.b`` and ``a_b`` in one request are both created), a
topic of that name (TOPIC_ALREADY_EXISTS, whatever else is wrong), its
configs (INVALID_CONFIG, "Null value not supported..." for one without a value), then its
replicas placed by hand, or else its replication factor (below 1: INVALID_REPLICATION_FACTOR),
its partition count (INVALID_PARTITIONS) and the factor against the brokers.
``validate_only`` runs every check and creates nothing.

Topic ids (KIP-516): a created topic's answer carries the id the broker drew for it
(CreateTopics v7), and DeleteTopics v6 takes topics by id as well as by name, answering each
deleted topic's name and id, as Kafka's ``ControllerApis.deleteTopics`` does. One deliberate
difference: with ``validate_only`` Kafka answers a freshly drawn id for a topic it never
creates; here that id is left out (the zero id), since no topic will ever have it.
"""

from __future__ import annotations

import uuid
from collections import Counter
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
    InvalidReplicationAssignmentError,
    InvalidTopicError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.replica_placement import (
    add_partitions_placed,
    new_topic_assignment,
    replication_factor_on,
)
from pcmodel.topics.topic_configs import (
    check_topic_configs,
    describe_topic_configs,
    topic_options,
)
from pcmodel.topics.topic_settings import (
    check_new_topic_name,
    check_new_topic_size,
    check_topic_name,
)
from pcmodel.wire.api import ApiHandler, RequestContext, error_code, error_message, kafka_errors

__all__ = ["HANDLERS"]

_CreatedConfig = CreateTopicsResponse.CreatableTopicResult.CreatableTopicConfigs

#: Kafka's ``num.partitions`` default, used when a request leaves the count to the broker (-1).
DEFAULT_PARTITIONS = 1


#: Kafka's answer to a topic named more than once in one request.
_DUPLICATE = "Duplicate topic name."
#: ``(topic name, request entry)`` pairs, in request order.
_Named = list[tuple[str, Any]]


def _split_duplicates(named: _Named) -> tuple[_Named, list[str]]:
    """``named`` without the entries whose name appears more than once, and those names,
    each once, in order of first appearance."""
    counts = Counter(name for name, _ in named)
    once = [(name, entry) for name, entry in named if counts[name] == 1]
    return once, [name for name, n in counts.items() if n > 1]


class _Refused(Exception):  # noqa: N818 - carries a Kafka error code for one topic
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _partition_count(ctx: RequestContext, topic: Any
                     ) -> tuple[int, int | None, list[tuple[int, ...]] | None]:
    """``(partitions, replication factor, replicas placed by hand)``; a factor of ``None``:
    the broker's default; no placement: the broker's (a cluster's controller's). Checked in
    the order Kafka's controller checks them: a placement, else the factor's value, the
    count, then the factor against the brokers (:func:`replication_factor_on`)."""
    if topic.assignments:
        placed = new_topic_assignment(
            ctx.broker, topic.num_partitions, topic.replication_factor,
            ((a.partition_index, list(a.broker_ids)) for a in topic.assignments),
            node_id=ctx.node_id)
        return len(placed), len(placed[0]), placed
    rf = replication_factor_on(ctx.broker, topic.replication_factor,
                               partitions=topic.num_partitions)
    partitions = topic.num_partitions
    if partitions == -1:  # Kafka's num.partitions: the broker's setting
        partitions = getattr(ctx.broker, "num_partitions", DEFAULT_PARTITIONS)
    return partitions, rf, None


def _create_one(ctx: RequestContext, topic: Any, validate_only: bool,
                made: list[str]) -> tuple[int, str | None, int, int]:
    """``(error code, message, partitions, replication factor)`` of one topic, checked in
    the order of Kafka's controller: its name, a topic it would clash with (not one of
    ``made``, the request's topics created before it), its configs, then its partitions
    and replicas; ``validate_only`` stops there. A topic created is added to ``made``."""
    try:
        check_topic_name(topic.name)
        check_new_topic_name(topic.name, ctx.broker.topic_ids(), made)  # internal ones too
        unset = [config.name for config in topic.configs or () if config.value is None]
        if unset:
            raise _Refused(kafka_errors.InvalidConfigurationError.errno,
                           f"Null value not supported for topic configs: {','.join(unset)}")
        configs = {config.name: config.value for config in topic.configs or ()}
        topic_options(configs, replicates=getattr(ctx.broker, "replicates", False))  # checks
        partitions, rf, placed = _partition_count(ctx, topic)
        options: dict[str, Any] = {"configs": configs}
        if getattr(ctx.broker, "replicates", False):
            if placed is None:
                options["replication_factor"] = rf
            else:
                options["replica_assignment"] = placed
        check_new_topic_size(partitions, configs)  # validate_only too
        if not validate_only:
            if made:
                options["created_with"] = tuple(made)
            ctx.broker.create_topic(topic.name, partitions, **options)
            made.append(topic.name)
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
    topics, duplicates = _split_duplicates([(t.name, t) for t in request.topics])
    made: list[str] = []
    for _, topic in topics:
        code, message, partitions, rf = _create_one(ctx, topic, request.validate_only, made)
        created = code == 0 and not request.validate_only
        results.append(CreateTopicsResponse.CreatableTopicResult(
            name=topic.name, error_code=code, error_message=message,
            topic_id=ctx.broker.topic_ids().get(topic.name) if created else None,
            num_partitions=partitions, replication_factor=rf,
            configs=_created_configs(topic) if code == 0 else None,
        ))
    results += [CreateTopicsResponse.CreatableTopicResult(
        name=name, error_code=kafka_errors.InvalidRequestError.errno, error_message=_DUPLICATE,
        num_partitions=-1, replication_factor=-1, configs=None) for name in duplicates]
    return ctx.response(throttle_time_ms=0, topics=results)


def handle_delete_topics(ctx: RequestContext, request: Any) -> Any:
    """Delete each topic named, or (v6) identified by its topic id, as Kafka's
    ``ControllerApis.deleteTopics`` checks: neither name nor id, or both, is INVALID_REQUEST;
    an id the broker does not know is UNKNOWN_TOPIC_ID; a name or an id given twice, or a
    name whose topic's id was given too (once or twice), is INVALID_REQUEST and deletes
    nothing. A topic given by id is deleted by that id: if it was deleted and created again
    under the same name since, the new topic stays and the id is UNKNOWN_TOPIC_ID. Kafka
    shuffles its answers; these come in a fixed order (refused entries, topics given by name,
    topics given by id, duplicates), which no client relies on."""
    Result = DeleteTopicsResponse.DeletableTopicResult  # noqa: N806
    invalid = kafka_errors.InvalidRequestError.errno
    results = []
    named: list[str] = list(request.topic_names) if ctx.api_version < 6 else []
    by_id: list[uuid.UUID] = []
    for topic in request.topics if ctx.api_version >= 6 else ():
        name, topic_id = topic.name, topic.topic_id  # the zero id decodes as None
        if name is None and topic_id is None:
            results.append(Result(name=None, topic_id=None, error_code=invalid,
                                  error_message="Neither topic name nor id were specified."))
        elif name is None:
            by_id.append(topic_id)
        elif topic_id is not None:
            results.append(Result(
                name=name, topic_id=topic_id, error_code=invalid,
                error_message="You may not specify both topic name and topic id."))
        else:
            named.append(name)
    ids = ctx.broker.topic_ids()
    ids_once, duplicate_ids = _split_duplicates([(topic_id, None) for topic_id in by_id])
    names_once, duplicates = _split_duplicates([(name, None) for name in named])
    given_ids = {topic_id for topic_id, _ in ids_once} | set(duplicate_ids)
    refused_ids: set[uuid.UUID] = set()  # ids also given through a name: Kafka deletes neither
    to_delete = []
    for name, _ in names_once:
        topic_id = ids.get(name)
        if topic_id in given_ids:
            refused_ids.add(topic_id)
            results.append(Result(
                name=name, topic_id=topic_id, error_code=invalid,
                error_message="The provided topic name maps to an ID that was already "
                              "supplied."))
        else:
            to_delete.append(name)
    for name in to_delete:
        try:
            topic_id = ctx.broker.delete_topic(name)  # by name in one step: the deleted id
        except Exception as exc:
            code, message, topic_id = error_code(exc), error_message(exc), ids.get(name)
        else:
            code, message = 0, None
        results.append(Result(name=name, topic_id=topic_id, error_code=code,
                              error_message=message))
    for topic_id in [topic_id for topic_id, _ in ids_once if topic_id not in refused_ids]:
        try:
            deleted = ctx.broker.delete_topic_by_id(topic_id)  # one step, by the id
        except Exception as exc:
            deleted = next((name for name, known in ids.items() if known == topic_id), None)
            code, message = error_code(exc), error_message(exc)
        else:
            code, message = 0, None
            if deleted is None:
                code = kafka_errors.UnknownTopicIdError.errno
                message = kafka_errors.UnknownTopicIdError.description
        results.append(Result(name=deleted, topic_id=topic_id, error_code=code,
                              error_message=message))
    results += [Result(name=name, error_code=invalid, error_message=_DUPLICATE)
                for name in duplicates]
    results += [Result(name=None, topic_id=topic_id, error_code=invalid,
                       error_message="Duplicate topic id.") for topic_id in duplicate_ids]
    return ctx.response(throttle_time_ms=0, responses=results)


def _add_partitions(ctx: RequestContext, topic: Any, validate_only: bool) -> None:
    """Grow one topic, refused as Kafka's controller refuses it: a name no topic has is
    UNKNOWN_TOPIC_OR_PARTITION (an illegal one too: the controller only looks it up), and an
    empty assignment list, unlike a null one, places none of the new partitions:
    INVALID_REPLICA_ASSIGNMENT."""
    try:
        current = len(ctx.broker.partitions_for(topic.name))
    except InvalidTopicError:
        raise UnknownTopicOrPartitionError(f"unknown topic {topic.name!r}") from None
    assignments = [list(a.broker_ids) for a in topic.assignments or ()]
    if topic.assignments is not None and not assignments and topic.count > current:
        raise InvalidReplicationAssignmentError(
            f"Attempted to add {topic.count - current} additional partition(s), but only 0 "
            "assignment(s) were specified.")
    add_partitions_placed(ctx.broker, topic.name, topic.count, assignments,
                          node_id=ctx.node_id, validate_only=validate_only)


def handle_create_partitions(ctx: RequestContext, request: Any) -> Any:
    """Grow each topic to its new partition count."""
    results = []
    topics, duplicates = _split_duplicates([(t.name, t) for t in request.topics])
    for _, topic in topics:
        try:
            _add_partitions(ctx, topic, request.validate_only)
        except Exception as exc:
            code, message = error_code(exc), error_message(exc)
        else:
            code, message = 0, None
        results.append(CreatePartitionsResponse.CreatePartitionsTopicResult(
            name=topic.name, error_code=code, error_message=message,
        ))
    results += [CreatePartitionsResponse.CreatePartitionsTopicResult(
        name=name, error_code=kafka_errors.InvalidRequestError.errno, error_message=_DUPLICATE)
        for name in duplicates]
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
