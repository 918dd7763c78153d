"""OffsetForLeaderEpoch: where a leader epoch ends in the leader's log.

Consumers ask it after the leader of a partition changed (KIP-320): "the last record I read was
written in epoch ``e``; where does ``e`` end in your log?" If the answer is below their
position, the new leader does not have records they read (an unclean election truncated them)
and they reset. The answer is ``(e', end)`` for the largest epoch ``e' <= e`` the leader knows,
``end`` being the first offset not written in ``e'`` (the start of the next epoch, or the log
end for the latest); for an epoch older than every one it knows (its records were deleted from
the start), ``(e, the start of the oldest it knows)``; ``(-1, -1)`` for an epoch newer than
its latest, as Kafka answers (see
:meth:`~pcmodel.cluster.epochs.LeaderEpochCache.end_offset_for`). The partition is checked
against the request's ``current_leader_epoch`` as Fetch checks it.

A lone broker writes every record in epoch 0, its latest. A cluster broker answers from its
replica's leader-epoch cache (:mod:`pcmodel.cluster.epochs`), through ``end_offset_for_epoch``.

Prior art: Kafka's ``Partition.lastOffsetForLeaderEpoch``.
"""

from __future__ import annotations

from typing import Any

from kafka.protocol.consumer import OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse

from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.api import ApiHandler, RequestContext, error_code

__all__ = ["HANDLERS"]

UNDEFINED = (-1, -1)
TopicResult = OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult
EpochEndOffset = TopicResult.EpochEndOffset


def _end_offset(ctx: RequestContext, tp: TopicPartition, epoch: int) -> tuple[int, int]:
    lookup = getattr(ctx.broker, "end_offset_for_epoch", None)
    if lookup is not None:
        return lookup(tp, epoch)
    if epoch != 0:  # a lone broker's only epoch is 0, so none is older or newer
        return UNDEFINED
    return 0, ctx.broker.end_offsets([tp])[tp]


def handle_offset_for_leader_epoch(ctx: RequestContext, request: Any) -> Any:
    """Answer each partition's epoch end offset, from its leader."""
    topics = []
    for topic in request.topics:
        partitions = []
        for part in topic.partitions:
            tp = TopicPartition(topic.topic, part.partition)
            current = part.current_leader_epoch if ctx.api_version >= 2 else -1
            code = ctx.view.leader_error(tp, current)
            epoch, end = UNDEFINED
            if not code:
                try:
                    epoch, end = _end_offset(ctx, tp, part.leader_epoch)
                except Exception as exc:
                    code = error_code(exc)
            partitions.append(EpochEndOffset(error_code=code, partition=part.partition,
                                             leader_epoch=epoch, end_offset=end))
        topics.append(TopicResult(topic=topic.topic, partitions=partitions))
    return ctx.response(throttle_time_ms=0, topics=topics)


HANDLERS = {
    OffsetForLeaderEpochRequest.API_KEY: ApiHandler(
        OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, 0, 4,
        handle_offset_for_leader_epoch,
    ),
}
