"""The answer to a request whose handler failed: the error response a Kafka broker sends.

When serving a request fails on a Kafka broker (an exception escapes ``KafkaApis``, a bug
included), ``RequestHandlerHelper.handleError`` sends ``request.getErrorResponse(throttleTimeMs,
e)`` and closes the connection only where that is ``null`` (a Produce with ``acks=0``, which
expects no answer). Each request class builds its own (``clients/src/main/java/org/apache/kafka/
common/requests/*Request.java``): typically the error in every item the request named (every
partition of a Produce, topic of a Metadata, group of a DescribeGroups...) plus the request-wide
``error_code`` where the version has one. :func:`error_response` builds it for every API the
listener serves, one small builder per API (each docstring names the Kafka request class it
follows), reading the decoded request with kafka-python's field names, as the handlers do.

The error is the exception's code (:func:`pcmodel.wire.api.error_code`: UNKNOWN_SERVER_ERROR for
a bug). Where Kafka sends ``ApiError.fromThrowable(e)``'s message, there is none for
UNKNOWN_SERVER_ERROR (a bug's details stay in the broker's log) and otherwise the exception's
text; where it sends ``Errors.message()`` (FindCoordinator, DescribeConfigs), the code's
generic text: Kafka's own for UNKNOWN_SERVER_ERROR and INVALID_REQUEST, the codes a failure
usually maps to, kafka-python's description for any other.

Some answers say little, as Kafka's do: a Metadata asking for every topic gets no topics and no
brokers, a DescribeLogDirs before v3 an empty list; the client asks again later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from pcmodel.wire.api import RequestContext, error_code, error_message, kafka_errors

__all__ = ["error_response"]

_UNKNOWN_SERVER_ERROR = kafka_errors.UnknownError.errno
_INVALID_REQUEST = kafka_errors.InvalidRequestError.errno
_UNSUPPORTED_VERSION = kafka_errors.UnsupportedVersionError.errno
#: Kafka's ``Errors.message()`` for the codes a failure usually maps to (kafka-python's
#: descriptions are worded differently).
_KAFKA_MESSAGES = {
    _UNKNOWN_SERVER_ERROR:
        "The server experienced an unexpected error when processing the request.",
    _INVALID_REQUEST:
        "This most likely occurs because of a request being malformed by the client library or "
        "the message was sent to an incompatible broker. See the broker logs for more details.",
}
#: Kafka's sentinels: ``Node.noNode()``, an invalid offset or epoch.
_NO_NODE = dict(node_id=-1, host="", port=-1)
_INVALID = -1


class _Failure(NamedTuple):
    """What a failed request is answered with: Kafka's error ``code``, ``message`` as
    ``ApiError.fromThrowable`` gives it (``None`` for UNKNOWN_SERVER_ERROR or a generic text),
    and ``generic``, the code's own text (``Errors.message()``)."""

    code: int
    message: str | None
    generic: str

    @classmethod
    def of(cls, exc: BaseException) -> _Failure:
        """The failure ``exc`` stands for, with its code from :func:`error_code`."""
        code = error_code(exc)
        generic = _KAFKA_MESSAGES.get(code) or kafka_errors.for_code(code).description
        text = error_message(exc)
        message = None if code == _UNKNOWN_SERVER_ERROR or text == generic else text
        return cls(code, message, generic)


def error_response(ctx: RequestContext, request: Any, exc: BaseException) -> Any | None:
    """The response a Kafka broker sends for ``request`` (decoded, at ``ctx.api_version``) when
    serving it raised ``exc``; ``None`` where Kafka sends none and closes the connection (a
    Produce with ``acks=0``). Raises ``KeyError`` for an API key it does not know."""
    build = _BUILDERS[ctx.api_key]
    return build(ctx, request, _Failure.of(exc))


# --- helpers ---------------------------------------------------------------------------------


def _item(ctx: RequestContext, *path: str) -> Any:
    """The class of the nested items at ``path`` in this request's response."""
    cls = ctx.response_class
    for name in path:
        cls = cls.fields[name].data_class
    return cls


