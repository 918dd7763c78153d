"""Errors of transactions: what the transaction coordinator and a transactional partition answer.

Each class keeps kafka-python's name, Kafka's protocol error code in ``errno``, its ``message``
(the code's name in the protocol) and ``description``; its docstring says when pcmodel answers
it. See :mod:`pcmodel.topics.transactions` for the rules behind them.
"""

from __future__ import annotations

from pcmodel.topics.errors.base import BrokerResponseError, KafkaError

__all__ = [
    "ConcurrentTransactionsError",
    "CoordinatorNotAvailableError",
    "InvalidProducerIdMappingError",
    "InvalidTransactionTimeoutError",
    "InvalidTxnStateError",
    "NotCoordinatorError",
    "ProducerFencedError",
    "TransactionAbortedError",
    "TransactionCoordinatorFencedError",
    "TransactionalIdNotFoundError",
    "UnstableOffsetCommitError",
]


class InvalidTxnStateError(BrokerResponseError):
    """A transactional call that the transaction's state does not allow.

    The coordinator answers it for a commit of a transaction that was aborted (or the other way
    round) and for ending a transaction that holds nothing; a partition answers it for a
    transactional batch whose partition was never added to the producer's ongoing transaction,
    and the group coordinator for transactional offsets of a group never added to it.
    """

    errno = 48
    message = "INVALID_TXN_STATE"
    description = "The producer attempted a transactional operation in an invalid state."


class InvalidProducerIdMappingError(BrokerResponseError):
    """The transactional id is unknown to the coordinator, or it belongs to another producer id.

    A producer that called ``init_transactions()`` before the coordinator forgot its id
    (``transactional.id.expiration.ms``) hears it: it must call ``init_transactions()`` again.
    """

    errno = 49
    message = "INVALID_PRODUCER_ID_MAPPING"
    description = ("The producer attempted to use a producer id which is not currently "
                   "assigned to its transactional id.")


class InvalidTransactionTimeoutError(BrokerResponseError):
    """``transaction_timeout_ms`` is not positive or above the broker's
    ``transaction.max.timeout.ms`` (fifteen minutes by default)."""

    errno = 50
    message = "INVALID_TRANSACTION_TIMEOUT"
    description = ("The transaction timeout is larger than the maximum value allowed by the "
                   "broker (as configured by transaction.max.timeout.ms).")


class UnstableOffsetCommitError(BrokerResponseError):
    """A ``read_committed`` consumer asked for a committed offset that an ongoing transaction
    is about to change (OffsetFetch with ``require_stable``, KIP-447). Retriable: the consumer
    asks again until the transaction ends."""

    errno = 88
    message = "UNSTABLE_OFFSET_COMMIT"
    description = ("There are unstable offsets that need to be cleared.")
    retriable = True


class ProducerFencedError(BrokerResponseError):
    """A newer producer with the same transactional id called ``init_transactions()`` (its
    epoch is higher), or the coordinator aborted this producer's transaction when it timed out.

    Fatal for the producer, as in Kafka: it can do nothing more; close it. The newer instance
    carries on, and what this one left open was aborted.
    """

    errno = 90
    message = "PRODUCER_FENCED"
    description = ("There is a newer producer with the same transactionalId which fences the "
                   "current one.")


class CoordinatorNotAvailableError(BrokerResponseError):
    """No broker coordinates the transactional id right now: the leader of its partition of a
    cluster's transaction log is down, or still loading the log, or failed while storing the
    call's outcome. Retriable: a cluster connection asks again, for up to 30 seconds, before
    it raises this."""

    errno = 15
    message = "COORDINATOR_NOT_AVAILABLE"
    description = "The coordinator is not available."
    retriable = True


class NotCoordinatorError(BrokerResponseError):
    """The broker asked does not coordinate the transactional id the request is about: the
    client asks FindCoordinator again and sends the request there. Retriable.

    A cluster's Kafka listener answers it at a broker that is not the id's coordinator (see
    :mod:`pcmodel.wire.node_connection`), as Kafka does; kafka-python and librdkafka retry it at
    every transactional request.
    """

    errno = 16
    message = "NOT_COORDINATOR"
    description = "This is not the correct coordinator."
    retriable = True


class ConcurrentTransactionsError(BrokerResponseError):
    """The transactional id's last transaction is decided but its markers are not all written
    yet (a partition of it has no leader right now): the coordinator takes the next call for
    the id once they are. Retriable."""

    errno = 51
    message = "CONCURRENT_TRANSACTIONS"
    description = ("The producer attempted to update a transaction while another concurrent "
                   "operation on the same transaction was ongoing.")
    retriable = True


class TransactionCoordinatorFencedError(BrokerResponseError):
    """A transaction marker came from a coordinator older than the one that wrote the
    producer's last marker in the partition (its ``coordinator_epoch`` is lower): a deposed
    coordinator, or an administrator's abort with a stale coordinator epoch. Nothing is
    written; the coordinator that sent it stops sending that marker, as Kafka's does."""

    errno = 52
    message = "TRANSACTION_COORDINATOR_FENCED"
    description = ("Indicates that the transaction coordinator sending a WriteTxnMarker is no "
                   "longer the current coordinator for a given producer.")


class TransactionalIdNotFoundError(BrokerResponseError):
    """``describe_transactions`` was asked about a transactional id the coordinator does not
    know (never used, or expired)."""

    errno = 105
    message = "TRANSACTIONAL_ID_NOT_FOUND"
    description = "The transactionalId could not be found."


class TransactionAbortedError(KafkaError):
    """A record's transaction was aborted before the record was sent: its future fails with
    this (the Java client's ``TransactionAbortedException``). Nothing of it reached a log."""
