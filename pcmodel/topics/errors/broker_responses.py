"""Errors a broker answers with, each with Kafka's protocol error code in ``errno``.

Each class keeps kafka-python's name, Kafka's ``message`` (the code's name in the protocol) and
``description``; its docstring says when pcmodel answers it. See :mod:`pcmodel.topics.errors`.
"""

from __future__ import annotations

from typing import Any

from pcmodel.topics.errors.base import BrokerResponseError

__all__ = [
    "ElectionNotNeededError",
    "EligibleLeadersNotAvailableError",
    "InvalidConfigurationError",
    "InvalidPartitionsError",
    "InvalidProducerEpochError",
    "InvalidRecordError",
    "InvalidReplicationAssignmentError",
    "InvalidReplicationFactorError",
    "InvalidRequestError",
    "InvalidTimestampError",
    "InvalidTopicError",
    "KafkaStorageError",
    "LogDirNotFoundError",
    "MessageSizeTooLargeError",
    "NoError",
    "NoReassignmentInProgressError",
    "OffsetMetadataTooLargeError",
    "OffsetOutOfRangeError",
    "OutOfOrderSequenceNumberError",
    "PolicyViolationError",
    "PreferredLeaderNotAvailableError",
    "RecordTooLargeError",
    "ReplicaNotAvailableError",
    "SecurityDisabledError",
    "TopicAlreadyExistsError",
    "UnknownTopicIdError",
    "UnknownTopicOrPartitionError",
    "UnsupportedCompressionTypeError",
    "UnsupportedVersionError",
]

class NoError(BrokerResponseError):
    """Not an error: the class an admin result names for a partition that succeeded.

    ``KafkaAdminClient.alter_group_offsets`` and ``delete_group_offsets`` map each partition
    to an error *class*, this one on success, as kafka-python does (Kafka's code 0,
    ``NONE``); it is never raised.
    """

    errno = 0
    message = "NO_ERROR"
    description = "No error--it worked!"


class OffsetOutOfRangeError(BrokerResponseError):
    """A fetch position is outside ``[log_start_offset, end_offset]`` of the partition.

    Raised by ``poll()`` when retention deleted records below the consumer's position and
    ``auto_offset_reset='none'`` (with ``'earliest'`` or ``'latest'`` the position is reset
    instead), and when a committed or sought offset is beyond the end of the log.
    """

    errno = 1
    message = "OFFSET_OUT_OF_RANGE"
    description = "The requested offset is outside the range of offsets held by the partition."


class OffsetMetadataTooLargeError(BrokerResponseError):
    """A committed offset's metadata is longer than the broker's ``offset.metadata.max.bytes``.

    Kafka's OFFSET_METADATA_TOO_LARGE (12). The limit counts what Kafka's ``String.length()``
    counts: UTF-16 code units (a character outside the Basic Multilingual Plane is two), not
    bytes, whatever the setting's name says. The broker refuses such a partition alone: the
    other partitions of the same commit are committed. ``commit()`` raises it after that, as
    kafka-python's does; ``partitions`` names the partitions refused.
    """

    errno = 12
    message = "OFFSET_METADATA_TOO_LARGE"
    description = "If you specify a string larger than configured maximum for offset metadata."

    def __init__(self, text: str = "", partitions: tuple = ()) -> None:
        super().__init__(text)
        #: The partitions whose offsets were refused (``TopicPartition`` values); the others of
        #: the same commit were committed.
        self.partitions = tuple(partitions)


class UnknownTopicOrPartitionError(BrokerResponseError):
    """The topic does not exist, or the partition number is not below its partition count.

    Raised by ``send()``, ``assign()``, ``seek()``, ``partitions_for()``, ``end_offsets()``,
    ``delete_topic()`` and ``add_partitions()`` for a topic that was never created (or was
    deleted). Retriable, as in Kafka: the topic may be created in the meantime.
    """

    errno = 3
    message = "UNKNOWN_TOPIC_OR_PARTITION"
    description = "This request is for a topic or partition that does not exist on this broker."
    retriable = True

    @classmethod
    def no_partition(cls, tp: Any) -> UnknownTopicOrPartitionError:
        """The error for topic partition ``tp`` (a ``TopicPartition``) that does not exist,
        naming it as every part of pcmodel does: ``'orders' has no partition 7``."""
        return cls(f"{tp.topic!r} has no partition {tp.partition}")


