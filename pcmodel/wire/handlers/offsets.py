"""ListOffsets and DeleteRecords: a partition's offsets, and moving its start.

ListOffsets: a partition's earliest offset, latest offset, or first offset at a time.

The ``timestamp`` of each partition asks: ``-2`` the earliest retained offset (the log start),
``-1`` the latest (the offset the next record will get), ``t >= 0`` the first record whose
timestamp is at least ``t`` (offset ``-1`` and timestamp ``-1`` if there is none, as Kafka
answers), and from v7 ``-3`` the first record with the largest timestamp (KIP-734; none if it
is not below the high watermark). There is no tiered storage, so ``-4`` (v8, the local log
start) is the log start, and ``-5`` (v9, the last tiered offset) and ``-6`` (v11, the first
offset not yet tiered, KIP-1023) find none (offset ``-1``), as a Kafka broker without tiered
storage answers. A spec newer than the request's version, or a negative one Kafka does not
have, is UNSUPPORTED_VERSION, as Kafka's ``ReplicaManager`` answers them. Earliest and latest
answer timestamp ``-1``, as Kafka does. The ``timeout_ms`` of v10 (KIP-1075) bounds a lookup
in remote storage; without one, every lookup is answered at once.

Only the partition's leader answers, and "latest" is its high watermark (what consumers may
read), or for a ``read_committed`` consumer (the request's ``isolation_level`` 1, from v2) its
last stable offset: the first offset of the oldest transaction still open, as Kafka's
``Partition.fetchOffsetForTimestamp`` answers. At that isolation level a record found by
timestamp (or the largest timestamp) at or above the last stable offset is not found (offset
-1), as Kafka's ``ReplicaManager`` hides it; an ``isolation_level`` other than 0 or 1 is
INVALID_REQUEST. A partition named more than once in a request is answered once, with
INVALID_REQUEST, and a topic named in two entries is answered in one, as Kafka's
``ReplicaManager.fetchOffset`` answers (it keys its answers by partition, grouped by topic).
The request's ``current_leader_epoch`` (from v4) is checked as Fetch checks it
(FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER). The answer is the
broker's ``list_offsets`` (:meth:`pcmodel.topics.broker.Broker.list_offsets`), leader epoch
included, as Kafka's ``Partition.fetchOffsetForTimestamp`` gives it: the leader's current
epoch for "latest", the epoch in which the record there was written for "earliest" and a
timestamp (the leader's epoch cache; they differ for records written before the last leader
change; 0 on a lone broker), ``-1`` with no offset.

DeleteRecords deletes each partition's records below an offset (``-1``: the high watermark) and
answers its low watermark, per partition, as Kafka does: OFFSET_OUT_OF_RANGE beyond the high
watermark, UNKNOWN_TOPIC_OR_PARTITION, and on a cluster NOT_LEADER_OR_FOLLOWER for a
partition this broker does not lead, REQUEST_TIMED_OUT when the followers did not follow
within the request's ``timeout_ms``. A partition no topic can have (a negative index, an empty
topic name) is UNKNOWN_TOPIC_OR_PARTITION, the others are deleted all the same, as Kafka
answers a partition its metadata lacks. Each partition is answered once, grouped by topic: one
named twice is deleted below the offset given last, as Kafka's ``handleDeleteRecordsRequest``
keys the request by partition.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kafka.protocol.admin import DeleteRecordsRequest, DeleteRecordsResponse
from kafka.protocol.consumer import ListOffsetsRequest, ListOffsetsResponse

from pcmodel.topics.log_transactions import ISOLATION_LEVELS
from pcmodel.topics.structs import OffsetSpec, TopicPartition
from pcmodel.wire.api import ApiHandler, RequestContext, error_code, kafka_errors

__all__ = ["HANDLERS"]

#: The first ListOffsets version that may ask for each negative spec (Kafka's ReplicaManager).
_SPEC_VERSIONS = {OffsetSpec.LATEST: 1, OffsetSpec.EARLIEST: 1, OffsetSpec.MAX_TIMESTAMP: 7,
                  OffsetSpec.EARLIEST_LOCAL: 8, OffsetSpec.LATEST_TIERED: 9,
                  OffsetSpec.EARLIEST_PENDING_UPLOAD: 11}
TopicResponse = ListOffsetsResponse.ListOffsetsTopicResponse
PartitionResponse = TopicResponse.ListOffsetsPartitionResponse


def _lookup(ctx: RequestContext, tp: TopicPartition, timestamp: int,
            current_leader_epoch: int, isolation: str) -> tuple[int, int, int, int]:
    """``(error code, timestamp, offset, leader epoch)`` for one partition, as the broker's
    ``list_offsets`` answers it (``isolation``: one of ``ISOLATION_LEVELS``)."""
    if timestamp < 0 and ctx.api_version < _SPEC_VERSIONS.get(timestamp, 10**6):
        return kafka_errors.UnsupportedVersionError.errno, -1, -1, -1
    code = ctx.view.leader_error(tp, current_leader_epoch)
    if code:
        return code, -1, -1, -1
    try:
        hit = ctx.broker.list_offsets({tp: timestamp}, isolation_level=isolation)[tp]
    except Exception as exc:
        return error_code(exc), -1, -1, -1
    if hit is None:
        return 0, -1, -1, -1
    return 0, hit.timestamp, hit.offset, hit.leader_epoch


def handle_list_offsets(ctx: RequestContext, request: Any) -> Any:
    """Answer each requested partition's offset for its timestamp spec (once per partition,
    in the order first named)."""
    level = request.isolation_level if ctx.api_version >= 2 else 0
    named = Counter(TopicPartition(topic.name, part.partition_index)
                    for topic in request.topics for part in topic.partitions)
    answers: dict[str, dict[int, Any]] = {}  # topic -> partition -> its answer
    for topic in request.topics:
        partitions = answers.setdefault(topic.name, {})
        for part in topic.partitions:
            tp = TopicPartition(topic.name, part.partition_index)
            if tp.partition in partitions:
                continue  # named again: answered once
            current = part.current_leader_epoch if ctx.api_version >= 4 else -1
            if level in (0, 1) and named[tp] == 1:
                code, timestamp, offset, epoch = _lookup(ctx, tp, part.timestamp, current,
                                                         ISOLATION_LEVELS[level])
            else:
                code, timestamp, offset, epoch = (kafka_errors.InvalidRequestError.errno, -1,
                                                  -1, -1)
            partitions[tp.partition] = PartitionResponse(
                partition_index=part.partition_index, error_code=code, timestamp=timestamp,
                offset=offset, leader_epoch=epoch,
            )
    return ctx.response(throttle_time_ms=0, topics=[
        TopicResponse(name=name, partitions=list(partitions.values()))
        for name, partitions in answers.items()])


def handle_delete_records(ctx: RequestContext, request: Any) -> Any:
    """Delete each partition's records below its offset; answer its low watermark."""
    wanted = {TopicPartition(topic.name, part.partition_index): part.offset
              for topic in request.topics for part in topic.partitions}
    possible = {tp: offset for tp, offset in wanted.items() if tp.topic and tp.partition >= 0}
    outcome = dict.fromkeys(wanted, (-1, kafka_errors.UnknownTopicOrPartitionError.errno))
    try:
        done = ctx.broker.delete_records(possible, timeout=max(0, request.timeout_ms) / 1000)
        outcome.update({tp: (d.low_watermark, 0 if d.error is None else error_code(d.error))
                        for tp, d in done.items()})
    except Exception as exc:  # the broker refused the whole request (closed, ...)
        outcome.update(dict.fromkeys(possible, (-1, error_code(exc))))
    Topic = DeleteRecordsResponse.DeleteRecordsTopicResult  # noqa: N806
    by_topic: dict[str, list[Any]] = {}
    for tp, (low_watermark, code) in outcome.items():
        by_topic.setdefault(tp.topic, []).append(Topic.DeleteRecordsPartitionResult(
            partition_index=tp.partition, low_watermark=low_watermark, error_code=code))
    return ctx.response(throttle_time_ms=0, topics=[
        Topic(name=name, partitions=partitions) for name, partitions in by_topic.items()])


HANDLERS = {
    ListOffsetsRequest.API_KEY: ApiHandler(
        ListOffsetsRequest, ListOffsetsResponse, 1, 11, handle_list_offsets
    ),
    DeleteRecordsRequest.API_KEY: ApiHandler(
        DeleteRecordsRequest, DeleteRecordsResponse, 0, 2, handle_delete_records
    ),
}
