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

Transactions (the request's ``isolation_level``, from v4): a ``read_uncommitted`` consumer
(0) reads up to the high watermark and sees every record, those of open and aborted
transactions included; a ``read_committed`` one (1) reads only below the *last stable offset*
(the first offset of the oldest transaction still open), so it waits there, long-polling, until
that transaction ends. Each partition answers its last stable offset and, to a
``read_committed`` consumer, the aborted transactions of the records sent (producer id and
first offset): the consumer itself drops their records, as Kafka's consumers do. Records go
out in Kafka's batches: a transactional producer's records in transactional batches with its
producer id and epoch, each COMMIT or ABORT marker in a control batch of its own (see
:mod:`pcmodel.wire.records`); consumers never hand markers to the application. An
``isolation_level`` other than 0 or 1 is INVALID_REQUEST for every partition.

Each batch carries, as its *partitionLeaderEpoch*, the leader epoch its records were
written in (the leader's epoch cache, ``ClusterView.written_epochs``; a lone broker's is always
0), so that a consumer validating its position after a leader change (KIP-320) asks about the
epoch of the last record it read, as with Kafka.

Records go out in the producers' batches, as Kafka's log keeps them (``Broker.fetch(...,
whole_batches=True)``): a fetch from an offset in the middle of a batch gets that whole batch,
from its base offset (also when DeleteRecords moved the log start into it: its records below
the start come too), and the client drops the records before its position, as Kafka's clients
do; a compressed batch goes out as it was compressed, with its codec, and each batch with the
producer id, epoch and first sequence number the log kept for it (see
:mod:`pcmodel.wire.records`).

Byte limits are Kafka's (``ReplicaManager.readFromLocalLog`` and ``LogSegment.read``): each
partition sends its batches up to the smaller of its ``partition_max_bytes`` and what is left
of ``max_bytes``, the last batch cut at that limit (a partial batch, which clients discard and
fetch again). A first batch is never cut: the first partition that sends any bytes always
sends its first batch whole, however large (KIP-74, so that an oversized batch cannot stall a
consumer); a later partition whose first batch does not fit sends nothing this time. Once the
response is full, later partitions send nothing either.

Fetch sessions (KIP-227) are declined by answering session id 0: clients then send full
fetches, which is always correct. An incremental fetch (a session epoch other than 0, which asks
for a new session, or -1, which asks for none) names a session this broker never created, so it
is answered FETCH_SESSION_ID_NOT_FOUND with no partitions, as Kafka answers a session it
does not know: the partitions such a request leaves out are not ones the client stopped
wanting, and answering only those it names would stall the rest.
"""

from __future__ import annotations

import time
from typing import Any

from kafka.protocol.consumer import FetchRequest, FetchResponse

from pcmodel.topics.broker_checks import INT32_MAX
from pcmodel.topics.broker_results import FetchError, FetchResult
from pcmodel.topics.errors import KafkaError
from pcmodel.topics.log_batches import StoredBatch
from pcmodel.topics.log_records import LogRecord
from pcmodel.topics.log_transactions import (
    ISOLATION_LEVELS,
    AbortedTransaction,
    TransactionalBatch,
)
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.api import ApiHandler, RequestContext, kafka_errors
from pcmodel.wire.records import encode_records
from pcmodel.wire.stats import FetchWait

__all__ = ["HANDLERS"]

TopicResponse = FetchResponse.FetchableTopicResponse
PartitionData = TopicResponse.PartitionData
Aborted = PartitionData.AbortedTransaction
#: The most records one fetch reads from the broker (the byte limits trim the response).
MAX_RECORDS_PER_FETCH = 20_000
#: The session epochs of a full fetch (KIP-227): 0 asks for a new session, -1 for none.
_FULL_FETCH_EPOCHS = (0, -1)
#: Per-record overhead in a v2 batch, for counting bytes towards ``min_bytes``.
_RECORD_OVERHEAD = 21
_FETCH_ERRORS = {
    FetchError.OFFSET_OUT_OF_RANGE: kafka_errors.OffsetOutOfRangeError.errno,
    FetchError.UNKNOWN_TOPIC_OR_PARTITION: kafka_errors.UnknownTopicOrPartitionError.errno,
}


def _size(record: Any) -> int:
    return (
        len(record.key or b"") + len(record.value or b"") + _RECORD_OVERHEAD
        + sum(len(k) + len(v or b"") for k, v in record.headers)  # v None: a null value
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


class _Partition:
    """What the fetch gathered for one partition: its error code and offsets from the latest
    read, its records, their transactional batches and producers' batches (by base offset)
    and aborted transactions."""

    __slots__ = ("code", "high_watermark", "last_stable_offset", "log_start", "records",
                 "batches", "stored", "aborted")

    def __init__(self, code: int = 0) -> None:
        self.code = code
        self.high_watermark = self.last_stable_offset = self.log_start = -1
        self.records: list[LogRecord] = []
        self.batches: dict[int, TransactionalBatch] = {}
        self.stored: dict[int, StoredBatch] = {}
        self.aborted: set[AbortedTransaction] = set()

    def read(self, result: FetchResult) -> None:
        """Take in one read of the partition (an error-free one)."""
        self.code = 0
        self.high_watermark, self.log_start = result.high_watermark, result.log_start_offset
        # A broker that keeps no transactions answers -1: everything it has is stable.
        self.last_stable_offset = (result.last_stable_offset if result.last_stable_offset >= 0
                                   else result.high_watermark)
        # A read that ended inside a batch (at the high watermark) is read again from the
        # batch's start: the records already here are not taken twice.
        held = self.records[-1].offset if self.records else -1
        self.records.extend(r for r in result.records if r.offset > held)
        self.batches.update((b.base_offset, b) for b in result.transactional_batches)
        self.stored.update((b.base_offset, b) for b in result.batches)  # the latest, fullest
        self.aborted.update(result.aborted_transactions or ())


def handle_fetch(ctx: RequestContext, request: Any) -> Any:
    """Wait for ``min_bytes`` (at most ``max_wait_ms``), then answer every partition."""
    if ctx.api_version >= 7 and request.session_epoch not in _FULL_FETCH_EPOCHS:
        return ctx.response(throttle_time_ms=0, session_id=0, responses=[],
                            error_code=kafka_errors.FetchSessionIdNotFoundError.errno)
    wanted: list[tuple[TopicPartition, int, int]] = [
        (TopicPartition(topic.topic, part.partition), part.fetch_offset, part.partition_max_bytes)
        for topic in request.topics
        for part in topic.partitions
    ]
    parts = {tp: _Partition() for tp, _, _ in wanted}
    epochs_asked = _current_leader_epochs(ctx, request)
    isolation = request.isolation_level
    for tp, offset, _ in wanted:
        code = ctx.view.leader_error(tp, epochs_asked.get(tp, -1))
        if isolation not in (0, 1):
            code = kafka_errors.InvalidRequestError.errno
        elif not code and offset < 0:
            code = kafka_errors.OffsetOutOfRangeError.errno
        parts[tp].code = code
    positions = {tp: offset for tp, offset, _ in wanted if not parts[tp].code}
    # min_bytes <= 0 asks for an answer at once (Kafka does not wait then).
    wait_ms = max(0, request.max_wait_ms) if request.min_bytes > 0 else 0
    started = time.monotonic()
    deadline = started + wait_ms / 1000
    budget = MAX_RECORDS_PER_FETCH
    collected = 0
    while positions and budget > 0:
        remaining = max(0.0, deadline - time.monotonic())
        results = ctx.broker.fetch(positions, max_records=budget, timeout=remaining,
                                   isolation_level=ISOLATION_LEVELS[isolation],
                                   whole_batches=True)
        failed = False
        for tp in [tp for tp in positions if tp not in results]:
            # Left out by the broker: it no longer leads the partition (or is going down).
            parts[tp].code = (ctx.view.leader_error(tp, epochs_asked.get(tp, -1))
                              or kafka_errors.NotLeaderForPartitionError.errno)
            del positions[tp]
            failed = True
        for tp, result in results.items():
            if result.error is not None:
                parts[tp].code = _FETCH_ERRORS[result.error]
                del positions[tp]
                failed = True
                continue
            parts[tp].read(result)
            if result.records:
                # Not position + count: compaction leaves gaps between offsets.
                positions[tp] = result.records[-1].offset + 1
                budget -= len(result.records)  # whole batches may take it below 0
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
            records=sum(len(part.records) for part in parts.values()), partitions=len(wanted),
        ))
    room = request.max_bytes if request.max_bytes > 0 else INT32_MAX
    by_topic: dict[str, list[Any]] = {}
    sent_any = False  # until a partition sends records, the limits yield to its first one
    for tp, _, partition_max in wanted:
        part = parts[tp]
        data = b""
        if part.records and room > 0:
            epochs = _written_epochs(ctx, tp, part, epochs_asked.get(tp, -1))
            if part.records:
                data = encode_records(part.records, min(max(1, partition_max), room),
                                      sorted(part.batches.values()), epochs,
                                      at_least_one=not sent_any,
                                      stored=[part.stored[base] for base in sorted(part.stored)])
                room -= len(data)
                sent_any = sent_any or bool(data)
        by_topic.setdefault(tp.topic, []).append(PartitionData(
            partition_index=tp.partition, error_code=part.code,
            high_watermark=part.high_watermark if not part.code else -1,
            last_stable_offset=part.last_stable_offset if not part.code else -1,
            log_start_offset=part.log_start if not part.code else -1,
            aborted_transactions=_aborted(part) if isolation == 1 else None,
            preferred_read_replica=-1, records=data,
        ))
    return ctx.response(
        throttle_time_ms=0, error_code=0, session_id=0,
        responses=[TopicResponse(topic=name, partitions=answers)
                   for name, answers in by_topic.items()],
    )


def _written_epochs(ctx: RequestContext, tp: TopicPartition, part: _Partition,
                    current_leader_epoch: int) -> list[tuple[int, int]]:
    """The leader epochs ``part``'s records were written in, for their batches (see
    ``ClusterView.written_epochs``). A broker that lost the leadership since it read them
    answers as when the read itself finds that: no records, the leader check's error."""
    try:
        return ctx.view.written_epochs(tp, part.records[0].offset, part.records[-1].offset)
    except KafkaError:  # not the leader any more, or down
        part.code = (ctx.view.leader_error(tp, current_leader_epoch)
                     or kafka_errors.NotLeaderForPartitionError.errno)
        part.records.clear()
        return []


def _aborted(part: _Partition) -> list[Any]:
    """A ``read_committed`` partition's aborted transactions, by first offset (none with an
    error, as Kafka answers)."""
    if part.code:
        return []
    return [Aborted(producer_id=a.producer_id, first_offset=a.first_offset)
            for a in sorted(part.aborted, key=lambda a: (a.first_offset, a.producer_id))]


HANDLERS = {
    FetchRequest.API_KEY: ApiHandler(FetchRequest, FetchResponse, 4, 12, handle_fetch),
}
