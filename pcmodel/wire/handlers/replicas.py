"""ElectLeaders, AlterPartitionReassignments, ListPartitionReassignments: who leads a
partition, and which brokers hold it.

All three go to the controller (a cluster's; a lone broker answers as a one-broker Kafka
cluster does) and decide each partition on its own. A partition no topic can have (a negative
one, an empty topic name) is UNKNOWN_TOPIC_OR_PARTITION, as Kafka's controller answers it;
pcmodel's brokers would refuse it as a caller's mistake.

ElectLeaders: an unknown election type is INVALID_REQUEST for the whole request and for each
partition named, as Kafka's ``ElectLeadersRequest.getErrorResponse`` answers it; v0 has no
election type (preferred) and no top-level error code. Each topic entry of the request is
answered, in order, each partition as named: one named twice is answered twice, the second
time ELECTION_NOT_NEEDED if the first elected it (Kafka's controller decides each entry in
turn). Asked for every partition (a null list), the answer lists every topic, internal ones
included, with the partitions that needed an election (an empty list for a topic with none),
as Kafka's ``ReplicationControlManager.electLeaders`` lists them. A partition's refusal
carries the message Kafka's controller gives: "No such topic as T", "No such partition as
T-P", "Leader election not needed for topic partition.".

AlterPartitionReassignments starts, replaces or cancels (a null replica list) each partition's
reassignment and answers before the replicas have moved; v1 adds
``allow_replication_factor_change`` (KIP-860), echoed in the answer. A lone broker accepts
only its own id as a target, and nothing to cancel. A partition that is not there is answered
as Kafka's controller answers it: "Unable to find a topic named T.", "Unable to find partition
T:P.", and a cancellation with nothing in progress "No partition reassignment is in
progress.". ListPartitionReassignments answers the reassignments still in progress (of the
partitions named, or of all), leaving out the others.
Both requests' ``timeout_ms`` has nothing to wait for: the controller decides at once.
"""

from __future__ import annotations

from typing import Any

from kafka.protocol.admin import (
    AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse,
    ElectLeadersRequest,
    ElectLeadersResponse,
    ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
)

from pcmodel.topics.errors import (
    ElectionNotNeededError,
    KafkaError,
)
from pcmodel.topics.replica_placement import (
    unknown_elected_partition,
    unknown_reassigned_partition,
)
from pcmodel.topics.structs import ElectionType, TopicPartition
from pcmodel.wire.api import (
    ApiHandler,
    RequestContext,
    error_code,
    error_message,
)
from pcmodel.wire.handlers.metadata import all_topics

__all__ = ["HANDLERS"]


def _impossible(tp: TopicPartition) -> bool:
    return tp.partition < 0 or not tp.topic


_ElectionResult = ElectLeadersResponse.ReplicaElectionResult


def handle_elect_leaders(ctx: RequestContext, request: Any) -> Any:
    """Elect leaders (preferred or unclean) for the partitions named, or for every one."""
    election_type = request.election_type if request.API_VERSION >= 1 else ElectionType.PREFERRED
    asked = None if request.topic_partitions is None else [
        (topic.topic, [TopicPartition(topic.topic, p) for p in topic.partitions])
        for topic in request.topic_partitions]
    named = [tp for _, tps in asked or () for tp in tps]
    unknown = {tp for tp in named if _impossible(tp)}
    try:
        elected: dict[TopicPartition, Any] | None = ctx.broker.elect_leaders(
            election_type, None if asked is None else list(dict.fromkeys(
                tp for tp in named if tp not in unknown)))
        existing = ctx.broker.list_topics() if unknown else {}
        for tp in unknown:  # Kafka's controller looks the topic up, then the partition
            elected[tp] = unknown_elected_partition(tp, existing)
        code, message = 0, None
    except KafkaError as exc:  # the request as a whole: an unknown election type
        elected, code, message = None, error_code(exc), error_message(exc)
    if asked is None:
        # Every topic, as Kafka's controller lists them: those that needed no election too.
        topics = sorted(set(all_topics(ctx)) | {tp.topic for tp in elected or ()})
        asked = [(topic, [tp for tp in elected or () if tp.topic == topic]) for topic in topics] \
            if elected is not None else []
    results, answered = [], set()
    for topic, tps in asked:
        partitions = []
        for tp in tps:
            error = None if elected is None else elected[tp]
            if elected is not None and tp in answered and error is None:
                # Named twice, as Kafka decides each entry in turn: the first one elected it.
                error = ElectionNotNeededError("Leader election not needed for topic "
                                               "partition.")
            answered.add(tp)
            partition_code, partition_message = (code, message) if elected is None else (
                (0, None) if error is None else (error_code(error), error_message(error)))
            partitions.append(_ElectionResult.PartitionResult(
                partition_id=tp.partition, error_code=partition_code,
                error_message=partition_message))
        results.append(_ElectionResult(topic=topic, partition_result=partitions))
    return ctx.response(throttle_time_ms=0, error_code=code, replica_election_results=results)


