"""The transaction APIs: AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn,
DescribeTransactions, ListTransactions and WriteTxnMarkers.

A transactional producer (kafka-python's ``KafkaProducer(transactional_id=...)``,
confluent-kafka's ``transactional.id``) talks to its *transaction coordinator*, which a lone
broker is for every transactional id (:mod:`pcmodel.topics.transactions` explains the rules;
each handler maps one request to one :class:`~pcmodel.topics.broker.Broker` call):

1. FindCoordinator (``key_type`` 1) and InitProducerId with the transactional id
   (``init_transactions()``; :mod:`pcmodel.wire.handlers.metadata`,
   :mod:`pcmodel.wire.handlers.produce`): a producer id and a new epoch, which fences every
   older instance of the producer;
2. AddPartitionsToTxn before its first record to a partition in a transaction, then Produce
   with transactional batches;
3. ``send_offsets_to_transaction()``: AddOffsetsToTxn to the transaction coordinator, then
   TxnOffsetCommit to the group's coordinator, which stages the offsets: they become the
   group's only if the transaction commits;
4. EndTxn (``commit_transaction()`` / ``abort_transaction()``): the broker writes a COMMIT or
   ABORT marker to every partition of the transaction and stores or drops the staged offsets.

Errors are Kafka's codes from the broker's exceptions (their ``errno``): PRODUCER_FENCED (90)
for a producer a newer instance fenced, INVALID_PRODUCER_ID_MAPPING (49), INVALID_TXN_STATE
(48), ... Versions before PRODUCER_FENCED existed hear INVALID_PRODUCER_EPOCH (47) instead, as
Kafka's ``KafkaApis`` answers them (InitProducerId before v4, AddPartitionsToTxn,
AddOffsetsToTxn and EndTxn before v2), and so does TxnOffsetCommit at every version, as
Kafka's verification of a transactional offset commit answers a fenced producer.

AddPartitionsToTxn is all or nothing: if a partition does not exist, it is answered
UNKNOWN_TOPIC_OR_PARTITION, every other one OPERATION_NOT_ATTEMPTED (55), and the transaction
is left as it was, as Kafka's ``handleAddPartitionsToTxnRequest``; otherwise every partition
gets the coordinator's answer. TxnOffsetCommit answers a partition that does not exist
UNKNOWN_TOPIC_OR_PARTITION; the coordinator then checks the consumer (an error there answers
every other partition), answers one whose metadata is longer than the broker's
``offset_metadata_max_bytes`` OFFSET_METADATA_TOO_LARGE (12; Kafka's
``offset.metadata.max.bytes``, counted in UTF-16 code units, as
``OffsetMetadataManager.commitTransactionalOffset`` checks it), and stages the others, with
the leader epoch each carries (v2+). The versions served are those clients send: kafka-python
3 sends AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit up to v3,
librdkafka v0, v0, v1 and v3; AddPartitionsToTxn v4+ is the brokers' batched form and the
versions after 3 of the others carry KIP-890's TRANSACTION_ABORTABLE, neither served here.

DescribeTransactions answers each id asked, in order: its state (Kafka's names: ``Ongoing``,
``CompleteCommit``...), producer id and epoch, timeout, start time and the partitions of its
ongoing transaction; TRANSACTIONAL_ID_NOT_FOUND (105) for an unknown id and INVALID_REQUEST
for an empty one, with Kafka's defaults (0, and an empty state) in the other fields.
ListTransactions (v0-v1) lists the transactional ids, filtered by state, producer id and (v1)
duration; a state Kafka does not know is not an error: it is returned in
``unknown_state_filters`` and matches nothing, as Kafka's ``TransactionStateManager`` does.

WriteTxnMarkers (v0-v1; v1 is the flexible form) is the broker-to-broker API a transaction
coordinator sends to the leaders of a transaction's partitions to end it there, and the one
``kafka-transactions.sh abort`` and kafka-python's admin ``abort_transaction`` send to a
partition's leader to end a transaction left open (``describe_producers`` tells its producer
id, epoch and coordinator epoch). Each marker names a producer id and epoch, the result
(``transaction_result`` true: COMMIT, false: ABORT), the coordinator epoch and partitions;
each partition gets its own error code: UNKNOWN_TOPIC_OR_PARTITION for one that does not exist,
NOT_LEADER_OR_FOLLOWER at a broker that does not lead it, INVALID_PRODUCER_EPOCH (47) for a
producer epoch older than the producer's newest there and TRANSACTION_COORDINATOR_FENCED (52)
for a coordinator epoch older than that of the producer's last marker there, as Kafka's
``ProducerAppendInfo`` checks a marker; nothing is written to such a partition. (A cluster's
internal topics, which hold no transactions here, answer INVALID_REQUEST.)

On a cluster's listener the same handlers serve the cluster's coordinators
(:mod:`pcmodel.wire.node_connection`): a request about a transactional id reaches its coordinator,
the leader of the id's ``__transaction_state`` partition, and any other broker answers
NOT_COORDINATOR (TxnOffsetCommit: any broker but the group's coordinator), so that the client
finds the coordinator again; ListTransactions lists the ids the broker asked coordinates. A
broker that dies during a request answers nothing: its connection closes, as a crashed
broker's does, and the client asks elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kafka.protocol.admin.transactions import (
    DescribeTransactionsRequest,
    DescribeTransactionsResponse,
    ListTransactionsRequest,
    ListTransactionsResponse,
)
from kafka.protocol.producer.transaction import (
    AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse,
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
    EndTxnRequest,
    EndTxnResponse,
    TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
    WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
)

from pcmodel.topics.errors import IllegalStateError, OffsetMetadataTooLargeError
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from pcmodel.topics.transactions import TransactionState
from pcmodel.wire.api import (
    ApiHandler,
    CloseConnection,
    RequestContext,
    committed_leader_epoch,
    error_code,
    impossible_partition,
    kafka_errors,
)

__all__ = ["HANDLERS", "transactional_error_code"]

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = kafka_errors.UnknownTopicOrPartitionError.errno
OPERATION_NOT_ATTEMPTED = kafka_errors.OperationNotAttemptedError.errno
INVALID_PRODUCER_EPOCH = kafka_errors.InvalidProducerEpochError.errno
PRODUCER_FENCED = kafka_errors.ProducerFencedError.errno
INVALID_REQUEST = kafka_errors.InvalidRequestError.errno
OFFSET_METADATA_TOO_LARGE = kafka_errors.OffsetMetadataTooLargeError.errno
TRANSACTIONAL_ID_NOT_FOUND = kafka_errors.TransactionalIdNotFoundError.errno
#: Kafka's state names, which ListTransactions filters by.
_STATES = {state.value for state in TransactionState}


def transactional_error_code(exc: BaseException, version: int,
                             fenced_since: int | None) -> int:
    """Kafka's code for a transactional call's exception at request ``version``.

    PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH below version ``fenced_since`` (the version
    that added it to the API; ``None``: never answered there), which older clients understand
    as the same fencing; a closed broker is COORDINATOR_NOT_AVAILABLE.
    """
    if isinstance(exc, IllegalStateError):
        return kafka_errors.CoordinatorNotAvailableError.errno
    code = error_code(exc)
    if code == PRODUCER_FENCED and (fenced_since is None or version < fenced_since):
        return INVALID_PRODUCER_EPOCH
    return code


def _existing(ctx: RequestContext, tps: Iterable[TopicPartition]) -> set[TopicPartition]:
    """Those of ``tps`` the cluster has (any topic name, any index: a bad one is missing)."""
    counts = ctx.broker.list_topics()
    return {tp for tp in tps if 0 <= tp.partition < counts.get(tp.topic, 0)}


def _by_topic(tps: Iterable[TopicPartition]) -> dict[str, list[int]]:
    """Partitions grouped by topic, in the order first named, each named once (Kafka's
    responses key them by topic and partition)."""
    grouped: dict[str, list[int]] = {}
    for tp in dict.fromkeys(tps):
        grouped.setdefault(tp.topic, []).append(tp.partition)
    return grouped


# --- AddPartitionsToTxn, AddOffsetsToTxn, EndTxn ---------------------------------------------


_TopicResult = AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult
_PartitionResult = _TopicResult.AddPartitionsToTxnPartitionResult


def handle_add_partitions_to_txn(ctx: RequestContext, request: Any) -> Any:
    """Add the partitions to the producer's transaction, all of them or none."""
    asked = [TopicPartition(topic.name, p) for topic in request.v3_and_below_topics
             for p in topic.partitions]
    existing = _existing(ctx, asked)
    if len(existing) < len(set(asked)):
        codes = {tp: NONE if tp in existing else UNKNOWN_TOPIC_OR_PARTITION for tp in asked}
        codes = {tp: OPERATION_NOT_ATTEMPTED if code == NONE else code
                 for tp, code in codes.items()}
    else:
        try:
            ctx.broker.add_partitions_to_txn(
                request.v3_and_below_transactional_id, request.v3_and_below_producer_id,
                request.v3_and_below_producer_epoch, list(dict.fromkeys(asked)))
            code = NONE
        except CloseConnection:
            raise  # a cluster's broker went down: it answers nothing
        except Exception as exc:
            code = transactional_error_code(exc, ctx.api_version, 2)
        codes = dict.fromkeys(asked, code)
    return ctx.response(throttle_time_ms=0, results_by_topic_v3_and_below=[
        _TopicResult(name=topic, results_by_partition=[
            _PartitionResult(partition_index=p, partition_error_code=codes[TopicPartition(
                topic, p)]) for p in partitions])
        for topic, partitions in _by_topic(asked).items()])


