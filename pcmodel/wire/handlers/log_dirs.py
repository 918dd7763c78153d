"""DescribeLogDirs: where this broker keeps each replica's log, and how large each one is;
AlterReplicaLogDirs: move replicas to another of its log directories.

A broker answers for itself: its log directory (one; ``"(memory)"`` for a broker that keeps
its logs in memory, the directory of its journals for a broker process) with the replicas it
holds there, of the partitions named or of all (a null topic list). A partition it does not
hold, or that no broker can have (an illegal name, a negative index), is left out, as Kafka's
``ReplicaManager.describeLogDirs`` leaves it out. v3 adds the response's error code, v4 the
volume's total and usable bytes (-1 for memory), v5 ``is_cordoned`` (KIP-1066), always false:
no log directory is ever cordoned here.

AlterReplicaLogDirs (v1-v2) finds nowhere to move a replica to: a broker has one log directory.
It answers as Kafka answers such a move: done for a replica already in the directory named,
LOG_DIR_NOT_FOUND for another directory, REPLICA_NOT_AVAILABLE for a partition the broker does
not hold, UNKNOWN_TOPIC_OR_PARTITION for one that does not exist (a partition named under two
directories takes the last, as Kafka's map of them does). See
:mod:`pcmodel.topics.broker_log_dirs`.
"""

from __future__ import annotations

from typing import Any

from kafka.protocol.admin.cluster import (
    AlterReplicaLogDirsRequest,
    AlterReplicaLogDirsResponse,
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
)

from pcmodel.topics.broker_log_dirs import log_dir_move
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.api import ApiHandler, RequestContext, error_code, impossible_partition

__all__ = ["HANDLERS"]

_Result = DescribeLogDirsResponse.DescribeLogDirsResult
_Topic = _Result.DescribeLogDirsTopic
_Partition = _Topic.DescribeLogDirsPartition


def handle_describe_log_dirs(ctx: RequestContext, request: Any) -> Any:
    """This broker's log directory and the replicas in it, of the partitions named (all for a
    null topic list)."""
    asked = None if request.topics is None else [
        tp for topic in request.topics for p in topic.partitions
        if impossible_partition(tp := TopicPartition(topic.topic, p)) is None]
    results = []
    for described in ctx.broker.describe_log_dirs(asked):
        by_topic: dict[str, list[Any]] = {}
        for tp, info in described.replicas.items():
            by_topic.setdefault(tp.topic, []).append(_Partition(
                partition_index=tp.partition, partition_size=info.size,
                offset_lag=info.offset_lag, is_future_key=info.is_future))
        results.append(_Result(
            error_code=0 if described.error is None else error_code(described.error),
            log_dir=described.path,
            topics=[_Topic(name=name, partitions=partitions)
                    for name, partitions in by_topic.items()],
            total_bytes=described.total_bytes, usable_bytes=described.usable_bytes))
    return ctx.response(throttle_time_ms=0, error_code=0, results=results)


_MoveResult = AlterReplicaLogDirsResponse.AlterReplicaLogDirTopicResult
_MovePartition = _MoveResult.AlterReplicaLogDirPartitionResult


def handle_alter_replica_log_dirs(ctx: RequestContext, request: Any) -> Any:
    """Move each replica named to the directory named: with one log directory, answer where
    each already is (see the module docstring)."""
    targets = {TopicPartition(topic.name, p): folder.path
               for folder in request.dirs for topic in folder.topics for p in topic.partitions}
    possible = {tp: path for tp, path in targets.items() if impossible_partition(tp) is None}
    answers = ctx.broker.alter_replica_log_dirs(possible) if possible else {}
    if len(possible) < len(targets):  # no broker has them: only the directory is checked
        (own,) = ctx.broker.describe_log_dirs([])
        answers.update({tp: log_dir_move(own.path, tp, path, hosted=False, exists=False)
                        for tp, path in targets.items() if tp not in possible})
    by_topic: dict[str, list[Any]] = {}
    for tp in targets:
        error = answers[tp]
        by_topic.setdefault(tp.topic, []).append(_MovePartition(
            partition_index=tp.partition, error_code=0 if error is None else error_code(error)))
    return ctx.response(throttle_time_ms=0, results=[
        _MoveResult(topic_name=topic, partitions=partitions)
        for topic, partitions in by_topic.items()])


HANDLERS = {
    AlterReplicaLogDirsRequest.API_KEY: ApiHandler(
        AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, 1, 2,
        handle_alter_replica_log_dirs),
    DescribeLogDirsRequest.API_KEY: ApiHandler(
        DescribeLogDirsRequest, DescribeLogDirsResponse, 1, 5, handle_describe_log_dirs),
}
