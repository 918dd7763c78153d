"""Produce: append each partition's record batch to its log, all of it or nothing.

On a lone broker ``acks`` 1 and ``all`` (-1) answer once the records are in the log: a single
broker is the whole in-sync replica set, so both mean the same there. On a broker of a
replicated cluster (a broker object with ``honours_acks``) the acks travel with the append and
mean what they mean in Kafka: ``all`` answers once every in-sync replica has the records, or
NOT_ENOUGH_REPLICAS(_AFTER_APPEND) when the ISR is smaller than ``min.insync.replicas``; a
broker that does not lead the partition answers NOT_LEADER_OR_FOLLOWER. ``acks=0`` gets no
answer at all; if its request fails, the connection is closed, as Kafka does, so that the
producer notices.
A batch whose codec is missing on the broker is refused with UNSUPPORTED_COMPRESSION_TYPE (gzip
is always available; snappy, lz4 and zstd need their packages), as is a zstd batch in a Produce
request older than v7; a batch that is not one v2 batch is INVALID_RECORD. A partition that does
not exist is UNKNOWN_TOPIC_OR_PARTITION whatever its batch holds: Kafka looks it up first.
A batch whose header Kafka's ``LogValidator`` refuses (a base offset other than 0, a count that
does not match its offset range, a producer id without a sequence) or whose records do not
decode as the header announces them is INVALID_RECORD (see
:func:`~pcmodel.wire.records.decode_batch`); a CRC mismatch is CORRUPT_MESSAGE. A compressed
payload not valid for its codec is UNKNOWN_SERVER_ERROR with the partition's log start offset,
as Kafka answers the bare ``KafkaException`` its codec throws (a Java producer does not retry
it, as it would CORRUPT_MESSAGE). One difference, on purpose: a
compressed batch is decompressed only up to
:data:`~pcmodel.wire.records.MAX_DECOMPRESSED_BYTES` (100 MiB, what one request may carry),
past which it is MESSAGE_TOO_LARGE. Kafka weighs only the compressed bytes against
``max.message.bytes`` (so does pcmodel) and streams the records out of the decompressor,
keeping the batch compressed; pcmodel decodes every record, so without that bound a few
hundred KiB that expand to gigabytes would take gigabytes of memory.
A batch refused for some of its records (a record without a key on a compacted topic, a create
time outside the topic's ``message.timestamp.*.max.ms`` window) is answered as Kafka's
``ReplicaManager`` answers a ``RecordValidationException``: ``record_errors`` names each record
refused (its index in the batch and why, in Kafka's words), ``error_message`` sums them up, and
INVALID_TIMESTAMP wins over INVALID_RECORD when both occur; Java, kafka-python and librdkafka
then fail the records named with their own reason and the others of the batch as bystanders.
A refused batch's ``log_start_offset`` is Kafka's: -1 where Kafka refuses it before its log is
touched (an unknown partition, not the leader, a batch too large or corrupt, a request that is
not one v2 batch, bad acks, a partition the transaction does not hold), else the partition's
log start (records refused, a control batch or an empty one, a producer's epoch or sequence
refused, too few in-sync replicas). One difference, on purpose: Kafka sends
``error_message`` only with refused records (its clients then show the error's generic text);
pcmodel says what went wrong with every error, which the Java client then shows in its
exception instead.
Records keep the producer's timestamps, unless their topic's ``message.timestamp.type`` is
``LogAppendTime``: then the broker stamps them and answers the time it used
(``log_append_time_ms``, else -1).
A batch whose header claims ``LogAppendTime`` (attribute bit 3, which only a broker sets) is
judged as Kafka's ``LogValidator.validateTimestamp`` judges it: each record reads the batch's
max timestamp as its own; on a ``LogAppendTime`` topic, and wherever that timestamp is -1,
every record is refused with INVALID_TIMESTAMP ("Producer should not set timestamp type to
LogAppendTime", a record without a key on a compacted topic named for that instead); on a
``CreateTime`` topic any other timestamp is judged by the topic's window like a create time,
and kept. One difference, on purpose: pcmodel keeps that timestamp for each record, as the
batch read; Kafka rewrites only the batch header's type, so its log afterwards reads each
record's first timestamp plus delta, a time it never judged.

Idempotent producers (the default of kafka-python 3 and of Kafka's Java client) first ask
InitProducerId for a producer id; their batches then go through
:meth:`~pcmodel.topics.broker.Broker.append_idempotent`, which appends a retried batch only
once. A transactional producer's InitProducerId carries its transactional id (and its
``transaction.timeout.ms``): the broker's transaction coordinator (on a cluster, the id's
coordinator only; the other brokers answer NOT_COORDINATOR, see
:mod:`pcmodel.wire.node_connection`) answers the id's producer id with a new epoch, fencing every
older instance (PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH before v4, as Kafka answers), or
INVALID_TRANSACTION_TIMEOUT above the broker's ``transaction.max.timeout.ms``; an empty
transactional id, or a producer id without an epoch (or the reverse), is INVALID_REQUEST. Its
batches are transactional (``append_idempotent(..., transactional=True)``): a partition accepts
one only while the producer's ongoing transaction holds it (INVALID_TXN_STATE otherwise), and a
producer a newer instance fenced hears INVALID_PRODUCER_EPOCH. A request with transactional
batches must name its transactional id: without one, every partition is answered
TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka's ``handleProduceRequest`` answers. A control
batch (a transaction marker) from a client is INVALID_RECORD: only brokers write markers. See
:mod:`pcmodel.wire.handlers.transactions` for the rest of a transaction.

DescribeProducers shows what a broker remembers of those producers in each partition it holds,
leader or follower (a follower copies the producer batches with the records): producer id,
epoch, last sequence number and last timestamp. A broker with no replica of the partition
answers NOT_LEADER_OR_FOLLOWER; an illegal topic name INVALID_TOPIC_EXCEPTION, an unknown
topic or partition UNKNOWN_TOPIC_OR_PARTITION, as Kafka's ``handleDescribeProducersRequest``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kafka.protocol.admin.transactions import DescribeProducersRequest, DescribeProducersResponse
from kafka.protocol.producer import (
    InitProducerIdRequest,
    InitProducerIdResponse,
    ProduceRequest,
    ProduceResponse,
)

from pcmodel.topics.errors import (
    InvalidRecordError,
    InvalidTimestampError,
    KafkaTimeoutError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.log_records import NO_TIMESTAMP
from pcmodel.topics.structs import PartitionProducers, TopicPartition
from pcmodel.wire.api import (
    ApiHandler,
    CloseConnection,
    RequestContext,
    error_code,
    error_message,
    impossible_partition,
    kafka_errors,
)
from pcmodel.wire.handlers.transactions import transactional_error_code
from pcmodel.wire.records import BatchRejected, ProducedBatch, decode_batch, is_transactional

__all__ = ["HANDLERS"]

_LEGAL_ACKS = (0, 1, -1)
#: The wire's acks as pcmodel's brokers name them.
_ACKS = {0: 0, 1: 1, -1: "all"}
TopicResponse = ProduceResponse.TopicProduceResponse
PartitionResponse = TopicResponse.PartitionProduceResponse
_RecordError = PartitionResponse.BatchIndexAndErrorMessage
#: Errors Kafka answers with log start offset -1 (``LogAppendInfo.UNKNOWN_LOG_APPEND_INFO``):
#: those ``appendToLocalLog`` meets before or while it reads the batch, and a transactional
#: batch for a partition the transaction does not hold (refused before the append, by the
#: transaction verification of Kafka 3.6 and later).
_BEFORE_THE_LOG = frozenset(error.errno for error in (
    kafka_errors.UnknownTopicOrPartitionError, kafka_errors.NotLeaderForPartitionError,
    kafka_errors.MessageSizeTooLargeError, kafka_errors.RecordListTooLargeError,
    kafka_errors.CorruptRecordError, kafka_errors.KafkaStorageError,
    kafka_errors.InvalidTxnStateError,
))


class _Answer(NamedTuple):
    """One partition's answer to a Produce request."""

    code: int
    base_offset: int = -1
    log_start_offset: int = -1
    log_append_time_ms: int = -1
    message: str | None = None
    #: ``(index in the batch, why)`` for each record refused (ProduceResponse v8+).
    record_errors: tuple[tuple[int, str], ...] = ()