def handle_add_offsets_to_txn(ctx: RequestContext, request: Any) -> Any:
    """Add the group's offsets to the producer's transaction (``send_offsets_to_transaction``
    sends TxnOffsetCommit next)."""
    try:
        ctx.broker.add_offsets_to_txn(request.transactional_id, request.producer_id,
                                      request.producer_epoch, request.group_id)
        code = NONE
    except CloseConnection:
        raise
    except Exception as exc:
        code = transactional_error_code(exc, ctx.api_version, 2)
    return ctx.response(throttle_time_ms=0, error_code=code)


def handle_end_txn(ctx: RequestContext, request: Any) -> Any:
    """Commit or abort the producer's transaction: its markers are written, its staged offsets
    stored or dropped, before the answer."""
    try:
        ctx.broker.end_txn(request.transactional_id, request.producer_id,
                           request.producer_epoch, bool(request.committed))
        code = NONE
    except CloseConnection:
        raise
    except Exception as exc:
        code = transactional_error_code(exc, ctx.api_version, 2)
    return ctx.response(throttle_time_ms=0, error_code=code)


# --- TxnOffsetCommit ---------------------------------------------------------------------------


_CommitTopic = TxnOffsetCommitResponse.TxnOffsetCommitResponseTopic
_CommitPartition = _CommitTopic.TxnOffsetCommitResponsePartition