_Reassigned = AlterPartitionReassignmentsResponse.ReassignableTopicResponse


def handle_alter_partition_reassignments(ctx: RequestContext, request: Any) -> Any:
    """Start, replace or cancel the reassignment of each partition named."""
    allow = request.allow_replication_factor_change if request.API_VERSION >= 1 else True
    asked = [(TopicPartition(topic.name, p.partition_index),
              None if p.replicas is None else list(p.replicas))
             for topic in request.topics for p in topic.partitions]
    # A lone broker checks targets against the id its clients know it by.
    where = {} if getattr(ctx.broker, "replicates", False) else {"node_id": ctx.node_id}
    answers = ctx.broker.alter_partition_reassignments(
        {tp: target for tp, target in asked if not _impossible(tp)},
        allow_replication_factor_change=allow, **where)
    existing = all_topics(ctx) if any(_impossible(tp) for tp, _ in asked) else {}
    by_topic: dict[str, list[Any]] = {}
    for tp, _ in asked:
        error = unknown_reassigned_partition(tp, existing) if _impossible(tp) else answers[tp]
        by_topic.setdefault(tp.topic, []).append(_Reassigned.ReassignablePartitionResponse(
            partition_index=tp.partition, error_code=0 if error is None else error_code(error),
            error_message=None if error is None else error_message(error)))
    return ctx.response(
        throttle_time_ms=0, allow_replication_factor_change=allow, error_code=0,
        error_message=None,
        responses=[_Reassigned(name=topic, partitions=partitions)
                   for topic, partitions in by_topic.items()])


_Ongoing = ListPartitionReassignmentsResponse.OngoingTopicReassignment


def handle_list_partition_reassignments(ctx: RequestContext, request: Any) -> Any:
    """The reassignments in progress, of the partitions named or of all."""
    asked = None if request.topics is None else [
        tp for topic in request.topics for p in topic.partition_indexes
        if not _impossible(tp := TopicPartition(topic.name, p))]
    by_topic: dict[str, list[Any]] = {}
    for tp, moving in ctx.broker.list_partition_reassignments(asked).items():
        by_topic.setdefault(tp.topic, []).append(_Ongoing.OngoingPartitionReassignment(
            partition_index=tp.partition, replicas=list(moving.replicas),
            adding_replicas=list(moving.adding_replicas),
            removing_replicas=list(moving.removing_replicas)))
    return ctx.response(
        throttle_time_ms=0, error_code=0, error_message=None,
        topics=[_Ongoing(name=topic, partitions=partitions)
                for topic, partitions in by_topic.items()])


HANDLERS = {
    ElectLeadersRequest.API_KEY: ApiHandler(
        ElectLeadersRequest, ElectLeadersResponse, 0, 2, handle_elect_leaders
    ),
    AlterPartitionReassignmentsRequest.API_KEY: ApiHandler(
        AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, 0, 1,
        handle_alter_partition_reassignments
    ),
    ListPartitionReassignmentsRequest.API_KEY: ApiHandler(
        ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, 0, 0,
        handle_list_partition_reassignments
    ),
}