def _has(ctx: RequestContext, name: str) -> bool:
    """Whether the response has the top-level field ``name`` at this request's version."""
    field = ctx.response_class.fields.get(name)
    return field is not None and field.for_version_q(ctx.api_version)


def _by_topic(pairs: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    """Partitions grouped by topic, each once, in the order first named: Kafka builds these
    responses from a map keyed by partition (the order within it is a hash map's)."""
    topics: dict[str, dict[int, None]] = {}  # a dict keeps each partition once, in order
    for topic, partition in pairs:
        topics.setdefault(topic, {})[partition] = None
    return {topic: list(partitions) for topic, partitions in topics.items()}


def _request_wide(**extra: Any) -> Callable[[RequestContext, Any, _Failure], Any]:
    """A builder for a response whose error is request-wide only: ``error_code`` (where the
    version has it) and ``extra``; every other field keeps its schema default (no items)."""

    def build(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
        fields = dict(extra)
        if _has(ctx, "error_code"):
            fields["error_code"] = failure.code
        return ctx.response(**fields)

    return build


def _named(field: str, key: str, asked: str,
           **extra: Any) -> Callable[[RequestContext, Any, _Failure], Any]:
    """A builder for a response with one ``field`` item per name the request listed in
    ``asked``, its ``key`` set to the name, with the error and ``extra`` fields. DescribeGroups
    (``DescribeGroupsResponse.groupError``: no state, protocol or members), DeleteGroups,
    ConsumerGroupDescribe, DescribeTransactions."""

    def build(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
        item = _item(ctx, field)
        return ctx.response(**{field: [
            item(**{key: name}, error_code=failure.code, **extra)
            for name in getattr(request, asked)]})

    return build


def _with_message(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """DescribeAclsRequest and DescribeClusterRequest: the error and ``ApiError``'s message."""
    return ctx.response(error_code=failure.code, error_message=failure.message)


# --- produce, fetch and offsets --------------------------------------------------------------


def _produce(ctx: RequestContext, request: Any, failure: _Failure) -> Any | None:
    """ProduceRequest: nothing (close) for ``acks=0``; else every partition named, with the
    error, ``ApiError``'s message and -1 offsets."""
    if request.acks == 0:
        return None
    topic, part = _item(ctx, "responses"), _item(ctx, "responses", "partition_responses")
    named = _by_topic((t.name, p.index) for t in request.topic_data for p in t.partition_data)
    return ctx.response(responses=[
        topic(name=name, partition_responses=[
            part(index=index, error_code=failure.code, base_offset=_INVALID,
                 log_append_time_ms=_INVALID, log_start_offset=_INVALID, record_errors=[],
                 error_message=failure.message)
            for index in indexes])
        for name, indexes in named.items()])


def _fetch(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """FetchRequest (before v13): the error in every partition named and request-wide (from
    v7, with the request's session id), high watermark -1."""
    topic, part = _item(ctx, "responses"), _item(ctx, "responses", "partitions")
    fields: dict[str, Any] = {}
    if _has(ctx, "error_code"):
        fields.update(error_code=failure.code, session_id=request.session_id)
    return ctx.response(**fields, responses=[
        topic(topic=t.topic, partitions=[
            part(partition_index=p.partition, error_code=failure.code, high_watermark=_INVALID,
                 aborted_transactions=[], records=None)
            for p in t.partitions])
        for t in request.topics])


def _list_offsets(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """ListOffsetsRequest: every partition named, with the error, offset and timestamp -1."""
    topic, part = _item(ctx, "topics"), _item(ctx, "topics", "partitions")
    return ctx.response(topics=[
        topic(name=t.name, partitions=[
            part(partition_index=p.partition_index, error_code=failure.code, offset=_INVALID,
                 timestamp=_INVALID)
            for p in t.partitions])
        for t in request.topics])


def _offset_for_leader_epoch(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """OffsetsForLeaderEpochRequest: every partition named, with the error, epoch and end
    offset -1."""
    topic, part = _item(ctx, "topics"), _item(ctx, "topics", "partitions")
    return ctx.response(topics=[
        topic(topic=t.topic, partitions=[
            part(partition=p.partition, error_code=failure.code, leader_epoch=_INVALID,
                 end_offset=_INVALID)
            for p in t.partitions])
        for t in request.topics])


def _delete_records(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """DeleteRecordsRequest: every partition named, with the error, low watermark -1."""
    topic, part = _item(ctx, "topics"), _item(ctx, "topics", "partitions")
    return ctx.response(topics=[
        topic(name=t.name, partitions=[
            part(partition_index=p.partition_index, error_code=failure.code,
                 low_watermark=_INVALID)
            for p in t.partitions])
        for t in request.topics])


def _describe_producers(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """DescribeProducersRequest: every partition named, with the error."""
    topic, part = _item(ctx, "topics"), _item(ctx, "topics", "partitions")
    return ctx.response(topics=[
        topic(name=t.name, partitions=[
            part(partition_index=index, error_code=failure.code)
            for index in t.partition_indexes])
        for t in request.topics])


# --- metadata and coordinators ---------------------------------------------------------------


def _metadata(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """MetadataRequest: every topic named, with the error and no partitions (a topic named by
    id only is answered with the name ""); no brokers, and no topics for a request of all."""
    topic = _item(ctx, "topics")
    return ctx.response(topics=[
        topic(name=t.name or "", topic_id=t.topic_id, error_code=failure.code,
              is_internal=False, partitions=[])
        for t in request.topics or ()])


def _describe_topic_partitions(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """DescribeTopicPartitionsRequest: every topic named, with the error and no partitions."""
    topic = _item(ctx, "topics")
    return ctx.response(topics=[
        topic(name=t.name, error_code=failure.code, is_internal=False, partitions=[])
        for t in request.topics])


def _find_coordinator(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """FindCoordinatorRequest: before v4 the error and no node; from v4 a coordinator per key
    named, each with the error and no node. The message is the error's generic text."""
    if ctx.api_version < 4:
        return ctx.response(error_code=failure.code, error_message=failure.generic, **_NO_NODE)
    coordinator = _item(ctx, "coordinators")
    return ctx.response(coordinators=[
        coordinator(key=key, error_code=failure.code, error_message=failure.generic,
                    **_NO_NODE)
        for key in request.coordinator_keys])


def _api_versions(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """ApiVersionsRequest: the error; for UNSUPPORTED_VERSION also the ApiVersions versions
    served (KIP-511)."""
    keys = []
    if failure.code == _UNSUPPORTED_VERSION:
        served = ctx.handlers[ctx.api_key]
        keys = [_item(ctx, "api_keys")(api_key=ctx.api_key, min_version=served.min_version,
                                       max_version=served.max_version)]
    return ctx.response(error_code=failure.code, api_keys=keys)


# --- groups ----------------------------------------------------------------------------------


def _join_group(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """JoinGroupRequest: the error, generation -1, no leader, member id or members; the
    protocol name "" before v7, null from v7."""
    return ctx.response(
        error_code=failure.code, generation_id=_INVALID, leader="", member_id="", members=[],
        protocol_name="" if ctx.api_version < 7 else None)


def _offset_commit(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """OffsetCommitRequest and TxnOffsetCommitRequest: every partition named, with the
    error."""
    topic, part = _item(ctx, "topics"), _item(ctx, "topics", "partitions")
    return ctx.response(topics=[
        topic(name=t.name, partitions=[
            part(partition_index=p.partition_index, error_code=failure.code)
            for p in t.partitions])
        for t in request.topics])


def _offset_fetch(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """OffsetFetchRequest: before v2 every partition named, with the error, offset -1 and no
    metadata; v2 to v7 the request-wide error only; from v8 every group named, with the
    error."""
    version = ctx.api_version
    if version >= 8:
        group = _item(ctx, "groups")
        return ctx.response(groups=[
            group(group_id=g.group_id, error_code=failure.code, topics=[])
            for g in request.groups])
    if version >= 2:
        return ctx.response(error_code=failure.code, topics=[])
    topic, part = _item(ctx, "topics"), _item(ctx, "topics", "partitions")
    named = _by_topic((t.name, index) for t in request.topics for index in t.partition_indexes)
    return ctx.response(topics=[
        topic(name=name, partitions=[
            part(partition_index=index, committed_offset=_INVALID, metadata="",
                 error_code=failure.code)
            for index in indexes])
        for name, indexes in named.items()])


# --- transactions ----------------------------------------------------------------------------


def _add_partitions_to_txn(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """AddPartitionsToTxnRequest (v0 to v3, a client's): every partition named, with the
    error."""
    topic = _item(ctx, "results_by_topic_v3_and_below")
    part = _item(ctx, "results_by_topic_v3_and_below", "results_by_partition")
    return ctx.response(results_by_topic_v3_and_below=[
        topic(name=t.name, results_by_partition=[
            part(partition_index=index, partition_error_code=failure.code)
            for index in t.partitions])
        for t in request.v3_and_below_topics])


def _write_txn_markers(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """WriteTxnMarkersRequest: every partition of every marker named, with the error, by
    producer id (a later marker of the same producer replaces an earlier one, as in Kafka's
    map)."""
    marker = _item(ctx, "markers")
    topic, part = _item(ctx, "markers", "topics"), _item(ctx, "markers", "topics", "partitions")
    by_producer = {
        m.producer_id: _by_topic((t.name, index) for t in m.topics
                                 for index in t.partition_indexes)
        for m in request.markers}
    return ctx.response(markers=[
        marker(producer_id=producer_id, topics=[
            topic(name=name, partitions=[
                part(partition_index=index, error_code=failure.code) for index in indexes])
            for name, indexes in named.items()])
        for producer_id, named in by_producer.items()])


# --- topics, partitions and configs ----------------------------------------------------------


def _topic_results(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """CreateTopicsRequest and CreatePartitionsRequest: every topic named, with the error and
    ``ApiError``'s message."""
    field = "topics" if ctx.api_key == 19 else "results"
    result = _item(ctx, field)
    return ctx.response(**{field: [
        result(name=t.name, error_code=failure.code, error_message=failure.message)
        for t in request.topics]})


def _delete_topics(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """DeleteTopicsRequest: every topic named (by name before v6, by name or id from v6),
    with the error."""
    result = _item(ctx, "responses")
    if ctx.api_version < 6:
        return ctx.response(responses=[
            result(name=name, error_code=failure.code) for name in request.topic_names])
    return ctx.response(responses=[
        result(name=t.name, topic_id=t.topic_id, error_code=failure.code)
        for t in request.topics])


def _elect_leaders(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """ElectLeadersRequest: every partition named (none for a request of all), with the error
    and ``ApiError``'s message; request-wide too from v1."""
    topic = _item(ctx, "replica_election_results")
    part = _item(ctx, "replica_election_results", "partition_result")
    fields = {"error_code": failure.code} if _has(ctx, "error_code") else {}
    return ctx.response(**fields, replica_election_results=[
        topic(topic=t.topic, partition_result=[
            part(partition_id=index, error_code=failure.code, error_message=failure.message)
            for index in t.partitions])
        for t in request.topic_partitions or ()])


def _alter_partition_reassignments(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """AlterPartitionReassignmentsRequest: every partition named and the request, each with
    the error and ``ApiError``'s message."""
    topic, part = _item(ctx, "responses"), _item(ctx, "responses", "partitions")
    return ctx.response(
        error_code=failure.code, error_message=failure.message, responses=[
            topic(name=t.name, partitions=[
                part(partition_index=p.partition_index, error_code=failure.code,
                     error_message=failure.message)
                for p in t.partitions])
            for t in request.topics])


def _list_partition_reassignments(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """ListPartitionReassignmentsRequest: the error and ``ApiError``'s message; every partition
    named listed with no replicas (none for a request of all)."""
    topic, part = _item(ctx, "topics"), _item(ctx, "topics", "partitions")
    return ctx.response(
        error_code=failure.code, error_message=failure.message, topics=[
            topic(name=t.name, partitions=[
                part(partition_index=index) for index in t.partition_indexes])
            for t in request.topics or ()])


def _alter_replica_log_dirs(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """AlterReplicaLogDirsRequest: every partition of every directory named, with the error
    (a topic named under two directories is answered twice, as Kafka does)."""
    topic, part = _item(ctx, "results"), _item(ctx, "results", "partitions")
    return ctx.response(results=[
        topic(topic_name=t.name, partitions=[
            part(partition_index=index, error_code=failure.code) for index in t.partitions])
        for d in request.dirs for t in d.topics])


def _describe_configs(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """DescribeConfigsRequest: every resource named, with the error and its generic text."""
    result = _item(ctx, "results")
    return ctx.response(results=[
        result(error_code=failure.code, error_message=failure.generic,
               resource_type=r.resource_type, resource_name=r.resource_name, configs=[])
        for r in request.resources])


def _alter_configs(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """AlterConfigsRequest and IncrementalAlterConfigsRequest: every resource named, with the
    error and ``ApiError``'s message."""
    result = _item(ctx, "responses")
    return ctx.response(responses=[
        result(error_code=failure.code, error_message=failure.message,
               resource_type=r.resource_type, resource_name=r.resource_name)
        for r in request.resources])


# --- ACLs ------------------------------------------------------------------------------------


def _acl_results(ctx: RequestContext, request: Any, failure: _Failure) -> Any:
    """CreateAclsRequest (a result per creation) and DeleteAclsRequest (a result per filter,
    no ACLs matched): each with the error and ``ApiError``'s message."""
    field, asked = ("results", request.creations) if ctx.api_key == 30 else (
        "filter_results", request.filters)
    result = _item(ctx, field)
    return ctx.response(**{field: [
        result(error_code=failure.code, error_message=failure.message) for _ in asked]})


#: Each API key's builder (the API's Kafka request class's ``getErrorResponse``).
_BUILDERS: dict[int, Callable[[RequestContext, Any, _Failure], Any]] = {
    0: _produce,
    1: _fetch,
    2: _list_offsets,
    3: _metadata,
    8: _offset_commit,
    9: _offset_fetch,
    10: _find_coordinator,
    11: _join_group,
    12: _request_wide(),  # Heartbeat
    13: _request_wide(),  # LeaveGroup
    14: _request_wide(assignment=b""),  # SyncGroup
    15: _named("groups", "group_id", "groups", group_state="", protocol_type="",
               protocol_data="", members=[], authorized_operations=None),  # Integer.MIN_VALUE
    16: _request_wide(),  # ListGroups
    18: _api_versions,
    19: _topic_results,  # CreateTopics
    20: _delete_topics,
    21: _delete_records,
    22: _request_wide(producer_id=_INVALID, producer_epoch=_INVALID),  # InitProducerId
    23: _offset_for_leader_epoch,
    24: _add_partitions_to_txn,
    25: _request_wide(),  # AddOffsetsToTxn
    26: _request_wide(),  # EndTxn
    27: _write_txn_markers,
    28: _offset_commit,  # TxnOffsetCommit
    29: _with_message,  # DescribeAcls
    30: _acl_results,  # CreateAcls
    31: _acl_results,  # DeleteAcls
    32: _describe_configs,
    33: _alter_configs,
    34: _alter_replica_log_dirs,
    35: _request_wide(),  # DescribeLogDirs (no error field before v3)
    37: _topic_results,  # CreatePartitions
    42: _named("results", "group_id", "groups_names"),  # DeleteGroups
    43: _elect_leaders,
    44: _alter_configs,  # IncrementalAlterConfigs
    45: _alter_partition_reassignments,
    46: _list_partition_reassignments,
    47: _request_wide(),  # OffsetDelete
    60: _with_message,  # DescribeCluster
    61: _describe_producers,
    65: _named("transaction_states", "transactional_id", "transactional_ids"),
    66: _request_wide(),  # ListTransactions
    68: _request_wide(),  # ConsumerGroupHeartbeat
    69: _named("groups", "group_id", "group_ids"),  # ConsumerGroupDescribe
    75: _describe_topic_partitions,
}