def handle_txn_offset_commit(ctx: RequestContext, request: Any) -> Any:
    """Stage the offsets of the partitions that exist in the producer's transaction; the
    consumer's member id, generation and instance id (v3+, KIP-447) are checked."""
    asked = [(TopicPartition(topic.name, part.partition_index), part)
             for topic in request.topics for part in topic.partitions]
    existing = _existing(ctx, (tp for tp, _ in asked))
    codes: dict[TopicPartition, int] = {}
    offsets: dict[TopicPartition, OffsetAndMetadata] = {}
    for tp, part in asked:
        if tp not in existing:
            codes[tp] = UNKNOWN_TOPIC_OR_PARTITION
        elif part.committed_offset < 0:
            codes[tp] = INVALID_REQUEST
        else:
            offsets[tp] = OffsetAndMetadata(part.committed_offset, part.committed_metadata,
                                            committed_leader_epoch(part.committed_leader_epoch))
    if offsets:
        member = {}
        if ctx.api_version >= 3:
            member = {"generation": request.generation_id, "member_id": request.member_id,
                      "group_instance_id": request.group_instance_id}
        try:
            ctx.broker.txn_offset_commit(request.transactional_id, request.group_id,
                                         request.producer_id, request.producer_epoch, offsets,
                                         **member)
            codes.update(dict.fromkeys(offsets, NONE))
        except OffsetMetadataTooLargeError as exc:  # the others were staged
            codes.update(dict.fromkeys(offsets, NONE))
            codes.update(dict.fromkeys(exc.partitions, OFFSET_METADATA_TOO_LARGE))
        except CloseConnection:
            raise
        except Exception as exc:
            codes.update(dict.fromkeys(offsets, transactional_error_code(exc, ctx.api_version,
                                                                         None)))
    return ctx.response(throttle_time_ms=0, topics=[
        _CommitTopic(name=topic.name, partitions=[
            _CommitPartition(partition_index=p.partition_index,
                             error_code=codes[TopicPartition(topic.name, p.partition_index)])
            for p in topic.partitions])
        for topic in request.topics])


# --- DescribeTransactions, ListTransactions ----------------------------------------------------


_Described = DescribeTransactionsResponse.TransactionState
_DescribedTopic = _Described.TopicData


def _failed(transactional_id: str, code: int) -> Any:
    """A description that is only an error, with Kafka's defaults in the other fields."""
    return _Described(error_code=code, transactional_id=transactional_id, transaction_state="",
                      transaction_timeout_ms=0, transaction_start_time_ms=0, producer_id=0,
                      producer_epoch=0, topics=[])


def handle_describe_transactions(ctx: RequestContext, request: Any) -> Any:
    """Describe each transactional id asked, in order (one named twice is answered twice)."""
    asked = list(request.transactional_ids)
    known = list(dict.fromkeys(tid for tid in asked if tid))
    try:
        found = ctx.broker.describe_transactions(known) if known else {}
    except CloseConnection:
        raise
    except Exception as exc:  # the whole call failed (the broker is closed, ...)
        code = transactional_error_code(exc, ctx.api_version, None)
        return ctx.response(throttle_time_ms=0,
                            transaction_states=[_failed(tid, code) for tid in asked])
    states = []
    for tid in asked:
        desc = found.get(tid)
        if desc is None:
            states.append(_failed(tid, INVALID_REQUEST))  # an empty id
        elif desc.error is not None:
            states.append(_failed(tid, error_code(desc.error)))
        else:
            states.append(_Described(
                error_code=NONE, transactional_id=tid, transaction_state=desc.state,
                transaction_timeout_ms=desc.timeout_ms,
                transaction_start_time_ms=desc.start_time_ms, producer_id=desc.producer_id,
                producer_epoch=desc.producer_epoch, topics=[
                    _DescribedTopic(topic=topic, partitions=partitions)
                    for topic, partitions in _by_topic(desc.partitions).items()]))
    return ctx.response(throttle_time_ms=0, transaction_states=states)


