"""The client side of a transaction: a transactional producer's states, and what it may do in each.

A producer with a ``transactional_id`` follows the Java client's ``TransactionManager``, whose
states these are::

    state                    call, or event                      next state
    UNINITIALIZED            init_transactions()                 INITIALIZING, then READY
    READY                    begin_transaction()                 IN_TRANSACTION
    IN_TRANSACTION           send(), send_offsets_to_...()       IN_TRANSACTION
    IN_TRANSACTION           commit_transaction()                COMMITTING_TRANSACTION, then READY
    IN_TRANSACTION           abort_transaction()                 ABORTING_TRANSACTION, then READY
    IN_TRANSACTION           a batch or a call failed            ABORTABLE_ERROR
    COMMITTING_TRANSACTION   a batch or EndTxn failed            ABORTABLE_ERROR
    ABORTABLE_ERROR          abort_transaction()                 ABORTING_TRANSACTION, then READY
    any                      fenced, or refused for good         FATAL_ERROR

FATAL_ERROR is the end: the producer was fenced (``ProducerFencedError``, or
``InvalidProducerEpochError`` from an append: a newer instance with the same transactional id
called ``init_transactions()``, or the coordinator aborted a transaction that outlived its
timeout), or the broker refuses transactions for good (``UnsupportedVersionError``).

The rules, all applied under this module's one lock:

1. Each call is allowed in some states only (:meth:`TransactionManager.require`). In another
   state it raises ``IllegalStateError`` saying what to call instead; in ``ABORTABLE_ERROR`` it
   raises the error that made the transaction abortable (only ``abort_transaction()`` goes on);
   in ``FATAL_ERROR`` the fatal error, for ever (only ``close()`` goes on).
2. ``commit_transaction()`` and ``abort_transaction()`` first close the door: their state
   refuses new ``send()`` calls, and they wait for the calls already under way
   (:meth:`~TransactionManager.wait_for_sends`), so that every record whose ``send()`` returned
   before the commit began is in the transaction, and no record slips in after it.
3. An error (:meth:`~TransactionManager.record_error`) makes the producer ``FATAL_ERROR`` if it
   was fenced, else ``ABORTABLE_ERROR``; during an abort it changes nothing (the transaction is
   being aborted anyway), as in the Java client. A retriable error of a call (a broker process
   that did not answer in time) is not recorded: the call may be made again.
4. After an error, or once an abort began, a batch the sender has not appended yet is failed
   instead (:meth:`~TransactionManager.refusal`): with the abortable error, with
   ``TransactionAbortedError`` during an abort, with the fatal error after one.
5. A batch that failed after it was numbered left a gap in its partition's sequence numbers,
   which the partition would refuse for ever: the abort then bumps the producer's epoch
   (KIP-360) so that sequences start again from 0 (:attr:`~TransactionManager.bump_epoch`).
   So does ``InvalidProducerIdMappingError``, the coordinator having forgotten the
   transactional id (``transactional.id.expiration.ms``): the abort skips EndTxn, which the
   coordinator would refuse too, and InitProducerId gives the id a producer id again, as the
   Java client does (:attr:`~TransactionManager.reinit`).

This class is pure state: it calls no broker and starts no thread. The calls live in
:mod:`~pcmodel.topics.producer_transactions` (the public methods) and
:mod:`~pcmodel.topics.sender` (adding a partition before its first batch).

Prior art: the Java client's ``TransactionManager`` (``State.isTransitionValid``,
``maybeFailWithError``, ``maybeTransitionToErrorState``, ``epochBumpRequired``) and the
Sender's ``abortUndrainedBatches``; kafka-python's ``kafka/producer/transaction_manager.py``.
"""

from __future__ import annotations

import enum
import threading

from pcmodel.topics.errors import (
    IllegalStateError,
    InvalidProducerEpochError,
    InvalidProducerIdMappingError,
    KafkaTimeoutError,
    ProducerFencedError,
    TransactionAbortedError,
    UnsupportedVersionError,
)
from pcmodel.topics.structs import TopicPartition

__all__ = ["FATAL_ERRORS", "TransactionManager", "TransactionState"]


class TransactionState(enum.Enum):
    """A transactional producer's state (the Java client's names)."""

    UNINITIALIZED = "uninitialized"
    INITIALIZING = "initializing"
    READY = "ready"
    IN_TRANSACTION = "in_transaction"
    COMMITTING_TRANSACTION = "committing_transaction"
    ABORTING_TRANSACTION = "aborting_transaction"
    ABORTABLE_ERROR = "abortable_error"
    FATAL_ERROR = "fatal_error"


S = TransactionState