class UnknownTopicIdError(BrokerResponseError):
    """No topic has the topic id given: it never existed, or its topic was deleted (perhaps
    created again since under the same name, with a new id). ``KafkaAdminClient.delete_topics``
    answers it for a ``uuid.UUID`` that names no topic, as Kafka's controller does. Retriable,
    as in Kafka (stale metadata: the id may be known after a metadata refresh).
    """

    errno = 100
    message = "UNKNOWN_TOPIC_ID"
    description = "This server does not host this topic ID."
    retriable = True


class MessageSizeTooLargeError(BrokerResponseError):
    """A single serialized record is larger than the producer or broker can ever hold.

    Raised by ``send()`` when the record is bigger than ``max_request_size`` or than the whole
    ``buffer_memory``: waiting could never make room, so failing at once is the only honest answer.
    The broker raises it for a batch bigger than its topic's ``max.message.bytes``.
    """

    errno = 10
    message = "MESSAGE_SIZE_TOO_LARGE"
    description = "The record is larger than the largest size the producer or broker accepts."


#: The Java client's name (``RecordTooLargeException``) for the same condition; one class with
#: both names, so ``except`` with either catches it.
RecordTooLargeError = MessageSizeTooLargeError


class InvalidTopicError(BrokerResponseError):
    """A topic name is illegal.

    Raised by ``create_topic()`` (and by ``send()``/``subscribe()`` with such a name) when the name
    is empty, longer than 249 characters, ``.`` or ``..``, or uses characters outside
    ``[a-zA-Z0-9._-]``: Kafka's rules, so names that work here also work on a real cluster.
    """

    errno = 17
    message = "INVALID_TOPIC"
    description = "The topic name is illegal."


class UnsupportedVersionError(BrokerResponseError):
    """The request asks for something this broker does not implement.

    Raised by ``join_group()`` for static membership (``group_instance_id``), which pcmodel's
    coordinator does not implement: leave ``group_instance_id`` unset.
    """

    errno = 35
    message = "UNSUPPORTED_VERSION"
    description = "The version of API is not supported."


class TopicAlreadyExistsError(BrokerResponseError):
    """``create_topic()`` was called with the name of an existing topic."""

    errno = 36
    message = "TOPIC_ALREADY_EXISTS"
    description = "A topic with this name already exists."


class InvalidPartitionsError(BrokerResponseError):
    """A partition count is invalid.

    Raised by ``create_topic()`` for a count below 1, and by ``add_partitions()`` for a new total
    not above the current count (Kafka can add partitions, never remove them).
    """

    errno = 37
    message = "INVALID_PARTITIONS"
    description = "The number of partitions is invalid."


class PolicyViolationError(BrokerResponseError):
    """A request the controller's policy refuses.

    Raised for an operation that would write more than Kafka's controller writes at once
    (10,000 metadata records, ``QuorumController.MAX_RECORDS_PER_USER_OP``): a topic of more
    partitions than that, or as many added to one (Kafka's words: "Unable to perform
    excessively large batch operation.").
    """

    errno = 44
    message = "POLICY_VIOLATION"
    description = "Request parameters do not satisfy the configured policy."


class OutOfOrderSequenceNumberError(BrokerResponseError):
    """An idempotent producer's batch does not follow the last one it appended to a partition.

    The sequence number is neither the next expected one nor that of a recent batch (which would
    be a retried duplicate, answered with its original offset): records were lost in between.
    """

    errno = 45
    message = "OUT_OF_ORDER_SEQUENCE_NUMBER"
    description = "The broker received an out of order sequence number."


class InvalidProducerEpochError(BrokerResponseError):
    """An idempotent producer wrote with an epoch older than its producer id's current one.

    A newer instance of the producer (same id, bumped epoch) has taken over; this one is fenced.
    """

    errno = 47
    message = "INVALID_PRODUCER_EPOCH"
    description = "Producer attempted to produce with an old epoch."


class KafkaStorageError(BrokerResponseError):
    """A broker could not read or write a log directory (it is offline): DescribeLogDirs
    describes such a directory by this error alone. Retriable, as in Kafka."""

    errno = 56
    message = "KAFKA_STORAGE_ERROR"
    description = "Disk error when trying to access log file on the disk."
    retriable = True


