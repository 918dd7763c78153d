"""The transaction coordinator: records to several partitions, and a consumer's offsets, that
are committed or aborted together (Kafka's transactions, KIP-98).

A transactional producer has a *transactional id*, a name that outlives any one process. The
coordinator keeps, per transactional id, the producer id and epoch that currently own it and the
state of its transaction:

``init_transactions()`` (InitProducerId with the transactional id)
    gives the caller the id's producer id with its epoch bumped. Every older instance of the
    producer (a "zombie" that is still running somewhere) now writes with an older epoch and is
    fenced: its appends fail with INVALID_PRODUCER_EPOCH and its transactional calls with
    PRODUCER_FENCED. A transaction it left open is aborted first.
first ``send()`` to a partition in a transaction (AddPartitionsToTxn)
    adds the partition to the transaction, which becomes *Ongoing*. A partition accepts a
    transactional batch only from a producer whose ongoing transaction holds it
    (INVALID_TXN_STATE otherwise, Kafka's KIP-890 verification).
``send_offsets_to_transaction()`` (AddOffsetsToTxn, then TxnOffsetCommit)
    adds a consumer group to the transaction and stages the offsets it will commit: they are
    stored only if the transaction commits.
``commit_transaction()`` / ``abort_transaction()`` (EndTxn)
    write a *marker* (COMMIT or ABORT) to every partition of the transaction, store or drop the
    staged offsets, and leave the state *CompleteCommit* or *CompleteAbort*.

States are Kafka's (``TransactionState``): Empty, Ongoing, PrepareCommit, PrepareAbort,
CompleteCommit, CompleteAbort, Dead. Kafka's coordinator writes the markers after EndTxn
answers, so a client may see the Prepare states (and CONCURRENT_TRANSACTIONS); a lone broker
writes them in the same step, under its lock, so they are never seen.

Two clocks act on transactions, both the broker's wall clock (epoch ms) as in Kafka:

- a transaction open for longer than its ``transaction_timeout_ms`` (the producer's, at most
  the broker's ``transaction.max.timeout.ms``) is aborted by the coordinator, which bumps the
  epoch as it does so: the producer that let it time out is fenced;
- a transactional id whose transaction ended ``transactional.id.expiration.ms`` ago (seven
  days) with no call since is forgotten.

The Java client's protocol version 1 is followed (the one kafka-python, librdkafka and the Java
client before Kafka 4 speak): an EndTxn must carry the current epoch exactly; the epoch is
bumped only by InitProducerId and by the coordinator's fencing.

:class:`TransactionCoordinator` is pure state: the broker calls it with its lock held and
writes the markers, and stores the offsets, that it hands back (:class:`EndedTransaction`).

Prior art: Kafka's ``TransactionCoordinator`` (``handleInitProducerId``,
``handleAddPartitionsToTransaction``, ``endTransaction``, ``abortTimedOutTransactions``),
``TransactionMetadata`` and ``TransactionStateManager`` (``enableTransactionalIdExpiration``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pcmodel.topics.broker_checks import INT16_MAX
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidProducerIdMappingError,
    InvalidRequestError,
    InvalidTransactionTimeoutError,
    InvalidTxnStateError,
    ProducerFencedError,
    TransactionalIdNotFoundError,
)
from pcmodel.topics.group_offsets import pending_by_group
from pcmodel.topics.idempotence import ProducerSequences
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

__all__ = [
    "DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS", "DEFAULT_TRANSACTION_MAX_TIMEOUT_MS",
    "DEFAULT_TRANSACTION_TIMEOUT_MS", "DescribedTransaction", "EndedTransaction",
    "TransactionCoordinator", "TransactionListing", "TransactionState", "check_states",
    "not_found",
]

#: Kafka's ``transaction.max.timeout.ms``: fifteen minutes.
DEFAULT_TRANSACTION_MAX_TIMEOUT_MS = 900_000
#: Kafka's ``transactional.id.expiration.ms``: seven days.
DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS = 604_800_000
#: The producers' ``transaction.timeout.ms``: a minute.
DEFAULT_TRANSACTION_TIMEOUT_MS = 60_000
#: Kafka's ``transaction.abort.timed.out.transaction.cleanup.interval.ms``: ten seconds.
DEFAULT_TIMED_OUT_CHECK_INTERVAL_MS = 10_000
#: Kafka's ``transaction.remove.expired.transaction.cleanup.interval.ms``: an hour.
DEFAULT_EXPIRED_ID_CHECK_INTERVAL_MS = 3_600_000
#: From this epoch on, InitProducerId gives the transactional id a new producer id instead
#: (Kafka's ``isEpochExhausted``: ``Short.MaxValue - 1``); the coordinator's fencing may still
#: bump it once more.
_EXHAUSTED_EPOCH = INT16_MAX - 1


class TransactionState(str, enum.Enum):
    """Where a transactional id's transaction is (Kafka's names, as ``kafka-transactions.sh``
    prints them)."""

    EMPTY = "Empty"
    ONGOING = "Ongoing"
    PREPARE_COMMIT = "PrepareCommit"
    PREPARE_ABORT = "PrepareAbort"
    COMPLETE_COMMIT = "CompleteCommit"
    COMPLETE_ABORT = "CompleteAbort"
    DEAD = "Dead"
    PREPARE_EPOCH_FENCE = "PrepareEpochFence"


class DescribedTransaction(NamedTuple):
    """Kafka's DescribeTransactions answer for one transactional id, as the broker gives it
    (the admin client's ``TransactionDescription`` is kafka-python's shape of it).

    ``start_time_ms`` is when the ongoing (or last) transaction began (epoch ms, ``-1`` if
    none ever did); ``partitions`` those of the ongoing transaction, by topic and partition.
    ``error`` is ``None``, or why the id could not be described
    (``TransactionalIdNotFoundError``); the other fields are empty then.
    """

    transactional_id: str
    state: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    start_time_ms: int
    partitions: tuple[TopicPartition, ...]
    error: Exception | None = None


class TransactionListing(NamedTuple):
    """One line of Kafka's ListTransactions: a transactional id, its producer id and state."""

    transactional_id: str
    producer_id: int
    state: str