#: Errors after which the producer can do nothing more: it was fenced, or it never can.
FATAL_ERRORS = (ProducerFencedError, InvalidProducerEpochError, UnsupportedVersionError)

#: What to call next, by state: the end of every "not allowed now" message.
_NEXT_STEP = {
    S.UNINITIALIZED: "call init_transactions() first",
    S.INITIALIZING: "init_transactions() is under way in another thread",
    S.READY: "call begin_transaction() to start a transaction",
    S.IN_TRANSACTION: "a transaction is open: send() its records, then commit_transaction() "
                      "or abort_transaction()",
    S.COMMITTING_TRANSACTION: "the transaction is being committed (a commit_transaction() "
                              "that timed out goes on when called again)",
    S.ABORTING_TRANSACTION: "the transaction is being aborted (an abort_transaction() that "
                            "timed out goes on when called again)",
}

#: The transitions the Java client allows (``State.isTransitionValid``): target -> sources.
#: FATAL_ERROR may be entered from anywhere.
_SOURCES = {
    S.UNINITIALIZED: {S.INITIALIZING},  # an init that failed and may be tried again
    S.INITIALIZING: {S.UNINITIALIZED},
    S.READY: {S.INITIALIZING, S.COMMITTING_TRANSACTION, S.ABORTING_TRANSACTION},
    S.IN_TRANSACTION: {S.READY},
    S.COMMITTING_TRANSACTION: {S.IN_TRANSACTION},
    S.ABORTING_TRANSACTION: {S.IN_TRANSACTION, S.ABORTABLE_ERROR},
    S.ABORTABLE_ERROR: {S.IN_TRANSACTION, S.COMMITTING_TRANSACTION, S.ABORTABLE_ERROR},
}


def _again(error: BaseException, hint: str) -> BaseException:
    """A fresh exception of ``error``'s class, its message followed by ``hint``, caused by
    ``error`` (raising the stored instance again would pile up its tracebacks)."""
    message = str(error.args[0]) if error.args else type(error).__name__
    try:
        fresh = type(error)(f"{message}; {hint}")
    except Exception:  # noqa: BLE001 - a class that takes other arguments: raise the original
        return error
    fresh.__cause__ = error
    return fresh