class LogDirNotFoundError(BrokerResponseError):
    """A replica was to move to a log directory the broker does not have (a pcmodel broker has
    one: see :mod:`pcmodel.topics.broker_log_dirs`)."""

    errno = 57
    message = "LOG_DIR_NOT_FOUND"
    description = "The user-specified log directory is not found in the broker config."


class ReplicaNotAvailableError(BrokerResponseError):
    """The broker asked holds no replica of the partition (AlterReplicaLogDirs' answer where
    other requests say NOT_LEADER_OR_FOLLOWER). Retriable, as in Kafka."""

    errno = 9
    message = "REPLICA_NOT_AVAILABLE"
    description = ("If replica is expected on a broker, but is not (this can be safely "
                   "ignored).")
    retriable = True


class InvalidReplicationFactorError(BrokerResponseError):
    """``create_topics`` asked for a replication factor the broker cannot give.

    A single pcmodel ``Broker`` holds one replica of each partition: use 1 (or -1); a
    ``Cluster`` at most as many as it has live brokers.
    """

    errno = 38


class InvalidReplicationAssignmentError(BrokerResponseError):
    """A replica list was refused. ``create_topics`` and ``create_partitions`` cannot place
    replicas on brokers explicitly (pcmodel's brokers leave that to their controller: ask for
    a replication factor instead); a reassignment's target must be distinct brokers of the
    cluster, and cancelling one must not need an unclean election the topic forbids."""

    errno = 39


class InvalidConfigurationError(BrokerResponseError):
    """A topic config (``create_topics``, ``alter_configs``) is unknown here or has an illegal
    value."""

    errno = 40


class InvalidTimestampError(BrokerResponseError):
    """An append carried a create time outside the window its topic accepts around the
    broker's clock (``message.timestamp.before.max.ms`` and ``message.timestamp.after.max.ms``);
    nothing of the batch was appended."""

    errno = 32
    message = "INVALID_TIMESTAMP"
    description = "The timestamp of the message is out of acceptable range."


class InvalidRecordError(BrokerResponseError):
    """An append carried a record its topic cannot take: a record without a key on a compacted
    topic (``cleanup.policy=compact``); nothing of the batch was appended."""

    errno = 87
    message = "INVALID_RECORD"
    description = ("This record has failed the validation on broker and hence will be "
                   "rejected.")


class InvalidRequestError(BrokerResponseError):
    """The request is malformed for what it asks: a config named twice in one alteration, an
    operation a config does not take, a config resource of a kind the broker does not serve."""

    errno = 42


class SecurityDisabledError(BrokerResponseError):
    """An ACL was to be described, created or deleted, and the broker has no authorizer:
    pcmodel has no access control (:mod:`pcmodel.topics.authorization`), so every ACL call is
    answered with this, as a Kafka broker without ``authorizer.class.name`` answers it."""

    errno = 54
    message = "SECURITY_DISABLED"
    description = "Security features are disabled."


class UnsupportedCompressionTypeError(BrokerResponseError):
    """An append named a compression codec the broker does not know or has no package for."""

    errno = 76


class PreferredLeaderNotAvailableError(BrokerResponseError):
    """A preferred leader election could not move the leadership to the preferred replica
    (the first of the partition's replicas): it is down, or not in the ISR yet. The current
    leader stays."""

    errno = 80
    message = "PREFERRED_LEADER_NOT_AVAILABLE"
    retriable = True  # kafka-python's and the Java client's: stale metadata, try again
    description = "The preferred leader was not available."


class EligibleLeadersNotAvailableError(BrokerResponseError):
    """An unclean leader election found no live replica to make leader: the partition stays
    offline."""

    errno = 83
    message = "ELIGIBLE_LEADERS_NOT_AVAILABLE"
    retriable = True  # kafka-python's and the Java client's: stale metadata, try again
    description = "Eligible topic partition leaders are not available."


class ElectionNotNeededError(BrokerResponseError):
    """The election asked for has nothing to do: the preferred replica already leads (a
    preferred election), or the partition has a leader (an unclean one). Admin clients report
    it and do not raise it."""

    errno = 84
    message = "ELECTION_NOT_NEEDED"
    retriable = True  # kafka-python's and the Java client's: stale metadata, try again
    description = "Leader election not needed for topic partition."


class NoReassignmentInProgressError(BrokerResponseError):
    """A reassignment was cancelled where none is in progress (it may have completed)."""

    errno = 85
    message = "NO_REASSIGNMENT_IN_PROGRESS"
    description = "No partition reassignment is in progress."