def _records_refused(ctx: RequestContext, topic: str, partition: int, exc: Any) -> _Answer:
    """The answer to a batch refused for some of its records, as Kafka's ``ReplicaManager``
    gives it for a ``RecordValidationException``: each record's index and reason, one summary
    message, and the partition's log start offset."""
    errors = tuple(exc.record_errors)
    if isinstance(exc, InvalidTimestampError):
        summary = "One or more records have been rejected due to invalid timestamp"
    else:
        shown = ", ".join(f"RecordError(batchIndex={i}, message='{m}')" for i, m in errors[:3])
        summary = (f"One or more records have been rejected due to {len(errors)} record errors "
                   f"in total, and only showing the first three errors at most: [{shown}]")
    return _Answer(error_code(exc), log_start_offset=_log_start(ctx, topic, partition),
                   message=summary, record_errors=errors)


def _log_start(ctx: RequestContext, topic: str, partition: int) -> int:
    """The partition's log start offset, which Kafka answers with most refused appends;
    -1 if the partition went away."""
    tp = TopicPartition(topic, partition)
    try:
        return ctx.broker.beginning_offsets([tp])[tp]
    except Exception:  # noqa: BLE001 - the partition went away: Kafka answers -1 then
        return -1


def _failed(ctx: RequestContext, topic: str, partition: int, exc: BaseException) -> _Answer:
    """The answer to an append that failed with ``exc`` (not for single records): its log
    start offset as Kafka's ``ReplicaManager.appendToLocalLog`` gives it, -1 for the errors
    it knows before the log is touched (:data:`_BEFORE_THE_LOG`), the partition's for the
    others (a producer's epoch or sequence refused, too few in-sync replicas, ...)."""
    code = error_code(exc)
    start = -1 if code in _BEFORE_THE_LOG else _log_start(ctx, topic, partition)
    return _Answer(code, log_start_offset=start, message=error_message(exc))