class EndedTransaction(NamedTuple):
    """What the broker must do to end a transaction: write a COMMIT (``commit``) or ABORT
    marker, at ``producer_epoch``, to each of ``partitions``, and store (or drop) the
    ``offsets`` staged for each group."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    commit: bool
    partitions: tuple[TopicPartition, ...]
    offsets: Mapping[str, Mapping[TopicPartition, OffsetAndMetadata]]


@dataclass
class _Transaction:
    """One transactional id's metadata (Kafka's ``TransactionMetadata``)."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TransactionState = TransactionState.EMPTY
    partitions: set[TopicPartition] = field(default_factory=set)
    #: Offsets staged per group (TxnOffsetCommit), stored if the transaction commits.
    offsets: dict[str, dict[TopicPartition, OffsetAndMetadata]] = field(default_factory=dict)
    start_ms: int = -1
    last_update_ms: int = -1
    #: The epoch before the last bump by InitProducerId: a retry of that call carries it.
    last_epoch: int = -1

    @property
    def ongoing(self) -> bool:
        return self.state is TransactionState.ONGOING


def not_found(transactional_id: str) -> DescribedTransaction:
    """The description of a transactional id the coordinator does not know."""
    return DescribedTransaction(
        transactional_id, "", -1, -1, -1, -1, (),
        TransactionalIdNotFoundError(f"no transactional id {transactional_id!r}"))


def check_states(states: Iterable[str]) -> set[str]:
    """``states`` as a set of Kafka's state names; ``IllegalArgumentError`` for another."""
    wanted = set(states)
    unknown = wanted - {s.value for s in TransactionState}
    if unknown:
        raise IllegalArgumentError(
            f"unknown transaction states {sorted(unknown)}; the states are "
            f"{[s.value for s in TransactionState]}")
    return wanted


