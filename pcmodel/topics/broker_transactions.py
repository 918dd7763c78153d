"""The broker's transactions: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
TxnOffsetCommit, EndTxn, DescribeTransactions and ListTransactions.

:class:`TransactionsMixin` is the part of :class:`~pcmodel.topics.broker.Broker` that answers a
transactional producer, with the rules of :mod:`pcmodel.topics.transactions` (whose
coordinator it keeps in ``_transactions``). Ending a transaction writes its markers to the
partition logs (:mod:`pcmodel.topics.log_transactions`) and stores or drops its staged offsets
in the same step, under the broker's lock, so no reader ever sees half of a commit: a
``read_committed`` fetch waiting for the markers is woken by them.

The broker has no thread of its own: a transaction that outlived its timeout is aborted by the
first call that finds its check due (every ``transaction_abort_timed_out_transaction_cleanup_
interval_ms``: a transactional call, a fetch, an offsets lookup) or by
:meth:`TransactionsMixin.abort_timed_out_transactions`; forgotten transactional ids likewise
(:meth:`TransactionsMixin.expire_transactional_ids`).

Prior art: Kafka's ``TransactionCoordinator`` and ``TransactionMarkerChannelManager`` (which
write the markers) and ``GroupCoordinator.handleTxnCommitOffsets``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pcmodel.topics.broker_checks import (
    INT32_MAX,
    _check_flag,
    _check_init_producer_ids,
    _check_int,
    _check_list,
    _check_mapping,
    _check_marker,
    _check_partitions,
)
from pcmodel.topics.consumer_group_errors import StaleMemberEpochError
from pcmodel.topics.coordinator import validate_group_id
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalGenerationError,
    InvalidProducerEpochError,
    InvalidRequestError,
    TransactionCoordinatorFencedError,
)
from pcmodel.topics.group_offsets import checked_offset, metadata_too_large, oversized_metadata
from pcmodel.topics.log import PartitionLog, RetentionPolicy
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition, validate_topic_partition
from pcmodel.topics.transactions import (
    DEFAULT_TRANSACTION_TIMEOUT_MS,
    DescribedTransaction,
    EndedTransaction,
    TransactionListing,
)

__all__ = ["TransactionsMixin"]


def _check_transactional_id(transactional_id: object) -> str:
    if not isinstance(transactional_id, str):
        raise TypeError(f"transactional_id must be a str, got {transactional_id!r}")
    if not transactional_id:
        raise InvalidRequestError("a transactional id must be a non-empty string")
    return transactional_id


def _txn_offsets(group_id: str, offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
                 max_bytes: int | None = None,
                 ) -> tuple[dict[TopicPartition, OffsetAndMetadata], list[TopicPartition]]:
    """A transaction's offsets of ``group_id``, checked as a commit's are
    (:func:`~pcmodel.topics.group_offsets.checked_offset`), and those of them whose metadata
    is longer than ``max_bytes`` (``None``: not held to a limit). ``TypeError`` for
    ``offsets`` that are not a mapping."""
    validate_group_id(group_id)
    _check_mapping("offsets", offsets, "TopicPartition to OffsetAndMetadata or int")
    items: dict[TopicPartition, OffsetAndMetadata] = {}
    given: dict[TopicPartition, object] = {}
    for tp, value in offsets.items():
        tp = validate_topic_partition(tp)
        items[tp], given[tp] = checked_offset(tp, value), value
    return items, [] if max_bytes is None else oversized_metadata(given, max_bytes)


class TransactionsMixin:
    """Producer ids and the transaction coordinator's calls (Broker part)."""

    def init_producer_id(
        self,
        producer_id: int = -1,
        producer_epoch: int = -1,
        *,
        transactional_id: str | None = None,
        transaction_timeout_ms: int = DEFAULT_TRANSACTION_TIMEOUT_MS,
    ) -> tuple[int, int]:
        """Kafka's InitProducerId: a producer's ``(producer_id, epoch)``.

        Without ``transactional_id`` (an idempotent producer): a new producer id at epoch 0,
        whatever ids are given, as Kafka's coordinator answers; a producer that needs a new
        epoch bumps it itself (see :mod:`pcmodel.topics.idempotence`).

        With one (``init_transactions()``): the id's producer id with its epoch bumped, fencing
        every older instance, after aborting a transaction one left open (see
        :meth:`TransactionCoordinator.init_producer_id
        <pcmodel.topics.transactions.TransactionCoordinator.init_producer_id>`);
        ``transaction_timeout_ms`` is how long its transactions may stay open.
        Returns at once. Raises ``InvalidTransactionTimeoutError``, ``ProducerFencedError``,
        ``InvalidRequestError`` for an empty id or when exactly one of ``producer_id`` and
        ``producer_epoch`` is -1 (as Kafka's ``handleInitProducerIdRequest``),
        ``IllegalArgumentError`` for a ``producer_id`` or ``producer_epoch`` beyond its field
        of InitProducerId (int64, int16).
        """
        _check_init_producer_ids(producer_id, producer_epoch)
        if transactional_id is None:
            # Never the given id with its epoch bumped: that would let any client fence a live
            # producer (TransactionCoordinator.handleInitProducerId, transactionalId null).
            return self._producers.init_producer_id()
        _check_transactional_id(transactional_id)
        _check_int("transaction_timeout_ms", transaction_timeout_ms, -INT32_MAX - 1,
                   IllegalArgumentError, INT32_MAX)  # an int32 in InitProducerId
        expected = (producer_id, producer_epoch) if producer_id >= 0 else None
        with self._lock:
            self._check_open()
            self._check_transactions()
            ids, ended = self._transactions.init_producer_id(
                transactional_id, transaction_timeout_ms, self._timestamp_clock(), expected)
            if ended is not None:
                self._complete(ended)
            return ids

    def add_partitions_to_txn(self, transactional_id: str, producer_id: int,
                              producer_epoch: int, partitions: Iterable[TopicPartition]) -> None:
        """Kafka's AddPartitionsToTxn: ``partitions`` join the producer's transaction, which
        begins if none is ongoing. A producer must add a partition before it sends records
        there in the transaction (its ``send()`` does).

        Returns at once; all or nothing. Raises ``UnknownTopicOrPartitionError`` for a
        partition that does not exist, ``InvalidRequestError`` for one of a
        ``retention_policy="block"`` topic (whose bounded capacity has no room for the
        transaction's markers), ``InvalidProducerIdMappingError`` / ``ProducerFencedError`` for
        a producer that does not own ``transactional_id`` at that epoch, ``TypeError`` for a
        bare str or another entry of ``partitions`` that is not a ``TopicPartition``.
        """
        _check_transactional_id(transactional_id)
        tps = _check_partitions("partitions", partitions)
        with self._lock:
            self._check_open()
            self._check_transactions()
            for tp in tps:
                if self._log(tp).policy is RetentionPolicy.BLOCK:
                    raise InvalidRequestError(
                        f"topic {tp.topic!r} has retention_policy='block': transactions need "
                        "a topic with the delete policy (there is no room for their markers)")
            self._transactions.add_partitions(transactional_id, producer_id, producer_epoch,
                                              tps, self._timestamp_clock())

    def add_offsets_to_txn(self, transactional_id: str, producer_id: int, producer_epoch: int,
                           group_id: str) -> None:
        """Kafka's AddOffsetsToTxn: the group's offsets join the producer's transaction (the
        first half of ``send_offsets_to_transaction()``). Returns at once. Raises as
        :meth:`add_partitions_to_txn`, and ``InvalidGroupIdError``."""
        _check_transactional_id(transactional_id)
        validate_group_id(group_id)
        with self._lock:
            self._check_open()
            self._check_transactions()
            self._transactions.add_group(transactional_id, producer_id, producer_epoch,
                                         group_id, self._timestamp_clock())

    def txn_offset_commit(
        self,
        transactional_id: str,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
        *,
        generation: int = -1,
        member_id: str = "",
        group_instance_id: str | None = None,
    ) -> None:
        """Kafka's TxnOffsetCommit: stage the group's offsets in the producer's transaction
        (the second half of ``send_offsets_to_transaction()``); they become the group's
        committed offsets only if the transaction commits, at the moment of its markers.

        ``generation``, ``member_id`` and ``group_instance_id`` are the consumer's whose
        records were processed (``consumer.group_metadata()``, KIP-447): if it is no longer
        the group's member at that generation, the call fails and the transaction must abort.
        Returns at once; all or nothing. Raises ``InvalidTxnStateError`` if the group was not
        added to the ongoing transaction, ``UnknownMemberIdError``,
        ``IllegalGenerationError``, ``FencedInstanceIdError`` (see
        :meth:`~pcmodel.topics.group_offsets.GroupOffsetsMixin.check_txn_commit`),
        ``UnknownTopicOrPartitionError``, ``IllegalArgumentError`` for a negative offset, and
        as :meth:`add_partitions_to_txn`: all before anything is staged. Then raises
        ``OffsetMetadataTooLargeError`` naming (in its ``partitions``) those whose metadata is
        longer than ``offset_metadata_max_bytes``, *after* staging the others, as Kafka's
        coordinator answers OFFSET_METADATA_TOO_LARGE for those partitions alone, once the
        consumer is checked.
        """
        _check_transactional_id(transactional_id)
        items, refused = _txn_offsets(group_id, offsets, self.offset_metadata_max_bytes)
        with self._lock:
            self._check_open()
            self._check_transactions()
            self._check_txn_member(group_id, items, generation, member_id, group_instance_id)
            for tp in refused:
                del items[tp]
            self._transactions.stage_offsets(transactional_id, producer_id, producer_epoch,
                                             group_id, items, self._timestamp_clock())
        if refused:
            raise metadata_too_large(refused, self.offset_metadata_max_bytes,
                                     others_committed=False)

    def check_txn_offset_commit(
        self,
        group_id: str,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
        *,
        generation: int = -1,
        member_id: str = "",
        group_instance_id: str | None = None,
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """The group coordinator's half of TxnOffsetCommit on a cluster, whose transaction
        coordinator stages the offsets: check them and the consumer as
        :meth:`txn_offset_commit` does, without staging anything; return them as
        ``OffsetAndMetadata``. Returns at once; raises as :meth:`txn_offset_commit` for the
        offsets and the member."""
        items, _ = _txn_offsets(group_id, offsets)
        with self._lock:
            self._check_open()
            self._check_txn_member(group_id, items, generation, member_id, group_instance_id)
        return items

    def store_txn_offsets(self, group_id: str,
                          offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> int:
        """A committed transaction's offsets become the group's committed offsets here, dated
        now (a cluster's group coordinator, as the transaction coordinator writes them to the
        offsets topic). Offsets of a topic that no longer exists are left out. Returns at
        once, with the time that dates them (the broker's wall clock, epoch ms), as
        :meth:`commit_offsets` does: the offsets topic's record carries it."""
        items, _ = _txn_offsets(group_id, offsets)
        with self._lock:
            self._check_open()
            return self._store_committed(group_id, items)

    def end_txn(self, transactional_id: str, producer_id: int, producer_epoch: int,
                commit: bool) -> None:
        """Kafka's EndTxn: commit (or abort) the producer's ongoing transaction.

        Writes a COMMIT (ABORT) marker to each of its partitions and stores (drops) its staged
        offsets, all in one step: a ``read_committed`` consumer sees all of the transaction's
        records, or none. Retrying the call that ended the last transaction does nothing.
        Returns at once. Raises ``InvalidTxnStateError`` if no transaction is ongoing (nothing
        was added to it, or it already ended the other way: the coordinator may have aborted it
        when it timed out, fencing the producer: ``ProducerFencedError``), and as
        :meth:`add_partitions_to_txn`.
        """
        _check_transactional_id(transactional_id)
        _check_flag("commit", commit)
        with self._lock:
            self._check_open()
            self._check_transactions()
            ended = self._transactions.end(transactional_id, producer_id, producer_epoch,
                                           commit, self._timestamp_clock())
            if ended is not None:
                self._complete(ended)

    def describe_transactions(
        self, transactional_ids: Iterable[str]
    ) -> dict[str, DescribedTransaction]:
        """Kafka's DescribeTransactions: each id's state, producer, timeout and partitions, in
        the order asked (an unknown id: ``TransactionalIdNotFoundError`` in its ``error``).
        Returns at once. Raises ``TypeError`` for a bare str (pass ``["tx-1"]``) or an id that
        is not a str."""
        ids = [_check_transactional_id(tid)
               for tid in _check_list("transactional_ids", transactional_ids)]
        with self._lock:
            self._check_open()
            self._check_transactions()
            return {tid: self._transactions.describe(tid) for tid in ids}

    def list_transactions(self, states: Iterable[str] = (), producer_ids: Iterable[int] = (),
                          duration_filter_ms: int = -1) -> list[TransactionListing]:
        """Kafka's ListTransactions: every transactional id, by id, or those in one of
        ``states`` (``"Ongoing"``, ``"CompleteCommit"``, ...), of one of ``producer_ids``, or
        (``duration_filter_ms >= 0``) whose last transaction began longer ago than that (in
        any state, as Kafka filters). Returns at once; raises ``IllegalArgumentError`` for an
        unknown state, ``TypeError`` for a bare str given as ``states`` or ``producer_ids``
        (pass ``["Ongoing"]``)."""
        _check_int("duration_filter_ms", duration_filter_ms, -1, IllegalArgumentError)
        states = _check_list("states", states)
        producer_ids = _check_list("producer_ids", producer_ids, "int")
        with self._lock:
            self._check_open()
            self._check_transactions()
            return self._transactions.listing(states, producer_ids, duration_filter_ms,
                                              self._timestamp_clock())

    def write_txn_marker(self, topic: str, partition: int, producer_id: int,
                         producer_epoch: int, commit: bool, coordinator_epoch: int = 0) -> int:
        """Kafka's WriteTxnMarkers for one partition, as an administrator sends it
        (``kafka-transactions.sh abort``, the admin client's ``abort_transaction``): append
        the COMMIT (``commit=True``) or ABORT marker of ``producer_id``'s transaction; return
        the marker's offset. The transaction open there, if any, is over: the last stable
        offset passes it, and a read_committed reader drops its records if it was aborted.

        The coordinator is not told: a transaction it still holds open writes its own marker
        when it ends (one for no open transaction changes nothing). Raises
        ``UnknownTopicOrPartitionError``, ``InvalidProducerEpochError`` for an epoch older
        than the producer's newest in the partition, ``TransactionCoordinatorFencedError``
        for a ``coordinator_epoch`` older than its last marker's there (this broker's
        coordinator writes at epoch 0; ``-1`` is older), ``IllegalArgumentError`` /
        ``TypeError`` for malformed arguments; nothing is written then. Returns at once.
        """
        tp = validate_topic_partition((topic, partition))
        _check_marker(producer_id, producer_epoch, commit, coordinator_epoch)
        with self._lock:
            self._check_open()
            offset = self._append_marker(tp, self._log(tp), producer_id, producer_epoch,
                                         commit, coordinator_epoch)
            self._data_arrived.notify_all()
            return offset

    def abort_timed_out_transactions(self, now_ms: int | None = None) -> list[str]:
        """Run Kafka's timed-out transactions check now, as at ``now_ms`` (epoch ms; default:
        the broker's wall clock): every transaction open longer than its timeout is aborted and
        its producer fenced. Returns the transactional ids aborted. Returns at once."""
        if now_ms is not None:
            _check_int("now_ms", now_ms, 0, IllegalArgumentError)
        with self._lock:
            self._check_open()
            return self._abort_timed_out(self._timestamp_clock() if now_ms is None else now_ms)

    def expire_transactional_ids(self, now_ms: int | None = None) -> list[str]:
        """Run Kafka's transactional-id expiration now, as at ``now_ms`` (epoch ms; default:
        the broker's wall clock): forget the ids with no transaction ongoing and no call for
        ``transactional_id_expiration_ms``. Returns them, sorted. Returns at once."""
        if now_ms is not None:
            _check_int("now_ms", now_ms, 0, IllegalArgumentError)
        with self._lock:
            self._check_open()
            return self._expire_ids(self._timestamp_clock() if now_ms is None else now_ms)

    # --- internals (called with the lock held) -------------------------------------------------

    def _check_transactions(self) -> None:
        """Run the timed-out transactions check and the id expiration if they are due."""
        now_ms = self._check_due(
            self.transaction_abort_timed_out_transaction_cleanup_interval_ms,
            self._timed_out_checked_ms)
        if now_ms is not None:
            self._abort_timed_out(now_ms)
        now_ms = self._check_due(
            self.transaction_remove_expired_transaction_cleanup_interval_ms,
            self._ids_checked_ms)
        if now_ms is not None:
            self._expire_ids(now_ms)

    def _abort_timed_out(self, now_ms: int) -> list[str]:
        self._timed_out_checked_ms = now_ms
        ended = self._transactions.abort_timed_out(now_ms)
        for txn in ended:
            self._complete(txn)
        return [txn.transactional_id for txn in ended]

    def _expire_ids(self, now_ms: int) -> list[str]:
        self._ids_checked_ms = now_ms
        return self._transactions.expire_ids(now_ms)

    def _complete(self, ended: EndedTransaction) -> None:
        """Write the transaction's markers and store (or drop) its offsets."""
        for tp in ended.partitions:
            topic = self._topics.get(tp.topic)
            if topic is None or tp.partition >= len(topic.logs):
                continue  # deleted while the transaction was open: nothing left to mark
            try:
                self._append_marker(tp, topic.logs[tp.partition], ended.producer_id,
                                    ended.producer_epoch, ended.commit, 0)
            except (InvalidProducerEpochError, TransactionCoordinatorFencedError):
                # An administrator's marker of a newer epoch ended it there: Kafka's
                # coordinator likewise stops sending a marker the partition refuses.
                continue
        if ended.commit:
            for group_id, offsets in ended.offsets.items():
                self._store_committed(group_id, offsets)
        self._data_arrived.notify_all()

    def _append_marker(self, tp: TopicPartition, log: PartitionLog, producer_id: int,
                       producer_epoch: int, commit: bool, coordinator_epoch: int) -> int:
        """Append a marker to ``tp``'s ``log`` if the partition takes it, and remember its
        epochs there; its offset. Raises as :meth:`ProducerSequences.check_marker
        <pcmodel.topics.idempotence.ProducerSequences.check_marker>` does, with nothing
        written. The broker's lock is held."""
        self._producers.check_marker(tp, producer_id, producer_epoch, coordinator_epoch)
        offset = log.append_marker(producer_id, producer_epoch, commit, coordinator_epoch)
        self._producers.record_marker(tp, producer_id, producer_epoch, coordinator_epoch)
        return offset

    def _store_committed(self, group_id: str,
                         offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> int:
        """Store a committed transaction's offsets of ``group_id`` (those of existing topics);
        return the time that dates them."""
        now_ms = self._timestamp_clock()
        stored = {tp: value for tp, value in offsets.items() if tp.topic in self._topics}
        if stored:
            self._store_offsets(group_id, self._group(group_id, create=True), stored, now_ms,
                                None)
        return now_ms

    def _check_txn_member(self, group_id: str, offsets: Mapping[TopicPartition, object],
                          generation: int, member_id: str, group_instance_id: str | None,
                          ) -> None:
        """The partitions exist and the consumer is the group's member at ``generation``
        (KIP-447). A group that does not exist has no generation: only ``-1`` passes, as
        Kafka's ``validateTransactionalOffsetCommit`` accepts it. Of a Kafka 4 consumer group,
        ``generation`` is the member's epoch, checked by that group (not by the member-less
        classic group that holds its offsets), as Kafka's
        ``ConsumerGroup.validateOffsetCommit(isTransactional=true)`` checks it: epoch ``-1``
        passes while the group has no member, else ``UnknownMemberIdError``, and a stale epoch
        is ``IllegalGenerationError`` (Kafka's TxnOffsetCommit answers ILLEGAL_GENERATION
        rather than STALE_MEMBER_EPOCH, which transactional producers do not know)."""
        for tp in offsets:
            self._log(tp)
        consumer = self._consumer_groups.get(group_id)
        if consumer is not None:
            consumer.expire(self._clock())
            try:
                consumer.check_offset_commit(member_id, generation, transactional=True)
            except StaleMemberEpochError as exc:
                raise IllegalGenerationError(str(exc)) from None
            return
        group = self._groups.get(group_id)
        if group is not None:
            group.check_txn_commit(member_id, generation, group_instance_id)
        elif generation >= 0:
            raise IllegalGenerationError(
                f"offsets from generation {generation}, but group {group_id!r} does not "
                "exist: its consumer never joined it here; abort the transaction")