def _log_append_time_refused(ctx: RequestContext, tp: TopicPartition,
                             batch: ProducedBatch) -> InvalidTimestampError | None:
    """The error that refuses a batch its client flagged ``LogAppendTime`` (see the module),
    with ``record_errors`` for every record, in Kafka's words; None if Kafka would take it,
    or would refuse it for an earlier reason (not the leader, an unknown partition, a batch
    over ``max.message.bytes``), which the append then answers."""
    if ctx.view.leader_error(tp, -1) or \
            tp.partition not in range(ctx.broker.list_topics().get(tp.topic, 0)):
        return None
    configs = {entry.name: entry.value for entry in ctx.broker.describe_topic_configs(tp.topic)}
    if batch.size > int(configs["max.message.bytes"]):
        return None
    stamped_by_log = configs["message.timestamp.type"] == "LogAppendTime"
    if not stamped_by_log and batch.records[0].timestamp_ms != NO_TIMESTAMP:
        return None  # a create time like any other (every record reads the same one)
    compacted = "compact" in configs["cleanup.policy"].split(",")
    errors, first = [], None
    for index, (key, value, _, timestamp) in enumerate(batch.records):
        if compacted and key is None:  # a record's first fault is named, its key first
            errors.append((index, "Compacted topic cannot accept message without key in "
                                  f"topic partition {tp.topic}-{tp.partition}"))
            continue
        record = (f"DefaultRecord(offset={index}, timestamp={timestamp}, "
                  f"key={len(key or b'')} bytes, value={len(value or b'')} bytes)")
        errors.append((index, f"Invalid timestamp type in message {record}. Producer should "
                              "not set timestamp type to LogAppendTime."))
        first = first or errors[-1][1]
    if first is None:
        return None  # only keys are missing: the append refuses them (INVALID_RECORD)
    error = InvalidTimestampError(first)
    error.record_errors = tuple(errors)
    return error