class TransactionCoordinator:
    """The transactional ids of one broker, and their transactions (see the module).

    Not thread-safe: the broker calls every method with its lock held. Producer ids come from
    the broker's :class:`~pcmodel.topics.idempotence.ProducerSequences`, which also learns each
    new epoch, so that partitions fence appends with an older one.
    """

    def __init__(self, producers: ProducerSequences, *,
                 max_timeout_ms: int = DEFAULT_TRANSACTION_MAX_TIMEOUT_MS,
                 id_expiration_ms: int = DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS) -> None:
        self.max_timeout_ms = max_timeout_ms
        self.id_expiration_ms = id_expiration_ms
        self._producers = producers
        self._transactions: dict[str, _Transaction] = {}
        self._by_producer_id: dict[int, _Transaction] = {}

    def __repr__(self) -> str:
        ongoing = sum(t.ongoing for t in self._transactions.values())
        return f"<TransactionCoordinator ids={len(self._transactions)} ongoing={ongoing}>"

    # --- the producer's calls ------------------------------------------------------------------

    def init_producer_id(self, transactional_id: str, timeout_ms: int, now_ms: int,
                         expected: tuple[int, int] | None = None
                         ) -> tuple[tuple[int, int], EndedTransaction | None]:
        """InitProducerId with a transactional id: ``((producer_id, epoch), ended)``.

        A new id gets a new producer id at epoch 0; a known one its epoch bumped (a new producer
        id once the epoch is exhausted). A transaction left ongoing is aborted first, at an
        epoch bumped for that (so the caller's epoch is two above the old one, as in Kafka
        where the client retries after CONCURRENT_TRANSACTIONS): ``ended`` says what to write
        then. ``expected`` is the ``(producer_id, epoch)`` a producer that already had one
        sends to bump its own epoch (KIP-360): another producer id, or an epoch neither the
        current one nor the one the last bump replaced (a retry of that bump, answered with its
        result), is PRODUCER_FENCED. Raises
        ``InvalidRequestError`` for an empty id, ``InvalidTransactionTimeoutError``.
        """
        if not transactional_id:
            raise InvalidRequestError("a transactional id must be a non-empty string")
        if not 0 < timeout_ms <= self.max_timeout_ms:
            raise InvalidTransactionTimeoutError(
                f"transaction_timeout_ms={timeout_ms} is not in 1..{self.max_timeout_ms} "
                "(the broker's transaction.max.timeout.ms); lower it")
        txn = self._transactions.get(transactional_id)
        if txn is None:
            producer_id = self._producers.new_producer_id()
            txn = _Transaction(transactional_id, producer_id, 0, timeout_ms,
                               last_update_ms=now_ms)
            self._transactions[transactional_id] = txn
            self._by_producer_id[producer_id] = txn
            return (producer_id, 0), None
        if expected is not None and expected[0] != txn.producer_id:
            raise ProducerFencedError(
                f"producer {expected[0]} no longer owns transactional id {transactional_id!r} "
                f"(producer {txn.producer_id} does)")
        if expected is not None and expected[1] == txn.last_epoch and not txn.ongoing:
            return (txn.producer_id, txn.producer_epoch), None  # a retry: already bumped
        if expected is not None and expected[1] != txn.producer_epoch:
            raise ProducerFencedError(
                f"producer {expected[0]} at epoch {expected[1]} was fenced: transactional id "
                f"{transactional_id!r} is at epoch {txn.producer_epoch}")
        ended = None
        if txn.ongoing:
            ended = self._end(txn, commit=False, now_ms=now_ms, fence=True)
        # A producer bumping its own epoch may retry with the one it had; a new instance
        # taking over leaves nothing to retry (Kafka's prepareIncrementProducerEpoch).
        txn.last_epoch = -1 if expected is None else txn.producer_epoch
        if txn.producer_epoch >= _EXHAUSTED_EPOCH:
            del self._by_producer_id[txn.producer_id]
            txn.producer_id, txn.producer_epoch = self._producers.new_producer_id(), 0
            self._by_producer_id[txn.producer_id] = txn
        else:
            txn.producer_epoch += 1
            self._producers.set_epoch(txn.producer_id, txn.producer_epoch)
        txn.timeout_ms = timeout_ms
        txn.state = TransactionState.EMPTY
        txn.last_update_ms = now_ms
        return (txn.producer_id, txn.producer_epoch), ended

    def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                       partitions: Iterable[TopicPartition], now_ms: int) -> None:
        """AddPartitionsToTxn: the partitions join the producer's transaction, which becomes
        Ongoing (a new one begins, now, if none was). Raises ``InvalidProducerIdMappingError``,
        ``ProducerFencedError`` (see :meth:`_owned`)."""
        txn = self._owned(transactional_id, producer_id, producer_epoch)
        self._begin(txn, now_ms)
        txn.partitions.update(partitions)

    def add_group(self, transactional_id: str, producer_id: int, producer_epoch: int,
                  group_id: str, now_ms: int) -> None:
        """AddOffsetsToTxn: the group's offsets join the transaction (Kafka adds the group's
        ``__consumer_offsets`` partition). Raises as :meth:`add_partitions`."""
        txn = self._owned(transactional_id, producer_id, producer_epoch)
        self._begin(txn, now_ms)
        txn.offsets.setdefault(group_id, {})

    def stage_offsets(self, transactional_id: str, producer_id: int, producer_epoch: int,
                      group_id: str, offsets: Mapping[TopicPartition, OffsetAndMetadata],
                      now_ms: int) -> None:
        """TxnOffsetCommit: stage the group's offsets in the transaction. Raises
        ``InvalidTxnStateError`` unless the transaction is ongoing with the group added, and
        as :meth:`add_partitions`."""
        txn = self._owned(transactional_id, producer_id, producer_epoch)
        if not txn.ongoing or group_id not in txn.offsets:
            raise InvalidTxnStateError(
                f"group {group_id!r} was not added to the transaction of {transactional_id!r}; "
                "send_offsets_to_transaction() adds it first")
        txn.offsets[group_id].update(offsets)
        txn.last_update_ms = now_ms

    def end(self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool,
            now_ms: int) -> EndedTransaction | None:
        """EndTxn: end the ongoing transaction, committing or aborting it; what to write is
        returned. A retry of the call that ended the last transaction does nothing (``None``).
        Raises ``InvalidTxnStateError`` for a transaction that is not ongoing (nothing was
        added to it, or it ended the other way), and as :meth:`add_partitions`."""
        txn = self._owned(transactional_id, producer_id, producer_epoch)
        done = TransactionState.COMPLETE_COMMIT if commit else TransactionState.COMPLETE_ABORT
        if txn.state is done:
            return None
        if not txn.ongoing:
            raise InvalidTxnStateError(
                f"cannot {'commit' if commit else 'abort'} the transaction of "
                f"{transactional_id!r}: it is {txn.state.value}")
        return self._end(txn, commit, now_ms)

    # --- the broker's checks -------------------------------------------------------------------

    def holds(self, producer_id: int, producer_epoch: int, tp: TopicPartition) -> bool:
        """Whether ``producer_id`` at ``producer_epoch`` has an ongoing transaction with ``tp``
        in it: the check a partition makes before it appends a transactional batch."""
        txn = self._by_producer_id.get(producer_id)
        return (txn is not None and txn.producer_epoch == producer_epoch and txn.ongoing
                and tp in txn.partitions)

    def unstable(self, group_id: str, tp: TopicPartition) -> bool:
        """Whether an ongoing transaction has staged an offset of ``tp`` for ``group_id``."""
        return any(t.ongoing and tp in t.offsets.get(group_id, ())
                   for t in self._transactions.values())

    def pending_offsets(self) -> dict[str, frozenset[TopicPartition]]:
        """Per group, the partitions of which an ongoing transaction has staged an offset
        (Kafka's ``pendingTransactionalOffsets``; a group added with nothing staged has none):
        the offsets-retention check keeps them, and their groups."""
        return pending_by_group((group_id, staged)
                                for txn in self._transactions.values() if txn.ongoing
                                for group_id, staged in txn.offsets.items() if staged)

    def abort_timed_out(self, now_ms: int) -> list[EndedTransaction]:
        """Abort, fencing their producers, the transactions open longer than their timeout at
        ``now_ms`` (Kafka's ``abortTimedOutTransactions``); return what to write."""
        return [self._end(txn, commit=False, now_ms=now_ms, fence=True)
                for txn in list(self._transactions.values())
                if txn.ongoing and now_ms - txn.start_ms > txn.timeout_ms]

    def expire_ids(self, now_ms: int) -> list[str]:
        """Forget the transactional ids with no transaction ongoing and no call for
        ``id_expiration_ms`` at ``now_ms``; return them, sorted."""
        gone = sorted(tid for tid, txn in self._transactions.items()
                      if not txn.ongoing and now_ms - txn.last_update_ms >= self.id_expiration_ms)
        for tid in gone:
            del self._by_producer_id[self._transactions.pop(tid).producer_id]
        return gone

    # --- a replicated transaction log's records ---------------------------------------------

    def export(self, transactional_id: str, ended: EndedTransaction | None = None
               ) -> dict[str, Any] | None:
        """The id's metadata as plain values (what a replicated transaction log stores as the
        id's record, Kafka's ``TransactionLogValue``), or ``None`` for an unknown id.

        With ``ended`` (what :meth:`end` or :meth:`abort_timed_out` just returned for the id)
        the state is PrepareCommit or PrepareAbort with the transaction's partitions and
        offsets: the decision, stored before its markers are written, so that a coordinator
        that takes over writes them if this one could not.
        """
        txn = self._transactions.get(transactional_id)
        if txn is None:
            return None
        if ended is None:
            state, partitions, offsets = txn.state, txn.partitions, txn.offsets
        else:
            state = TransactionState.PREPARE_COMMIT if ended.commit \
                else TransactionState.PREPARE_ABORT
            partitions, offsets = set(ended.partitions), ended.offsets
        return {
            "producer_id": txn.producer_id, "producer_epoch": txn.producer_epoch,
            "last_epoch": txn.last_epoch, "timeout_ms": txn.timeout_ms,
            "state": state.value, "start_ms": txn.start_ms,
            "last_update_ms": txn.last_update_ms,
            "partitions": [list(tp) for tp in sorted(partitions)],
            "offsets": {group: [[tp.topic, tp.partition, value.offset, value.metadata,
                                 value.leader_epoch]
                                for tp, value in sorted(staged.items())]
                        for group, staged in sorted(offsets.items())},
        }

    def restore(self, transactional_id: str, fields: Mapping[str, Any]
                ) -> EndedTransaction | None:
        """Take the id's metadata from a record :meth:`export` made (a coordinator loading its
        partition of the transaction log; a later record of the id replaces an earlier one).

        A transaction stored in a Prepare state was decided but perhaps not completed: it is
        completed here (CompleteCommit or CompleteAbort) and returned, so that the caller
        writes its markers and offsets again (writing them twice does no harm).
        """
        self.forget(transactional_id)
        state = TransactionState(fields["state"])
        partitions = {TopicPartition(t, p) for t, p in fields["partitions"]}
        # A record written before leader epochs were kept has none: -1, Kafka's "none".
        offsets = {group: {TopicPartition(t, p): OffsetAndMetadata(offset, metadata,
                                                                   epoch[0] if epoch else -1)
                           for t, p, offset, metadata, *epoch in staged}
                   for group, staged in fields["offsets"].items()}
        txn = _Transaction(transactional_id, fields["producer_id"], fields["producer_epoch"],
                           fields["timeout_ms"], state, partitions, offsets, fields["start_ms"],
                           fields["last_update_ms"], fields["last_epoch"])
        self._transactions[transactional_id] = txn
        self._by_producer_id[txn.producer_id] = txn
        if state not in (TransactionState.PREPARE_COMMIT, TransactionState.PREPARE_ABORT):
            return None
        commit = state is TransactionState.PREPARE_COMMIT
        ended = EndedTransaction(transactional_id, txn.producer_id, txn.producer_epoch, commit,
                                 tuple(sorted(partitions)), offsets)
        txn.state = TransactionState.COMPLETE_COMMIT if commit \
            else TransactionState.COMPLETE_ABORT
        txn.partitions, txn.offsets = set(), {}
        return ended

    def forget(self, transactional_id: str) -> None:
        """Forget the id (its record in a transaction log is a tombstone: it expired)."""
        txn = self._transactions.pop(transactional_id, None)
        if txn is not None:
            self._by_producer_id.pop(txn.producer_id, None)

    def transactional_ids(self) -> list[str]:
        """Every transactional id known here, sorted."""
        return sorted(self._transactions)

    # --- admin ---------------------------------------------------------------------------------

    def describe(self, transactional_id: str) -> DescribedTransaction:
        """DescribeTransactions for one id (an unknown one: ``TransactionalIdNotFoundError`` in
        ``error``)."""
        txn = self._transactions.get(transactional_id)
        if txn is None:
            return not_found(transactional_id)
        return DescribedTransaction(
            transactional_id, txn.state.value, txn.producer_id, txn.producer_epoch,
            txn.timeout_ms, txn.start_ms, tuple(sorted(txn.partitions)))

    def listing(self, states: Iterable[str] = (), producer_ids: Iterable[int] = (),
                duration_ms: int = -1, now_ms: int = 0) -> list[TransactionListing]:
        """ListTransactions: every id, or those in one of ``states`` (Kafka's names), of one of
        ``producer_ids``, and (``duration_ms >= 0``) whose last transaction began longer ago
        than that (as Kafka filters, whatever the state; an id that never began one counts
        as begun at time -1)."""
        wanted_states = check_states(states)
        wanted_ids = set(producer_ids)
        return [TransactionListing(tid, txn.producer_id, txn.state.value)
                for tid, txn in sorted(self._transactions.items())
                if (not wanted_states or txn.state.value in wanted_states)
                and (not wanted_ids or txn.producer_id in wanted_ids)
                and (duration_ms < 0 or now_ms - txn.start_ms > duration_ms)]

    # --- internals -----------------------------------------------------------------------------

    def _owned(self, transactional_id: str, producer_id: int,
               producer_epoch: int) -> _Transaction:
        """The id's transaction if ``producer_id`` at ``producer_epoch`` owns it."""
        if not transactional_id:
            raise InvalidRequestError("a transactional id must be a non-empty string")
        txn = self._transactions.get(transactional_id)
        if txn is None or txn.producer_id != producer_id:
            raise InvalidProducerIdMappingError(
                f"producer {producer_id} does not own transactional id {transactional_id!r}; "
                "call init_transactions()")
        if txn.producer_epoch != producer_epoch:
            raise ProducerFencedError(
                f"transactional id {transactional_id!r} is at epoch {txn.producer_epoch}, "
                f"this producer at {producer_epoch}: a newer instance took over, or the "
                "coordinator aborted its transaction when it timed out; close this producer")
        return txn

    @staticmethod
    def _begin(txn: _Transaction, now_ms: int) -> None:
        if not txn.ongoing:  # a new transaction: the last one's partitions are not in it
            txn.state = TransactionState.ONGOING
            txn.partitions.clear()
            txn.offsets.clear()
            txn.start_ms = now_ms
        txn.last_update_ms = now_ms

    def _end(self, txn: _Transaction, commit: bool, now_ms: int,
             fence: bool = False) -> EndedTransaction:
        """End ``txn`` (fencing its producer first: a new epoch, which the markers carry)."""
        if fence:
            txn.producer_epoch += 1
            self._producers.set_epoch(txn.producer_id, txn.producer_epoch)
        ended = EndedTransaction(
            txn.transactional_id, txn.producer_id, txn.producer_epoch, commit,
            tuple(sorted(txn.partitions)),
            {group: dict(offsets) for group, offsets in txn.offsets.items()})
        txn.state = TransactionState.COMPLETE_COMMIT if commit else TransactionState.COMPLETE_ABORT
        txn.partitions.clear()
        txn.offsets.clear()
        txn.last_update_ms = now_ms
        return ended
