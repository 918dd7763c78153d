"""Transactional requests of :class:`~pcmodel.cluster.client.ClusterConnection`: to the
transaction coordinator.

A transactional id's coordinator is the leader of its partition of the replicated
``__transaction_state`` topic (:mod:`pcmodel.cluster.transaction_log`, created at the first
transactional call). InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
DescribeTransactions and ListTransactions go there (WriteTxnMarkers, an administrator's abort,
goes to the partition's leader); a call that finds no coordinator, or one
that fails under it, waits for the next one (up to 30 seconds), as Kafka clients retry
NOT_COORDINATOR. TxnOffsetCommit goes first to the *group's* coordinator, which checks the
consumer (KIP-447), then to the transaction's, which stages the offsets. A transactional batch
is appended only if the producer's ongoing transaction holds the partition (Kafka's KIP-890
verification, asked of the coordinator before the produce); an offsets lookup with
``require_stable`` waits while a transaction has staged an offset of the partition.

:class:`TransactionRequestsMixin` is one part of ``ClusterConnection``, which provides
``_cluster`` and the group coordinator calls (``_at_coordinator``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.cluster.transaction_log import TRANSACTION_TOPIC
from pcmodel.topics.broker_checks import (
    INT32_MAX,
    _check_flag,
    _check_int,
    _check_list,
    _check_mapping,
    _check_partitions,
)
from pcmodel.topics.broker_transactions import _check_transactional_id
from pcmodel.topics.coordinator import validate_group_id
from pcmodel.topics.errors import IllegalArgumentError, InvalidRequestError, InvalidTxnStateError
from pcmodel.topics.group_offsets import metadata_too_large, oversized_metadata
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition, validate_topic_partition
from pcmodel.topics.transactions import (
    DescribedTransaction,
    TransactionListing,
    check_states,
)

__all__ = ["TransactionRequestsMixin"]

#: How long TxnOffsetCommit waits for the group's coordinator (seconds).
_GROUP_COORDINATOR_WAIT = 30.0
#: How long an administrator's marker may wait for the in-sync replicas (seconds).
_MARKER_TIMEOUT = 30.0


class TransactionRequestsMixin:
    """Transactional calls, sent to the transaction coordinator (ClusterConnection part)."""

    _cluster: Any

    def _init_transactional_id(self, transactional_id: str, transaction_timeout_ms: int,
                               producer_id: int, producer_epoch: int) -> tuple[int, int]:
        """InitProducerId with a transactional id, at its coordinator: see
        :meth:`Broker.init_producer_id <pcmodel.topics.broker_transactions.TransactionsMixin.
        init_producer_id>`."""
        _check_transactional_id(transactional_id)
        _check_int("transaction_timeout_ms", transaction_timeout_ms, -INT32_MAX - 1,
                   IllegalArgumentError, INT32_MAX)  # an int32 in InitProducerId
        expected = (producer_id, producer_epoch) if producer_id >= 0 else None
        return self._cluster.transaction_log().init_producer_id(
            transactional_id, transaction_timeout_ms, expected)

    def add_partitions_to_txn(self, transactional_id: str, producer_id: int,
                              producer_epoch: int, partitions: Iterable[TopicPartition]) -> None:
        """AddPartitionsToTxn at the coordinator: as :meth:`Broker.add_partitions_to_txn
        <pcmodel.topics.broker_transactions.TransactionsMixin.add_partitions_to_txn>`
        (returns once the change is stored in the transaction log)."""
        _check_transactional_id(transactional_id)
        tps = _check_partitions("partitions", partitions)
        self._cluster.transaction_log().add_partitions(transactional_id, producer_id,
                                                       producer_epoch, tps)

    def add_offsets_to_txn(self, transactional_id: str, producer_id: int, producer_epoch: int,
                           group_id: str) -> None:
        """AddOffsetsToTxn at the coordinator: as :meth:`Broker.add_offsets_to_txn
        <pcmodel.topics.broker_transactions.TransactionsMixin.add_offsets_to_txn>`."""
        _check_transactional_id(transactional_id)
        validate_group_id(group_id)
        self._cluster.transaction_log().add_group(transactional_id, producer_id,
                                                  producer_epoch, group_id)

    def txn_offset_commit(self, transactional_id: str, group_id: str, producer_id: int,
                          producer_epoch: int, offsets: Mapping[TopicPartition, Any],
                          *, generation: int = -1, member_id: str = "",
                          group_instance_id: str | None = None) -> None:
        """TxnOffsetCommit: the group's coordinator checks the offsets and the consumer, then
        the transaction's coordinator stages them; they are committed with the transaction.
        Raises as :meth:`Broker.txn_offset_commit <pcmodel.topics.broker_transactions.
        TransactionsMixin.txn_offset_commit>` (the metadata held to the cluster's
        ``offset_metadata_max_bytes``), and ``UnknownMemberIdError`` when the group has had no
        coordinator for 30 seconds."""
        _check_transactional_id(transactional_id)
        validate_group_id(group_id)
        limit = self._cluster.offset_metadata_max_bytes
        offsets = dict(_check_mapping("offsets", offsets,
                                      "TopicPartition to OffsetAndMetadata or int"))
        refused = [TopicPartition._make(tp) for tp in oversized_metadata(offsets, limit)]
        # The group's coordinator checks the consumer and the partitions, refused ones
        # included (its broker was made with the default limit: the cluster's is applied here).
        checked: dict[TopicPartition, OffsetAndMetadata] = self._at_coordinator(  # type: ignore[attr-defined]
            group_id, _GROUP_COORDINATOR_WAIT, "check_txn_offset_commit", offsets,
            generation=generation, member_id=member_id, group_instance_id=group_instance_id)
        staged = {TopicPartition._make(tp): value for tp, value in checked.items()}
        for tp in refused:
            del staged[tp]
        self._cluster.transaction_log().stage_offsets(
            transactional_id, producer_id, producer_epoch, group_id, staged)
        if refused:
            raise metadata_too_large(refused, limit, others_committed=False)

    def end_txn(self, transactional_id: str, producer_id: int, producer_epoch: int,
                commit: bool) -> None:
        """EndTxn at the coordinator: the decision is stored, then the markers are written to
        every partition of the transaction (and a commit's offsets to the offsets topic), as
        :mod:`pcmodel.cluster.transaction_log` describes. Raises as :meth:`Broker.end_txn
        <pcmodel.topics.broker_transactions.TransactionsMixin.end_txn>`."""
        _check_transactional_id(transactional_id)
        _check_flag("commit", commit)
        self._cluster.transaction_log().end(transactional_id, producer_id, producer_epoch,
                                            commit)

    def describe_transactions(self, transactional_ids: Iterable[str]
                              ) -> dict[str, DescribedTransaction]:
        """DescribeTransactions, each id at its coordinator, in the order asked (an unknown
        id: ``TransactionalIdNotFoundError`` in its ``error``); ``TypeError`` for a bare str
        (pass ``["tx-1"]``) or an id that is not a str."""
        ids = [_check_transactional_id(tid)
               for tid in _check_list("transactional_ids", transactional_ids)]
        log = self._cluster.transaction_log()
        return {tid: log.describe(tid) for tid in ids}

    def list_transactions(self, states: Iterable[str] = (), producer_ids: Iterable[int] = (),
                          duration_filter_ms: int = -1) -> list[TransactionListing]:
        """ListTransactions at every coordinator that answers, merged by transactional id;
        ``IllegalArgumentError`` for an unknown state, ``TypeError`` for a bare str given as
        ``states`` or ``producer_ids`` (pass ``["Ongoing"]``)."""
        _check_int("duration_filter_ms", duration_filter_ms, -1, IllegalArgumentError)
        states = _check_list("states", states)
        producer_ids = _check_list("producer_ids", producer_ids, "int")
        check_states(states)
        return self._cluster.transaction_log().listing(states, producer_ids,
                                                       duration_filter_ms)

    def write_txn_marker(self, topic: str, partition: int, producer_id: int,
                         producer_epoch: int, commit: bool, coordinator_epoch: int = 0) -> int:
        """WriteTxnMarkers for one partition, as an administrator sends it (see
        :meth:`Broker.write_txn_marker <pcmodel.topics.broker_transactions.TransactionsMixin.
        write_txn_marker>`), at the partition's leader: returns the marker's offset once every
        in-sync replica has it (``Cluster.write_marker``). Raises as that future does
        (``TransactionCoordinatorFencedError``, ``InvalidProducerEpochError``,
        ``NotEnoughReplicasError``...), and ``InvalidRequestError`` for the cluster's internal
        topics, which hold no transactions here."""
        tp = validate_topic_partition((topic, partition))
        if tp.topic in (OFFSETS_TOPIC, TRANSACTION_TOPIC):
            raise InvalidRequestError(
                f"{tp.topic} holds no transactions here (the coordinators keep staged "
                "offsets apart from it): there is no transaction to end in it")
        return self._write_marker(tp, producer_id, producer_epoch, commit, coordinator_epoch)

    def _write_marker(self, tp: TopicPartition, producer_id: int, producer_epoch: int,
                      commit: bool, coordinator_epoch: int, broker: int | None = None) -> int:
        """Write the marker at the partition's leader, or at ``broker`` (which refuses unless
        it leads it), and wait for the answer: its offset."""
        future = self._cluster.write_marker(tp.topic, tp.partition, producer_id,
                                            producer_epoch, commit,
                                            coordinator_epoch=coordinator_epoch,
                                            timeout=_MARKER_TIMEOUT, broker=broker)
        return future.get(timeout=_MARKER_TIMEOUT + 5).base_offset

    def transaction_coordinator_id(self, transactional_id: str) -> int:
        """The broker coordinating ``transactional_id``: the leader of its partition of
        ``__transaction_state``; ``-1`` while it has none, or before any transactional call
        created the log."""
        log = self._cluster.transaction_log(create=False)
        leader = None if log is None else log.coordinator(transactional_id)
        return -1 if leader is None else leader

    # --- for the connection's produce and offsets lookups --------------------------------------

    def _check_in_transaction(self, producer_id: int, producer_epoch: int,
                              tp: TopicPartition) -> None:
        """Before a transactional batch goes to ``tp``'s leader: ``InvalidTxnStateError``
        unless the producer's ongoing transaction holds ``tp``."""
        log = self._cluster.transaction_log(create=False)
        if log is None or not log.holds(producer_id, producer_epoch, tp):
            raise InvalidTxnStateError(
                f"partition {tp.topic}-{tp.partition} was not added to the transaction of "
                f"producer {producer_id} (epoch {producer_epoch}), or no transaction of it "
                "is ongoing")

    def _unstable_offsets(self, group_id: str, partitions: Iterable[TopicPartition]
                          ) -> list[TopicPartition]:
        """Those of ``partitions`` whose committed offset for ``group_id`` a transaction not
        yet completed has staged a new value of."""
        log = self._cluster.transaction_log(create=False)
        if log is None:
            return []
        return log.unstable(group_id, partitions)

    def _check_transactions_due(self) -> None:
        """Run the coordinators' timed-out transactions check and id expiration if due."""
        log = self._cluster.transaction_log(create=False)
        if log is not None:
            log.check_if_due()