def handle_list_transactions(ctx: RequestContext, request: Any) -> Any:
    """The transactional ids with their producer id and state, filtered as asked."""
    filters = list(request.state_filters)
    states = [s for s in filters if s in _STATES]
    unknown = [s for s in filters if s not in _STATES]
    duration = request.duration_filter if ctx.api_version >= 1 else -1
    listed: list[Any] = []
    code = NONE
    # States were asked and none is known: nothing matches (as in Kafka), not everything.
    if states or not filters:
        try:
            listed = ctx.broker.list_transactions(states, list(request.producer_id_filters),
                                                  max(-1, duration))
        except CloseConnection:
            raise
        except Exception as exc:
            code = transactional_error_code(exc, ctx.api_version, None)
    return ctx.response(
        throttle_time_ms=0, error_code=code, unknown_state_filters=unknown,
        transaction_states=[ListTransactionsResponse.TransactionState(
            transactional_id=t.transactional_id, producer_id=t.producer_id,
            transaction_state=t.state) for t in listed])


# --- WriteTxnMarkers ---------------------------------------------------------------------------


_MarkerResult = WriteTxnMarkersResponse.WritableTxnMarkerResult
_MarkerTopic = _MarkerResult.WritableTxnMarkerTopicResult
_MarkerPartition = _MarkerTopic.WritableTxnMarkerPartitionResult


def _write_marker(ctx: RequestContext, marker: Any, tp: TopicPartition) -> int:
    """Write ``marker`` to ``tp``; the partition's error code."""
    if impossible_partition(tp) is not None:
        return UNKNOWN_TOPIC_OR_PARTITION  # no broker holds it: Kafka answers no other code
    try:
        ctx.broker.write_txn_marker(tp.topic, tp.partition, marker.producer_id,
                                    marker.producer_epoch, bool(marker.transaction_result),
                                    marker.coordinator_epoch)
    except CloseConnection:
        raise  # a cluster's broker went down: it answers nothing
    except Exception as exc:
        return error_code(exc)
    return NONE


def handle_write_txn_markers(ctx: RequestContext, request: Any) -> Any:
    """Write each marker to its partitions, in order; every partition gets its own code."""
    results = []
    for marker in request.markers:
        codes: dict[TopicPartition, int] = {}
        for topic in marker.topics:
            for p in topic.partition_indexes:
                tp = TopicPartition(topic.name, p)
                if tp not in codes:  # a partition named twice gets one marker
                    codes[tp] = _write_marker(ctx, marker, tp)
        results.append(_MarkerResult(producer_id=marker.producer_id, topics=[
            _MarkerTopic(name=topic.name, partitions=[
                _MarkerPartition(partition_index=p,
                                 error_code=codes[TopicPartition(topic.name, p)])
                for p in topic.partition_indexes])
            for topic in marker.topics]))
    return ctx.response(markers=results)


HANDLERS = {
    # v4+ is the brokers' batched form (KIP-890), which no client sends.
    AddPartitionsToTxnRequest.API_KEY: ApiHandler(
        AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, 0, 3,
        handle_add_partitions_to_txn),
    AddOffsetsToTxnRequest.API_KEY: ApiHandler(
        AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, 0, 3, handle_add_offsets_to_txn),
    EndTxnRequest.API_KEY: ApiHandler(EndTxnRequest, EndTxnResponse, 0, 3, handle_end_txn),
    TxnOffsetCommitRequest.API_KEY: ApiHandler(
        TxnOffsetCommitRequest, TxnOffsetCommitResponse, 0, 3, handle_txn_offset_commit),
    DescribeTransactionsRequest.API_KEY: ApiHandler(
        DescribeTransactionsRequest, DescribeTransactionsResponse, 0, 0,
        handle_describe_transactions),
    ListTransactionsRequest.API_KEY: ApiHandler(
        ListTransactionsRequest, ListTransactionsResponse, 0, 1, handle_list_transactions),
    # v2 adds KIP-1228's transaction version, which this broker's markers do not carry.
    WriteTxnMarkersRequest.API_KEY: ApiHandler(
        WriteTxnMarkersRequest, WriteTxnMarkersResponse, 0, 1, handle_write_txn_markers),
}