def _append(ctx: RequestContext, topic: str, partition: int, data: bytes | None,
            timeout: float, acks: int) -> _Answer:
    """Append one partition's batch and say how it went."""
    extra = {"acks": _ACKS[acks]} if getattr(ctx.broker, "honours_acks", False) else {}
    try:
        batch = decode_batch(data, ctx.api_version)
        if batch.log_append_time:
            refused = _log_append_time_refused(ctx, TopicPartition(topic, partition), batch)
            if refused is not None:
                raise refused
        if batch.transactional:
            extra["transactional"] = True
        if batch.producer_id >= 0:
            result = ctx.broker.append_idempotent(
                topic, partition, batch.records, producer_id=batch.producer_id,
                producer_epoch=batch.producer_epoch, first_sequence=batch.first_sequence,
                timeout=timeout, compression=batch.compression, batch_bytes=batch.size,
                **extra,
            )
        else:
            result = ctx.broker.append(topic, partition, batch.records, timeout=timeout,
                                       compression=batch.compression, batch_bytes=batch.size,
                                       **extra)
    except CloseConnection:
        raise  # the broker went down: it answers nothing
    except BatchRejected as exc:
        if partition not in range(ctx.broker.list_topics().get(topic, 0)):
            # Kafka looks the partition up before it reads the batch.
            unknown = UnknownTopicOrPartitionError.no_partition(TopicPartition(topic, partition))
            return _Answer(unknown.errno, message=error_message(unknown))
        start = _log_start(ctx, topic, partition) if exc.by_validator else -1
        return _Answer(exc.code, log_start_offset=start, message=error_message(exc))
    except KafkaTimeoutError as exc:
        # A "block" partition stayed full for the whole request timeout.
        return _Answer(kafka_errors.RequestTimedOutError.errno, message=error_message(exc))
    except (InvalidRecordError, InvalidTimestampError) as exc:
        if getattr(exc, "record_errors", ()):  # the broker named the records it refused
            return _records_refused(ctx, topic, partition, exc)
        return _failed(ctx, topic, partition, exc)
    except Exception as exc:
        return _failed(ctx, topic, partition, exc)
    return _Answer(0, result.base_offset, result.log_start_offset, result.log_append_time_ms)


def handle_produce(ctx: RequestContext, request: Any) -> Any:
    """Append every partition's batch; answer per partition unless ``acks=0``."""
    acks = request.acks
    timeout = max(0, request.timeout_ms) / 1000
    # Kafka refuses the whole request (every partition) when transactional batches come
    # without the transactional id they belong to.
    anonymous = request.transactional_id is None and any(
        is_transactional(part.records) for topic in request.topic_data
        for part in topic.partition_data)
    responses = []
    failures = []
    for topic in request.topic_data:
        partitions = []
        for part in topic.partition_data:
            if anonymous:
                answer = _Answer(kafka_errors.TransactionalIdAuthorizationFailedError.errno,
                                 message="transactional batches need the request's "
                                         "transactional_id")
            elif acks not in _LEGAL_ACKS:
                answer = _Answer(kafka_errors.InvalidRequiredAcksError.errno,
                                 message=f"acks must be 0, 1 or -1 (all), got {acks}")
            else:
                answer = _append(ctx, topic.name, part.index, part.records, timeout, acks)
            if answer.code:
                failures.append(f"{topic.name}-{part.index}: {answer.message}")
            partitions.append(PartitionResponse(
                index=part.index, error_code=answer.code, base_offset=answer.base_offset,
                log_append_time_ms=answer.log_append_time_ms,
                log_start_offset=answer.log_start_offset, record_errors=[
                    _RecordError(batch_index=i, batch_index_error_message=m)
                    for i, m in answer.record_errors],
                error_message=answer.message,
            ))
        responses.append(TopicResponse(name=topic.name, partition_responses=partitions))
    if acks == 0:
        if failures:
            raise CloseConnection(f"an acks=0 produce failed ({'; '.join(failures)})")
        return None
    return ctx.response(responses=responses, throttle_time_ms=0)


