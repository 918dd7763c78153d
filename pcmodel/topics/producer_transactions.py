"""A transactional producer's calls: records to several partitions, and a consumer's offsets,
committed or aborted together (Kafka's transactions, KIP-98).

The life of a producer with a ``transactional_id``::

    producer.init_transactions()          # once: fences older instances, aborts what they left
    while running:
        producer.begin_transaction()
        producer.send(...)                # any number, to any partitions
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())  # optional
        producer.commit_transaction()     # or abort_transaction()

How each call goes, with the rules of :mod:`~pcmodel.topics.transaction_manager` (its states
are the Java client's):

``init_transactions()``
    InitProducerId with the transactional id: the coordinator aborts a transaction an older
    instance left open, bumps the epoch (which fences every older instance) and answers with
    the producer id and epoch this producer writes with.
``send()`` in a transaction
    queues the record, as any ``send()``. The *sender thread* adds each partition to the
    transaction (AddPartitionsToTxn) before appending its first batch there, and appends with
    ``transactional=True``. Adding in the sender, as the Java client does, keeps ``send()`` a
    queueing operation that never waits for the coordinator, and makes a failed add what a
    failed append is: the failure of a batch, which makes the transaction abortable.
``send_offsets_to_transaction()``
    AddOffsetsToTxn, then TxnOffsetCommit with the consumer's generation and member id
    (KIP-447): the offsets become the group's committed offsets only if the transaction
    commits, and a consumer that was replaced by a rebalance cannot stage any.
``commit_transaction()``
    refuses new sends, waits for those under way, flushes every queued record, then EndTxn
    (commit): the coordinator writes a COMMIT marker to each partition and stores the offsets.
    A batch that failed makes it raise that batch's error instead: only an abort can follow.
``abort_transaction()``
    refuses new sends, fails the records not yet sent with ``TransactionAbortedError``, waits
    for the batch being appended, then EndTxn (abort). If a batch failed after it was given
    sequence numbers, it then bumps the epoch (InitProducerId with the current producer id and
    epoch, KIP-360) and numbers from 0 again, since its partition would refuse the next
    numbers for ever.

Each call blocks for at most ``max_block_ms`` (``KafkaTimeoutError``; a commit or an abort that
timed out goes on where it stopped when called again); a call to a broker process is also
bounded by its connection's request timeout. The calls run one at a time. Errors, by what they
do to the producer: being fenced (``ProducerFencedError``, or ``InvalidProducerEpochError``
from an append) is fatal, so every later call raises it and only ``close()`` works; an error of
a batch or of the group coordinator (``CommitFailedError``: the consumer was replaced)
makes the transaction abortable; a retriable one (a broker process that did not answer in
time) changes nothing, and the call may be made again. After ``close()`` each of these calls
raises ``IllegalStateError``, as the Java client's do (kafka-python lets a begin or a commit
through, with nothing to send them).

:class:`TransactionalProducerMixin` is one part of
:class:`~pcmodel.topics.producer.KafkaProducer`.

Prior art: the Java client's ``KafkaProducer`` transactional methods and their documentation
(what each blocks on and throws), kafka-python's ``KafkaProducer`` (the same names).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pcmodel.topics.accumulator import ProducerState
from pcmodel.topics.broker_checks import _check_mapping
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalArgumentError,
    IllegalGenerationError,
    IllegalStateError,
    InvalidTxnStateError,
    KafkaTimeoutError,
    OffsetMetadataTooLargeError,
    UnknownMemberIdError,
)
from pcmodel.topics.group_answers import validate_group_id
from pcmodel.topics.group_offsets import checked_offset
from pcmodel.topics.structs import (
    ConsumerGroupMetadata,
    OffsetAndMetadata,
    TopicPartition,
    validate_topic_partition,
)
from pcmodel.topics.transaction_manager import TransactionManager
from pcmodel.topics.transaction_manager import TransactionState as S

__all__ = ["TransactionalProducerMixin"]

log = logging.getLogger("pcmodel.topics.producer")


class TransactionalProducerMixin:
    """``init_transactions``, ``begin_transaction``, ``send_offsets_to_transaction``,
    ``commit_transaction`` and ``abort_transaction`` (producer part)."""

    def init_transactions(self) -> None:
        """Make this producer the one instance of its ``transactional_id``; call it once, first.

        The coordinator aborts a transaction an older instance left open and fences every older
        instance (their next call raises ``ProducerFencedError``). Blocks for one broker call,
        at most ``max_block_ms``. Raises ``IllegalStateError`` without a ``transactional_id``
        or when called again; ``KafkaTimeoutError`` / ``KafkaConnectionError`` when the broker
        did not answer, ``CoordinatorNotAvailableError`` when a cluster had no coordinator
        for the id for 30 seconds (then it may be called again);
        ``InvalidTransactionTimeoutError`` for a ``transaction_timeout_ms`` above the broker's
        maximum. After any but the retriable ones
        the producer can only be closed.
        """
        txn = self._transactions_of("init_transactions")
        with self._one_transactional_call("init_transactions"):
            txn.transition("init_transactions", S.INITIALIZING)
            try:
                ids = self._broker.init_producer_id(
                    transactional_id=txn.transactional_id,
                    transaction_timeout_ms=self.config["transaction_timeout_ms"])
            except Exception as exc:
                txn.init_failed(exc)
                raise
            self._set_producer_id(ids)
            txn.transition("init_transactions", S.READY)

    def begin_transaction(self) -> None:
        """Start a transaction: the records sent from now on, and the offsets sent with
        :meth:`send_offsets_to_transaction`, are committed or aborted together.

        Returns at once: the coordinator hears of the transaction with its first partition.
        Raises ``IllegalStateError`` before ``init_transactions()`` or while a transaction is
        open; after a fatal error, that error.
        """
        self._transactions_of("begin_transaction").transition("begin_transaction",
                                                              S.IN_TRANSACTION)

    def send_offsets_to_transaction(
        self,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
        group_metadata: ConsumerGroupMetadata | str,
    ) -> None:
        """Commit a consumer group's ``offsets`` (the next offsets to read) with the transaction.

        ``group_metadata`` is ``consumer.group_metadata()`` of the consumer whose records were
        processed: if a rebalance gave its partitions to another member meanwhile, the call
        fails (``CommitFailedError``, as the Java client and kafka-python report the
        coordinator's ``UNKNOWN_MEMBER_ID`` and ``ILLEGAL_GENERATION`` here, the coordinator's
        error as its ``__cause__``; ``FencedInstanceIdError``) and the transaction must be
        aborted, so a replaced consumer's progress is never committed (KIP-447). A bare group
        id (a ``str``) is accepted, as kafka-python accepts it, without that check. The
        offsets are stored when the transaction commits; until then a ``read_committed``
        consumer's lookup of them waits.

        Blocks for two broker calls, at most ``max_block_ms``. Raises ``IllegalStateError``
        outside a transaction, ``IllegalArgumentError`` for a consumer without a group,
        ``TypeError`` / ``IllegalArgumentError`` (``InvalidGroupIdError`` for an empty group
        id) for arguments of the wrong type or out of range, before anything is sent (the
        transaction stays as it was, as in the Java client, whose types and
        ``OffsetAndMetadata`` refuse them before the call),
        ``ProducerFencedError`` (fatal), ``OffsetMetadataTooLargeError`` for metadata longer
        than the broker's ``offset.metadata.max.bytes`` (fatal, as in the Java client and
        kafka-python, whose transaction managers treat that answer as unexpected: close the
        producer), and as said above (abortable).
        """
        txn = self._transactions_of("send_offsets_to_transaction")
        member = _group_member(group_metadata)
        items = _checked_offsets(offsets)
        with self._one_transactional_call("send_offsets_to_transaction"):
            txn.require("send_offsets_to_transaction", S.IN_TRANSACTION)
            producer_id, producer_epoch = self._producer_id
            self._call(txn, lambda: self._broker.add_offsets_to_txn(
                txn.transactional_id, producer_id, producer_epoch, member.group_id))
            txn.added()
            # A metadata too long is fatal, as in Kafka's producers (an unexpected answer).
            self._call(txn, lambda: self._txn_offset_commit(txn, member, items),
                       fatal=(OffsetMetadataTooLargeError,))

    def commit_transaction(self) -> None:
        """Send every record of the transaction, then commit it: a ``read_committed`` consumer
        sees all of its records (and its offsets are the group's), at once.

        Blocks until every record sent in the transaction is appended and the coordinator
        answered, at most ``max_block_ms``: then ``KafkaTimeoutError``, and calling it again
        goes on waiting. Raises ``IllegalStateError`` outside a transaction; the error of a
        batch that failed (the transaction is then abortable: only
        :meth:`abort_transaction` is allowed); ``ProducerFencedError`` if a newer instance
        took over or the coordinator aborted the transaction because it outlived
        ``transaction_timeout_ms`` (fatal: close the producer).
        """
        txn = self._transactions_of("commit_transaction")
        with self._one_transactional_call("commit_transaction") as deadline:
            txn.transition("commit_transaction", S.COMMITTING_TRANSACTION, resume=True)
            self._send_queued(txn, deadline, "commit_transaction")
            # A batch that failed during the flush made the transaction abortable: raise that.
            txn.require("commit_transaction", S.COMMITTING_TRANSACTION)
            if txn.started:
                self._call(txn, lambda: self._end_txn(txn, True), fatal=(InvalidTxnStateError,))
            txn.ended()

    def abort_transaction(self) -> None:
        """Abort the transaction: none of its records is ever seen by a ``read_committed``
        consumer, and its offsets are dropped.

        Records not yet sent fail with ``TransactionAbortedError``; the batch being appended is
        waited for. Blocks at most ``max_block_ms`` (``KafkaTimeoutError``; calling it again
        goes on). Raises ``IllegalStateError`` outside a transaction, ``ProducerFencedError``
        (fatal) if a newer instance took over.
        """
        self._abort("abort_transaction")

    # --- internals --------------------------------------------------------------------------

    def _abort(self, call: str, timeout: float | None = None) -> None:
        txn = self._transactions_of(call)
        with self._one_transactional_call(call, timeout) as deadline:
            txn.transition(call, S.ABORTING_TRANSACTION, resume=True)
            # The sender fails every queued batch now (TransactionManager.refusal).
            self._send_queued(txn, deadline, call)
            if txn.started and not txn.reinit:
                self._call(txn, lambda: self._end_txn(txn, False), fatal=(InvalidTxnStateError,))
            if txn.bump_epoch:
                producer_id, producer_epoch = self._producer_id
                self._set_producer_id(self._call(txn, lambda: self._broker.init_producer_id(
                    producer_id, producer_epoch, transactional_id=txn.transactional_id,
                    transaction_timeout_ms=self.config["transaction_timeout_ms"])))
            txn.ended()

    def _abort_on_close(self, timeout: float | None) -> None:
        """``close()`` aborts a transaction left open, as the Java client does; a failure (a
        fenced producer, a broker that is gone) is logged: closing goes on."""
        txn = self._transaction_manager
        if (txn is None or txn.state not in (S.IN_TRANSACTION, S.ABORTABLE_ERROR)
                or self._state is not ProducerState.OPEN):  # closed already: nothing to send
            return
        try:
            self._abort("close", timeout)
        except Exception as exc:  # noqa: BLE001 - close() must close whatever happened
            log.warning("close(): the open transaction of %r was not aborted: %s",
                        txn.transactional_id, exc)

    def _transactions_of(self, call: str) -> TransactionManager:
        txn = self._transaction_manager
        if txn is None:
            raise IllegalStateError(f"{call}() needs a transactional producer: create it with "
                                    "KafkaProducer(transactional_id=...)")
        # As the Java client's throwIfProducerClosed(): a closed producer has no sender left to
        # send a transaction's records (close() itself aborts before it starts closing).
        if self._state is not ProducerState.OPEN:
            raise IllegalStateError(f"{call}() on a closed KafkaProducer; create a new producer")
        if threading.current_thread() is self._sender:
            raise IllegalStateError(f"{call}() from a producer callback would wait for itself")
        return txn

    @contextlib.contextmanager
    def _one_transactional_call(self, call: str,
                                timeout: float | None = None) -> Iterator[float]:
        """Run one transactional call at a time; yield its deadline (``max_block_ms``, or
        ``timeout`` seconds if shorter, from now)."""
        budget = self._max_block if timeout is None else min(timeout, self._max_block)
        deadline = self._clock() + budget
        if not self._transaction_calls.acquire(timeout=budget):
            raise KafkaTimeoutError(f"{call}() waited max_block_ms for another transactional "
                                    "call of this producer to finish")
        try:
            yield deadline
        finally:
            self._transaction_calls.release()

    def _send_queued(self, txn: TransactionManager, deadline: float, call: str) -> None:
        """Let the ``send()`` calls under way finish, then wait until the sender has appended
        (or, in an abort, failed) every queued batch: rule 2 of the transaction manager."""
        txn.wait_for_sends(deadline - self._clock(), call)
        try:
            self.flush(max(0.0, deadline - self._clock()))
        except KafkaTimeoutError:
            raise KafkaTimeoutError(
                f"{call}() waited max_block_ms={self.config['max_block_ms']} for the "
                f"transaction's records to be sent; call {call}() again to go on") from None

    def _call(self, txn: TransactionManager, call: Callable[[], Any],
              fatal: tuple[type[BaseException], ...] = ()) -> Any:
        """Make a transactional broker call; an error it raises is recorded (fatal, abortable)
        unless retriable, then raised."""
        try:
            return call()
        except Exception as exc:
            if not getattr(exc, "retriable", False):
                txn.record_error(exc, fatal=isinstance(exc, fatal))
            raise

    def _txn_offset_commit(self, txn: TransactionManager, member: ConsumerGroupMetadata,
                           offsets: dict) -> None:
        """TxnOffsetCommit; a consumer the group no longer has at that generation is a
        ``CommitFailedError``, as the Java client's ``TxnOffsetCommitHandler`` reports it."""
        producer_id, producer_epoch = self._producer_id
        try:
            self._broker.txn_offset_commit(
                txn.transactional_id, member.group_id, producer_id, producer_epoch, offsets,
                generation=member.generation_id, member_id=member.member_id,
                group_instance_id=member.group_instance_id)
        except (UnknownMemberIdError, IllegalGenerationError) as exc:
            raise CommitFailedError(
                f"the transaction's offsets of group {member.group_id!r} were refused: "
                f"{exc.args[0] if exc.args else type(exc).__name__}") from exc

    def _end_txn(self, txn: TransactionManager, commit: bool) -> None:
        producer_id, producer_epoch = self._producer_id
        self._broker.end_txn(txn.transactional_id, producer_id, producer_epoch, commit)

    def _set_producer_id(self, ids: Any) -> None:
        """The producer id and epoch the coordinator gave: sequences start again from 0 (only
        called while no batch is being sent, so the sender's numbering is not disturbed)."""
        self._producer_id = tuple(ids)
        self._sequences.clear()


def _checked_offsets(offsets: object) -> dict[TopicPartition, OffsetAndMetadata | int]:
    """``offsets`` as a dict, each entry checked as the coordinator checks it, so that a bad
    one fails before AddOffsetsToTxn rather than making the transaction abortable after it."""
    checked: dict[TopicPartition, OffsetAndMetadata | int] = {}
    for tp, value in _check_mapping("offsets", offsets,
                                    "TopicPartition to OffsetAndMetadata or int").items():
        tp = validate_topic_partition(tp)
        checked_offset(tp, value)
        checked[tp] = value  # as given: the coordinator weighs the metadata as given
    return checked


def _group_member(group_metadata: ConsumerGroupMetadata | str) -> ConsumerGroupMetadata:
    """The consumer that ``send_offsets_to_transaction`` stages offsets for."""
    if isinstance(group_metadata, str):
        validate_group_id(group_metadata)
        return ConsumerGroupMetadata(group_metadata)
    if not isinstance(group_metadata, ConsumerGroupMetadata):
        raise TypeError("group_metadata must be consumer.group_metadata() or a group id str, "
                        f"got {group_metadata!r}")
    if group_metadata.group_id is None:
        raise IllegalArgumentError("the consumer has no group_id: its offsets cannot be "
                                   "committed; give it a group_id")
    validate_group_id(group_metadata.group_id)
    return group_metadata
