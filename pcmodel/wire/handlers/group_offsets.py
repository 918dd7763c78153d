"""The committed-offset APIs of a group: OffsetCommit, OffsetFetch, OffsetDelete.

Each handler maps the request's fields to one :class:`~pcmodel.topics.broker.Broker` call and
the answer back; the group's checks (member, generation) are the coordinator's
(:mod:`pcmodel.topics.group_offsets`). Where Kafka answers per partition (OffsetCommit,
OffsetDelete), so do these handlers: a partition of an unknown topic fails alone.

In a Kafka 4 consumer group (:mod:`pcmodel.topics.broker_consumer_groups`) the generation of
OffsetCommit is the member's *epoch*, and OffsetFetch v9+ names the member and its epoch too:
both are checked as Kafka's ``ConsumerGroup.validateOffsetCommit`` / ``validateOffsetFetch``
do (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH; a member committing with OffsetCommit below v9 is
answered UNSUPPORTED_VERSION). An OffsetFetch without a member (id null, epoch -1) is answered
as before.

A commit with a generation (>= 0) to a group that does not exist is answered GROUP_ID_NOT_FOUND
from OffsetCommit v9 and ILLEGAL_GENERATION before, as Kafka's
``OffsetMetadataManager.validateOffsetCommit`` answers; generation -1 creates the group.

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

from kafka.protocol.consumer.group import (
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
)

from pcmodel.topics.errors import (
    GroupIdNotFoundError,
    IllegalGenerationError,
    OffsetMetadataTooLargeError,
    UnstableOffsetCommitError,
)
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from pcmodel.wire.api import ApiHandler, RequestContext, committed_leader_epoch, kafka_errors
from pcmodel.wire.handlers.groups import group_error_code

__all__ = ["HANDLERS"]


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
    # A Kafka 4 consumer group checks the version its members commit with (a cluster's
    # connection has no consumer groups, and no such argument).
    version = {"request_version": ctx.api_version} \
        if hasattr(ctx.broker, "consumer_group_heartbeat") else {}
    if offsets:
        try:
            ctx.broker.commit_offsets(
                request.group_id, request.generation_id_or_member_epoch, request.member_id,
                offsets, retention_time_ms=_retention_time_ms(request),
                group_instance_id=request.group_instance_id if ctx.api_version >= 7 else None,
                **version,
            )
            group_code = 0
        except OffsetMetadataTooLargeError as exc:  # those alone: the others were committed
            group_code = 0
            codes.update(dict.fromkeys(exc.partitions, exc.errno))
        except IllegalGenerationError as exc:
            group_code = _missing_group_code(ctx, request.group_id, exc)
        except Exception as exc:
            group_code = group_error_code(exc)
        codes.update({tp: group_code for tp in offsets if tp not in codes})
    Topic = OffsetCommitResponse.OffsetCommitResponseTopic
    topics = _partition_codes(request, codes, Topic, Topic.OffsetCommitResponsePartition)
    return ctx.response(throttle_time_ms=0, topics=topics)


def _missing_group_code(ctx: RequestContext, group_id: str,
                        exc: IllegalGenerationError) -> int:
    """The code of a commit the broker refused for its generation: GROUP_ID_NOT_FOUND from
    v9 if the group does not exist, as Kafka's ``OffsetMetadataManager.validateOffsetCommit``
    answers (ILLEGAL_GENERATION before v9, for older clients' sake). A commit with a
    generation never creates a group, so a group missing now was missing at the commit."""
    if ctx.api_version >= 9:
        try:
            ctx.broker.describe_group(group_id)
        except GroupIdNotFoundError:
            return GroupIdNotFoundError.errno
        except Exception:  # noqa: BLE001 - the commit's own error answers then
            pass
    return exc.errno


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
) -> tuple[int, list[tuple[str, list[tuple[int, _Committed]]]]]:
    """``(group error code, [(topic, [(partition, committed or None)])])``: the topics and
    partitions ``wanted`` in their order, repeats included, as Kafka's
    ``OffsetMetadataManager.fetchOffsets`` answers them; ``None`` = all committed, by topic.
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
        return group_error_code(exc), []
    if wanted is not None:
        return 0, [(t, [(p, committed.get(TopicPartition(t, p))) for p in parts])
                   for t, parts in wanted]
    by_topic: dict[str, list[tuple[int, _Committed]]] = {}
    for tp, value in sorted(committed.items()):
        by_topic.setdefault(tp.topic, []).append((tp.partition, value))
    return 0, list(by_topic.items())


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
            for name, parts in found
        ]
        return ctx.response(throttle_time_ms=0, topics=topics, error_code=code, groups=[])
    Group = OffsetFetchResponse.OffsetFetchResponseGroup
    Topics = Group.OffsetFetchResponseTopics
    Partitions = Topics.OffsetFetchResponsePartitions
    groups = []
    check_member = getattr(ctx.broker, "check_offset_fetch", None)
    for group in request.groups:
        wanted = (None if group.topics is None
                  else [(t.name, list(t.partition_indexes)) for t in group.topics])
        try:
            if check_member is not None and ctx.api_version >= 9:
                check_member(group.group_id, group.member_id, group.member_epoch)
        except Exception as exc:
            groups.append(Group(group_id=group.group_id, error_code=group_error_code(exc),
                                topics=[]))
            continue
        code, found = _fetch_offsets(ctx, group.group_id, wanted, stable)
        groups.append(Group(group_id=group.group_id, error_code=code, topics=[
            Topics(name=name, partitions=[Partitions(**_partition_fields(p, v))
                                          for p, v in parts])
            for name, parts in found
        ]))
    return ctx.response(throttle_time_ms=0, topics=[], error_code=0, groups=groups)


# --- ListGroups, DescribeGroups, DeleteGroups ------------------------------------------------


def handle_offset_delete(ctx: RequestContext, request: Any) -> Any:
    """Delete the group's offsets of the partitions named; a group error (GROUP_ID_NOT_FOUND,
    NON_EMPTY_GROUP) answers alone, with no topics, as Kafka does."""
    tps = [TopicPartition(topic.name, part.partition_index)
           for topic in request.topics for part in topic.partitions]
    try:
        results = ctx.broker.delete_offsets(request.group_id, tps)
    except Exception as exc:
        return ctx.response(error_code=group_error_code(exc), throttle_time_ms=0, topics=[])
    codes = {tp: 0 if error is None else group_error_code(error)
             for tp, error in results.items()}
    Topic = OffsetDeleteResponse.OffsetDeleteResponseTopic
    topics = _partition_codes(request, codes, Topic, Topic.OffsetDeleteResponsePartition)
    return ctx.response(error_code=0, throttle_time_ms=0, topics=topics)


HANDLERS = {
    # v10 names topics by id, which this listener does not use.
    OffsetCommitRequest.API_KEY: ApiHandler(
        OffsetCommitRequest, OffsetCommitResponse, 2, 9, handle_offset_commit),
    OffsetFetchRequest.API_KEY: ApiHandler(
        OffsetFetchRequest, OffsetFetchResponse, 1, 9, handle_offset_fetch),
    OffsetDeleteRequest.API_KEY: ApiHandler(
        OffsetDeleteRequest, OffsetDeleteResponse, 0, 0, handle_offset_delete),
}