def handle_init_producer_id(ctx: RequestContext, request: Any) -> Any:
    """Give an idempotent producer its id and epoch, or a transactional one its transactional
    id's (bumping the epoch: older instances are fenced)."""
    version = ctx.api_version
    producer_id, epoch = (request.producer_id, request.producer_epoch) if version >= 3 \
        else (-1, -1)
    transactional_id = request.transactional_id
    try:
        if (producer_id == -1) != (epoch == -1):
            code = kafka_errors.InvalidRequestError.errno  # Kafka's check, before any other
            producer_id = epoch = -1
        elif transactional_id is None:
            producer_id, epoch = ctx.broker.init_producer_id(producer_id, epoch)
            code = 0
        else:
            producer_id, epoch = ctx.broker.init_producer_id(
                producer_id, epoch, transactional_id=transactional_id,
                transaction_timeout_ms=request.transaction_timeout_ms)
            code = 0
    except CloseConnection:
        raise  # a cluster's broker went down: it answers nothing
    except Exception as exc:
        code, producer_id, epoch = transactional_error_code(exc, version, 4), -1, -1
    return ctx.response(throttle_time_ms=0, error_code=code, producer_id=producer_id,
                        producer_epoch=epoch)


_ProducersTopic = DescribeProducersResponse.TopicResponse
_ProducersPartition = _ProducersTopic.PartitionResponse


def handle_describe_producers(ctx: RequestContext, request: Any) -> Any:
    """The idempotent producers this broker's replicas remember, per partition named."""
    # Lists, not dicts: each topic entry of the request gets its own entry in the answer, and
    # a partition named twice is answered twice, as Kafka answers them.
    entries: list[tuple[str, list[tuple[TopicPartition, PartitionProducers | None]]]] = []
    for topic in request.topics:
        named = []
        for p in topic.partition_indexes:
            tp = TopicPartition(topic.name, p)
            error = impossible_partition(tp)  # answered here, not asked of the broker
            named.append((tp, None if error is None else PartitionProducers((), error)))
        entries.append((topic.name, named))
    asked = list(dict.fromkeys(tp for _, named in entries for tp, answer in named
                               if answer is None))
    found = ctx.broker.describe_producers(asked) if asked else {}
    return ctx.response(throttle_time_ms=0, topics=[
        _ProducersTopic(name=name, partitions=[
            _producers_partition(tp, found[tp] if answer is None else answer)
            for tp, answer in named])
        for name, named in entries])


def _producers_partition(tp: TopicPartition, answer: PartitionProducers) -> Any:
    error = answer.error
    return _ProducersPartition(
        partition_index=tp.partition,
        error_code=0 if error is None else error_code(error),
        error_message=None if error is None else error_message(error),
        active_producers=[_ProducersPartition.ProducerState(
            producer_id=p.producer_id, producer_epoch=p.producer_epoch,
            last_sequence=p.last_sequence, last_timestamp=p.last_timestamp,
            coordinator_epoch=p.coordinator_epoch,
            current_txn_start_offset=p.current_transaction_start_offset)
            for p in answer.active_producers])


HANDLERS = {
    ProduceRequest.API_KEY: ApiHandler(ProduceRequest, ProduceResponse, 3, 9, handle_produce),
    InitProducerIdRequest.API_KEY: ApiHandler(
        InitProducerIdRequest, InitProducerIdResponse, 0, 4, handle_init_producer_id
    ),
    DescribeProducersRequest.API_KEY: ApiHandler(
        DescribeProducersRequest, DescribeProducersResponse, 0, 0, handle_describe_producers
    ),
}
