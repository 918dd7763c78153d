"""Fetch: read from partition logs, long-polling on the log for new records.

A consumer asks for records from an offset per partition and says how long it is willing to
wait (``max_wait_ms``) for how much data (``min_bytes``). The handler waits on the broker's own
fetch wait (``Broker.fetch`` blocks on the condition every append notifies: the bounded-buffer
"wait for items" of the first chapter), never by sleeping: it returns as soon as
``min_bytes`` have arrived, or when ``max_wait_ms`` is over with what there is. An offset past
the end of the log (or before its start) answers OFFSET_OUT_OF_RANGE for that partition, and
the client's ``auto_offset_reset`` applies.

Only the partition's leader serves it, below the high watermark (what every in-sync replica
has). Before reading, each partition is checked against the listener's view: a client whose
``current_leader_epoch`` is older than the broker's hears FENCED_LEADER_EPOCH, a newer one
UNKNOWN_LEADER_EPOCH, and a broker that does not lead the partition answers
NOT_LEADER_OR_FOLLOWER — also when it loses the leadership during the long poll (the broker
leaves such a partition out of its answer). The client then refreshes its metadata.

Responses respect ``max_bytes`` and each partition's ``partition_max_bytes``, except that the
first record is always sent whole (KIP-74, so that an oversized record cannot stall a
consumer). Fetch sessions (KIP-227) are declined by answering session id 0: clients then send
full fetches, which is always correct.
"""

from __future__ import annotations

import time
from typing import Any

from kafka.protocol.consumer import FetchRequest, FetchResponse

from pcmodel.topics.broker_produce_fetch import FetchError
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.api import ApiHandler, RequestContext, kafka_errors
from pcmodel.wire.records import encode_records
from pcmodel.wire.stats import FetchWait

__all__ = ["HANDLERS"]

TopicResponse = FetchResponse.FetchableTopicResponse
PartitionData = TopicResponse.PartitionData
#: The most records one fetch reads from the broker (the byte limits trim the response).
MAX_RECORDS_PER_FETCH = 20_000
#: Per-record overhead in a v2 batch, for counting bytes towards ``min_bytes``.
_RECORD_OVERHEAD = 21
_FETCH_ERRORS = {
    FetchError.OFFSET_OUT_OF_RANGE: kafka_errors.OffsetOutOfRangeError.errno,
    FetchError.UNKNOWN_TOPIC_OR_PARTITION: kafka_errors.UnknownTopicOrPartitionError.errno,
}


def _size(record: Any) -> int:
    return (
        len(record.key or b"") + len(record.value or b"") + _RECORD_OVERHEAD
        + sum(len(k) + len(v) for k, v in record.headers)
    )


def _current_leader_epochs(ctx: RequestContext, request: Any) -> dict[TopicPartition, int]:
    """The leader epoch the client believes in per partition (from v9; -1 when absent)."""
    if ctx.api_version < 9:
        return {}
    return {
        TopicPartition(topic.topic, part.partition): part.current_leader_epoch
        for topic in request.topics
        for part in topic.partitions
    }


def handle_fetch(ctx: RequestContext, request: Any) -> Any:
    """Wait for ``min_bytes`` (at most ``max_wait_ms``), then answer every partition."""
    wanted: list[tuple[TopicPartition, int, int]] = [
        (TopicPartition(topic.topic, part.partition), part.fetch_offset, part.partition_max_bytes)
        for topic in request.topics
        for part in topic.partitions
    ]
    # (error code, high watermark, log start offset) per partition, from the latest read.
    state: dict[TopicPartition, tuple[int, int, int]] = {}
    epochs = _current_leader_epochs(ctx, request)
    for tp, offset, _ in wanted:
        code = ctx.view.leader_error(tp, epochs.get(tp, -1))
        if code:
            state[tp] = (code, -1, -1)
        elif offset < 0:
            state[tp] = (kafka_errors.OffsetOutOfRangeError.errno, -1, -1)
    positions = {tp: offset for tp, offset, _ in wanted if tp not in state}
    records: dict[TopicPartition, list[Any]] = {tp: [] for tp, _, _ in wanted}
    # min_bytes <= 0 asks for an answer at once (Kafka does not wait then).
    wait_ms = max(0, request.max_wait_ms) if request.min_bytes > 0 else 0
    started = time.monotonic()
    deadline = started + wait_ms / 1000
    budget = MAX_RECORDS_PER_FETCH
    collected = 0
    while positions and budget > 0:
        remaining = max(0.0, deadline - time.monotonic())
        results = ctx.broker.fetch(positions, max_records=budget, timeout=remaining)
        failed = False
        for tp in [tp for tp in positions if tp not in results]:
            # Left out by the broker: it no longer leads the partition (or is going down).
            state[tp] = (ctx.view.leader_error(tp, epochs.get(tp, -1))
                         or kafka_errors.NotLeaderForPartitionError.errno, -1, -1)
            del positions[tp]
            failed = True
        for tp, result in results.items():
            if result.error is not None:
                state[tp] = (_FETCH_ERRORS[result.error], -1, -1)
                del positions[tp]
                failed = True
                continue
            state[tp] = (0, result.high_watermark, result.log_start_offset)
            if result.records:
                records[tp].extend(result.records)
                positions[tp] += len(result.records)
                budget -= len(result.records)
                for record in result.records:  # sizes matter only until min_bytes is met
                    if collected >= request.min_bytes:
                        break
                    collected += _size(record)
        # An error answers at once, as enough data does; otherwise wait for more until the
        # deadline (the next fetch starts after what we have, so it waits for new records).
        if failed or collected >= request.min_bytes or remaining <= 0:
            break
    if ctx.stats is not None:
        ctx.stats.fetch(FetchWait(
            started=started, waited=time.monotonic() - started, max_wait=wait_ms / 1000,
            records=sum(len(r) for r in records.values()), partitions=len(wanted),
        ))
    room = request.max_bytes if request.max_bytes > 0 else 2**31 - 1
    by_topic: dict[str, list[Any]] = {}
    for tp, _, partition_max in wanted:
        code, high_watermark, log_start = state.get(tp, (0, -1, -1))
        data = b""
        if records[tp] and room > 0:
            data = encode_records(records[tp], min(max(1, partition_max), room))
            room -= len(data)
        by_topic.setdefault(tp.topic, []).append(PartitionData(
            partition_index=tp.partition, error_code=code, high_watermark=high_watermark,
            last_stable_offset=high_watermark, log_start_offset=log_start,
            aborted_transactions=None, preferred_read_replica=-1, records=data,
        ))
    return ctx.response(
        throttle_time_ms=0, error_code=0, session_id=0,
        responses=[TopicResponse(topic=name, partitions=parts) for name, parts in by_topic.items()],
    )


HANDLERS = {
    FetchRequest.API_KEY: ApiHandler(FetchRequest, FetchResponse, 4, 12, handle_fetch),
}