class TransactionManager:
    """The state of one transactional producer (see the module for the rules).

    Thread-safe: ``send()`` threads, the sender thread and the thread that commits all call it.
    Its lock is never held while blocking, except in :meth:`wait_for_sends`, which waits on it.
    """

    def __init__(self, transactional_id: str) -> None:
        self.transactional_id = transactional_id
        self._lock = threading.Lock()
        self._sends_done = threading.Condition(self._lock)
        self.state = S.UNINITIALIZED
        #: Why the producer is in ABORTABLE_ERROR or FATAL_ERROR (else None).
        self.error: BaseException | None = None
        #: The partitions added to the coordinator's transaction (AddPartitionsToTxn).
        self.partitions: set[TopicPartition] = set()
        #: Whether anything (a partition, a group's offsets) was added: a transaction to which
        #: nothing was added does not exist on the coordinator, and ends without EndTxn.
        self.started = False
        #: A numbered batch failed: the next abort bumps the epoch (rule 5).
        self.bump_epoch = False
        #: The coordinator forgot the transactional id: the next abort skips EndTxn and only
        #: asks for a producer id again (rule 5).
        self.reinit = False
        self._sending = 0  # send() calls under way (rule 2)

    def __repr__(self) -> str:
        return f"<TransactionManager {self.transactional_id!r} {self.state.name}>"

    # --- rule 1: what may be called when ------------------------------------------------------

    def require(self, call: str, *allowed: TransactionState) -> TransactionState:
        """Return the current state if it is one of ``allowed``; otherwise raise (rule 1)."""
        with self._lock:
            return self._require(call, allowed)

    def _require(self, call: str, allowed: tuple[TransactionState, ...]) -> TransactionState:
        if self.state in allowed:
            return self.state
        if self.state is S.FATAL_ERROR:
            raise _again(self.error, "this producer can do nothing more: close() it")
        if self.state is S.ABORTABLE_ERROR:
            raise _again(self.error, f"{call}() is not possible: the transaction failed; "
                                     "call abort_transaction()")
        raise IllegalStateError(f"{call}() is not allowed now (the producer is "
                                f"{self.state.name}): {_NEXT_STEP[self.state]}")

    def transition(self, call: str, target: TransactionState, *, resume: bool = False) -> None:
        """Move to ``target`` from one of the states allowed to lead there; otherwise raise as
        :meth:`require` does for ``call``. With ``resume``, being in ``target`` already is
        allowed too: a commit or an abort that timed out goes on where it stopped."""
        with self._lock:
            sources = _SOURCES[target] | ({target} if resume else set())
            if self._require(call, tuple(sources)) is not target:
                self._move(target)

    def init_failed(self, error: BaseException) -> None:
        """``init_transactions()`` failed: it may be called again after a retriable error (a
        broker that did not answer in time); any other error is fatal, as in the Java
        client."""
        with self._lock:
            if getattr(error, "retriable", False):
                self._move(S.UNINITIALIZED)
            else:
                self._move(S.FATAL_ERROR, error)

    def _move(self, target: TransactionState, error: BaseException | None = None) -> None:
        self.state = target
        self.error = error
        if target in (S.READY, S.UNINITIALIZED):  # a transaction ended (or none began)
            self.partitions.clear()
            self.started = False

    # --- rule 2: no send() slips past a commit or an abort ------------------------------------

    def enter_send(self) -> None:
        """A ``send()`` begins: allowed only in a transaction (rule 1); counted until
        :meth:`exit_send`."""
        with self._lock:
            self._require("send", (S.IN_TRANSACTION,))
            self._sending += 1

    def exit_send(self) -> None:
        """A ``send()`` that :meth:`enter_send` let in has returned or raised."""
        with self._lock:
            self._sending -= 1
            if not self._sending:
                self._sends_done.notify_all()

    def wait_for_sends(self, timeout: float, call: str) -> None:
        """Block until no ``send()`` is under way; ``KafkaTimeoutError`` after ``timeout``
        seconds. Called once the state refuses new ones."""
        with self._lock:
            if not self._sends_done.wait_for(lambda: not self._sending, max(0.0, timeout)):
                raise KafkaTimeoutError(f"{call}() waited max_block_ms for send() calls under "
                                        f"way to finish; call {call}() again")

    # --- rules 3 to 5: errors, and the batches they stop ----------------------------------------

    def record_error(self, error: BaseException, fatal: bool = False) -> None:
        """A batch or a transactional call failed with ``error`` (rule 3); ``fatal`` for an
        error the Java client treats as fatal in that call."""
        with self._lock:
            if self.state is S.FATAL_ERROR:
                return  # the first fatal error is the one every later call raises
            if isinstance(error, InvalidProducerEpochError):
                # An append with an old epoch: a newer instance (or the coordinator, at a
                # timeout) bumped it. That is PRODUCER_FENCED, as the Java client's EndTxn
                # handler also reads it: every later call raises ProducerFencedError.
                fenced = ProducerFencedError(
                    f"transactional id {self.transactional_id!r} was fenced: an append was "
                    f"refused ({error.args[0] if error.args else error})")
                fenced.__cause__ = error
                error = fenced
            if fatal or isinstance(error, FATAL_ERRORS):
                self._move(S.FATAL_ERROR, error)
            elif self.state in _SOURCES[S.ABORTABLE_ERROR]:
                if isinstance(error, InvalidProducerIdMappingError):
                    self.bump_epoch = self.reinit = True
                self._move(S.ABORTABLE_ERROR, error)

    def batch_failed(self, error: BaseException, numbered: bool) -> None:
        """A batch failed for good; ``numbered`` if it had sequence numbers (rules 3, 5)."""
        with self._lock:
            self.bump_epoch = self.bump_epoch or numbered
        self.record_error(error)

    def refusal(self) -> BaseException | None:
        """The error to fail a batch with instead of appending it, or None: append it (rule 4)."""
        with self._lock:
            if self.state in (S.ABORTABLE_ERROR, S.FATAL_ERROR):
                return self.error
            if self.state is S.ABORTING_TRANSACTION:
                return TransactionAbortedError(
                    f"the transaction of {self.transactional_id!r} was aborted before this "
                    "record was sent")
            return None

    # --- the transaction's contents -----------------------------------------------------------

    def needs_adding(self, tp: TopicPartition) -> bool:
        """Whether ``tp`` must be added to the transaction before a batch is appended there."""
        with self._lock:
            return tp not in self.partitions

    def added(self, tp: TopicPartition | None = None) -> None:
        """The coordinator added ``tp`` (None: a group's offsets) to the transaction."""
        with self._lock:
            self.started = True
            if tp is not None:
                self.partitions.add(tp)

    def ended(self) -> None:
        """The transaction was committed or aborted (and the epoch bumped if it had to be)."""
        with self._lock:
            self._require("end", (S.COMMITTING_TRANSACTION, S.ABORTING_TRANSACTION))
            self.bump_epoch = self.reinit = False
            self._move(S.READY)
