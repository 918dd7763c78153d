"""The errors a replicated partition answers with, under Kafka's names and protocol codes.

kafka-python names them ``NotLeaderForPartitionError`` (Java: ``NotLeaderOrFollowerException``),
``NotEnoughReplicasError`` and so on; the class names here are kafka-python's, the docstrings
say when pcmodel's cluster raises them. Retriable ones can succeed when tried again after a
metadata refresh (a new leader) or after the in-sync replicas caught up.

Prior art: kafka-python ``kafka/errors.py`` and Kafka's ``Errors.java``.
"""

from __future__ import annotations

from pcmodel.topics.errors import (
    BrokerResponseError,
    InvalidProducerEpochError,
    OutOfOrderSequenceNumberError,
)

__all__ = [
    "DuplicateBrokerRegistrationError",
    "DuplicateSequenceNumberError",
    "FencedLeaderEpochError",
    "InvalidProducerEpochError",
    "LeaderNotAvailableError",
    "NotEnoughReplicasAfterAppendError",
    "NotEnoughReplicasError",
    "NotLeaderForPartitionError",
    "NotLeaderOrFollowerError",
    "OffsetNotAvailableError",
    "OutOfOrderSequenceNumberError",
    "RequestTimedOutError",
    "UnknownLeaderEpochError",
]


class LeaderNotAvailableError(BrokerResponseError):
    """The partition has no leader right now (every in-sync replica is down).

    It gets one when an in-sync replica returns, or at once with
    ``unclean_leader_election_enable=True`` if any replica is alive.
    """

    errno = 5
    message = "LEADER_NOT_AVAILABLE"
    description = "There is no leader for this topic-partition as we are in the middle of a " \
        "leadership election."
    retriable = True


class NotLeaderForPartitionError(BrokerResponseError):
    """The broker asked is not the partition's leader (any more): refresh metadata, retry.

    Kafka 2.6 renamed the code ``NOT_LEADER_OR_FOLLOWER``; kafka-python keeps the old name.
    """

    errno = 6
    message = "NOT_LEADER_OR_FOLLOWER"
    description = "This server is not the leader for that topic-partition."
    retriable = True


#: The Java client's name for the same error.
NotLeaderOrFollowerError = NotLeaderForPartitionError


class RequestTimedOutError(BrokerResponseError):
    """An ``acks="all"`` produce was appended by the leader but not replicated in time.

    The records may still become committed later: the outcome is unknown, which is why a
    retrying producer needs idempotence to avoid duplicates.
    """

    errno = 7
    message = "REQUEST_TIMED_OUT"
    description = "The request timed out."
    retriable = True


class NotEnoughReplicasError(BrokerResponseError):
    """``acks="all"`` refused before appending: fewer in-sync replicas than
    ``min_insync_replicas``. Nothing was written."""

    errno = 19
    message = "NOT_ENOUGH_REPLICAS"
    description = "Messages are rejected since there are fewer in-sync replicas than required."
    retriable = True


class NotEnoughReplicasAfterAppendError(BrokerResponseError):
    """``acks="all"``: the records are in the leader's log and committed, but the in-sync set
    is smaller than ``min_insync_replicas`` when the answer is due; they were not
    acknowledged. Rare since Kafka 3.7: the high watermark does not move while the ISR is
    that small, so a produce waiting when the ISR shrinks below the minimum times out
    (``RequestTimedOutError``) instead."""

    errno = 20
    message = "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
    description = "Messages are written to the log, but to fewer in-sync replicas than required."
    retriable = True


class OffsetNotAvailableError(BrokerResponseError):
    """An offset lookup (ListOffsets: the latest offset, or a time after the last record
    consumers may read) reached a new leader whose high watermark has not yet reached the
    start of its epoch: until its followers fetch what earlier leaders wrote, it cannot say
    where the committed records end, and answering its lagging watermark would move the end
    backwards. Retry: the watermark catches up at the followers' next fetches."""

    errno = 78
    message = "OFFSET_NOT_AVAILABLE"
    description = "The leader high watermark has not caught up from a recent leader " \
        "election so the offsets cannot be guaranteed to be monotonically increasing."
    retriable = True


class DuplicateSequenceNumberError(BrokerResponseError):
    """An idempotent producer resent a batch the leader already has (answered as success)."""

    errno = 46
    message = "DUPLICATE_SEQUENCE_NUMBER"
    description = "The broker received a duplicate sequence number."


class FencedLeaderEpochError(BrokerResponseError):
    """The request carried an older leader epoch than the broker's: the sender is behind."""

    errno = 74
    message = "FENCED_LEADER_EPOCH"
    description = "The leader epoch in the request is older than the epoch on the broker."
    retriable = True


class UnknownLeaderEpochError(BrokerResponseError):
    """The request carried a newer leader epoch than the broker's: the broker is behind."""

    errno = 75
    message = "UNKNOWN_LEADER_EPOCH"
    description = "The leader epoch in the request is newer than the epoch on the broker."
    retriable = True


class DuplicateBrokerRegistrationError(BrokerResponseError):
    """A restarted broker registered while its previous incarnation's session had not yet
    expired: the controller still counts the old one alive. The broker tries again at its next
    heartbeat; the registration succeeds once the controller has fenced the old incarnation
    (``broker_session_timeout_ms`` after its last heartbeat)."""

    errno = 101
    message = "DUPLICATE_BROKER_REGISTRATION"
    description = "This broker ID is already in use."
