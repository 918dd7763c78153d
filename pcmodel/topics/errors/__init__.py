"""Exceptions of the topics layer, named and arranged as in kafka-python's ``kafka/errors.py``.

Prior art: kafka-python ``kafka/errors.py`` (class names, the ``retriable`` flag, the
``BrokerResponseError`` branch with Kafka's protocol error codes in ``errno``) and the Java
client's ``org.apache.kafka.common.errors`` where kafka-python has no name for something.

Only the errors pcmodel can actually raise are here; each docstring says when. Code written for
kafka-python catches them under the same names: ``except KafkaTimeoutError`` and
``except KafkaError`` both work after changing the import.

``retriable`` says whether trying the same call again later can succeed (a timeout can; a bad
topic name cannot), exactly as kafka-python uses it. Every class here pickles, so an error raised
inside a broker process reaches the client process as the same class.

The catalogue is kept in five modules, all re-exported here (import from here):
:mod:`~pcmodel.topics.errors.base` (``KafkaError`` and ``BrokerResponseError``, the roots),
:mod:`~pcmodel.topics.errors.client_side` (what a client raises without asking a broker),
:mod:`~pcmodel.topics.errors.broker_responses` (what a broker answers, by Kafka error code),
:mod:`~pcmodel.topics.errors.group_responses` (what a group coordinator answers) and
:mod:`~pcmodel.topics.errors.transactions` (what transactions answer).
"""

from __future__ import annotations

from pcmodel.topics.errors.base import BrokerResponseError, KafkaError
from pcmodel.topics.errors.broker_responses import (
    ElectionNotNeededError,
    EligibleLeadersNotAvailableError,
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidProducerEpochError,
    InvalidRecordError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaStorageError,
    LogDirNotFoundError,
    MessageSizeTooLargeError,
    NoError,
    NoReassignmentInProgressError,
    OffsetMetadataTooLargeError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceNumberError,
    PolicyViolationError,
    PreferredLeaderNotAvailableError,
    RecordTooLargeError,
    ReplicaNotAvailableError,
    SecurityDisabledError,
    TopicAlreadyExistsError,
    UnknownTopicIdError,
    UnknownTopicOrPartitionError,
    UnsupportedCompressionTypeError,
    UnsupportedVersionError,
)
from pcmodel.topics.errors.client_side import (
    CommitFailedError,
    IllegalArgumentError,
    IllegalStateError,
    KafkaConfigurationError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    NoOffsetForPartitionError,
    SerializationError,
    UnassignedPartitionError,
)
from pcmodel.topics.errors.group_responses import (
    FencedInstanceIdError,
    GroupIdNotFoundError,
    GroupNotEmptyError,
    GroupSubscribedToTopicError,
    IllegalGenerationError,
    InconsistentGroupProtocolError,
    InvalidGroupIdError,
    InvalidSessionTimeoutError,
    MemberIdRequiredError,
    NonEmptyGroupError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from pcmodel.topics.errors.transactions import (
    ConcurrentTransactionsError,
    CoordinatorNotAvailableError,
    InvalidProducerIdMappingError,
    InvalidTransactionTimeoutError,
    InvalidTxnStateError,
    NotCoordinatorError,
    ProducerFencedError,
    TransactionAbortedError,
    TransactionalIdNotFoundError,
    TransactionCoordinatorFencedError,
    UnstableOffsetCommitError,
)

__all__ = [
    "BrokerResponseError",
    "CommitFailedError",
    "ConcurrentTransactionsError",
    "CoordinatorNotAvailableError",
    "ElectionNotNeededError",
    "EligibleLeadersNotAvailableError",
    "FencedInstanceIdError",
    "GroupIdNotFoundError",
    "GroupNotEmptyError",
    "GroupSubscribedToTopicError",
    "IllegalArgumentError",
    "IllegalGenerationError",
    "IllegalStateError",
    "InconsistentGroupProtocolError",
    "InvalidConfigurationError",
    "InvalidGroupIdError",
    "InvalidPartitionsError",
    "InvalidProducerEpochError",
    "InvalidProducerIdMappingError",
    "InvalidRecordError",
    "InvalidReplicationAssignmentError",
    "InvalidReplicationFactorError",
    "InvalidRequestError",
    "InvalidSessionTimeoutError",
    "InvalidTimestampError",
    "InvalidTopicError",
    "InvalidTransactionTimeoutError",
    "InvalidTxnStateError",
    "KafkaConfigurationError",
    "KafkaConnectionError",
    "KafkaError",
    "KafkaStorageError",
    "KafkaTimeoutError",
    "LogDirNotFoundError",
    "MemberIdRequiredError",
    "MessageSizeTooLargeError",
    "NoBrokersAvailable",
    "NoError",
    "NoOffsetForPartitionError",
    "NoReassignmentInProgressError",
    "NonEmptyGroupError",
    "NotCoordinatorError",
    "OffsetMetadataTooLargeError",
    "OffsetOutOfRangeError",
    "OutOfOrderSequenceNumberError",
    "PolicyViolationError",
    "PreferredLeaderNotAvailableError",
    "ProducerFencedError",
    "RebalanceInProgressError",
    "RecordTooLargeError",
    "ReplicaNotAvailableError",
    "SecurityDisabledError",
    "SerializationError",
    "TopicAlreadyExistsError",
    "TransactionAbortedError",
    "TransactionCoordinatorFencedError",
    "TransactionalIdNotFoundError",
    "UnassignedPartitionError",
    "UnknownMemberIdError",
    "UnknownTopicIdError",
    "UnknownTopicOrPartitionError",
    "UnstableOffsetCommitError",
    "UnsupportedCompressionTypeError",
    "UnsupportedVersionError",
]
