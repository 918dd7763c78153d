"""Value types and errors of the topics layer: kafka-python's names, fields and hierarchy."""

import pickle

import pytest

from pcmodel.topics import errors
from pcmodel.topics.errors import (
    BrokerResponseError,
    CommitFailedError,
    GroupNotEmptyError,
    IllegalArgumentError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NonEmptyGroupError,
    RecordTooLargeError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import (
    ConsumerRebalanceListener,
    ConsumerRecord,
    OffsetAndMetadata,
    OffsetAndTimestamp,
    RecordMetadata,
    TopicPartition,
    validate_topic_partition,
)

pytestmark = pytest.mark.timeout(10)

# Field lists copied from kafka-python (kafka/structs.py, kafka/producer/future.py,
# kafka/consumer/fetcher.py): code that unpacks these tuples must keep working.
KAFKA_PYTHON_FIELDS = {
    TopicPartition: ("topic", "partition"),
    OffsetAndMetadata: ("offset", "metadata", "leader_epoch"),
    OffsetAndTimestamp: ("offset", "timestamp", "leader_epoch"),
    RecordMetadata: (
        "topic",
        "partition",
        "topic_partition",
        "offset",
        "timestamp",
        "checksum",
        "serialized_key_size",
        "serialized_value_size",
        "serialized_header_size",
    ),
    ConsumerRecord: (
        "topic",
        "partition",
        "leader_epoch",
        "offset",
        "timestamp",
        "timestamp_type",
        "key",
        "value",
        "headers",
        "checksum",
        "serialized_key_size",
        "serialized_value_size",
        "serialized_header_size",
    ),
}


def _sample(cls):
    return cls(*range(len(cls._fields)))


@pytest.mark.parametrize("cls", list(KAFKA_PYTHON_FIELDS), ids=lambda c: c.__name__)
def test_fields_match_kafka_python(cls):
    assert cls._fields == KAFKA_PYTHON_FIELDS[cls]


def test_record_metadata_unpacks_as_kafka_python_3s():
    """kafka-python 3 dropped 2.x's ``log_start_offset``: nine fields, so unpacking ports."""
    theirs = pytest.importorskip("kafka.producer.future").RecordMetadata
    assert RecordMetadata._fields == theirs._fields
    tp = TopicPartition("t", 0)
    topic, partition, _, offset, timestamp, checksum, *sizes = RecordMetadata(
        "t", 0, tp, 5, 1234, None, 1, 2, 3)
    assert (topic, partition, offset, timestamp, checksum, sizes) == ("t", 0, 5, 1234, None,
                                                                      [1, 2, 3])


@pytest.mark.parametrize("cls", list(KAFKA_PYTHON_FIELDS), ids=lambda c: c.__name__)
def test_value_types_are_immutable_and_pickle(cls):
    value = _sample(cls)
    for field in cls._fields:
        with pytest.raises(AttributeError):
            setattr(value, field, "changed")
    assert pickle.loads(pickle.dumps(value)) == value
    assert hash(pickle.loads(pickle.dumps(value))) == hash(value)


def test_offset_and_metadata_defaults():
    assert OffsetAndMetadata(5) == (5, "", -1)
    assert OffsetAndMetadata(5, "by worker 3") == (5, "by worker 3", -1)
    with pytest.raises(TypeError):
        OffsetAndMetadata()  # an offset is required: committing nothing is a mistake


def test_topic_partition_is_a_tuple_key():
    tp = TopicPartition("t", 1)
    assert tp == ("t", 1)
    assert {tp: "x"}[("t", 1)] == "x"
    assert sorted([TopicPartition("b", 0), TopicPartition("a", 2), TopicPartition("a", 1)]) == [
        ("a", 1),
        ("a", 2),
        ("b", 0),
    ]


def test_validate_topic_partition_accepts_and_converts():
    tp = TopicPartition("orders", 0)
    assert validate_topic_partition(tp) is tp
    converted = validate_topic_partition(("orders", 3))
    assert type(converted) is TopicPartition and converted == ("orders", 3)


@pytest.mark.parametrize(
    "bad, exc",
    [
        ("orders", TypeError),
        (("orders",), TypeError),
        (("orders", 0, 1), TypeError),
        ((0, 0), TypeError),
        (("", 0), ValueError),
        (("orders", "0"), TypeError),
        (("orders", 1.0), TypeError),
        (("orders", True), TypeError),
        (("orders", -1), ValueError),
        (None, TypeError),
    ],
)
def test_validate_topic_partition_rejects(bad, exc):
    with pytest.raises(exc, match="topic|partition|TopicPartition"):
        validate_topic_partition(bad)


class _Recorder(ConsumerRebalanceListener):
    def __init__(self):
        self.calls = []

    def on_partitions_revoked(self, revoked):
        self.calls.append(("revoked", list(revoked)))

    def on_partitions_assigned(self, assigned):
        self.calls.append(("assigned", list(assigned)))


def test_listener_is_abstract():
    with pytest.raises(TypeError):
        ConsumerRebalanceListener()  # type: ignore[abstract]

    class OnlyRevoked(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            pass

    with pytest.raises(TypeError):
        OnlyRevoked()  # type: ignore[abstract]


def test_listener_lost_defaults_to_revoked_as_in_java():
    listener = _Recorder()
    lost = [TopicPartition("t", 0)]
    listener.on_partitions_lost(lost)
    assert listener.calls == [("revoked", lost)]


def test_listener_lost_can_be_overridden():
    class Careful(_Recorder):
        def on_partitions_lost(self, lost):
            self.calls.append(("lost", list(lost)))

    listener = Careful()
    listener.on_partitions_lost([TopicPartition("t", 0)])
    assert listener.calls == [("lost", [TopicPartition("t", 0)])]


# --- errors -----------------------------------------------------------------------------------

ALL_ERRORS = [getattr(errors, name) for name in errors.__all__]

# Kafka protocol error codes (org.apache.kafka.common.protocol.Errors), as kafka-python has them.
KAFKA_ERRNOS = {
    "NoError": 0,
    "OffsetOutOfRangeError": 1,
    "UnknownTopicOrPartitionError": 3,
    "OffsetMetadataTooLargeError": 12,
    "MessageSizeTooLargeError": 10,
    "CoordinatorNotAvailableError": 15,
    "NotCoordinatorError": 16,
    "InvalidTopicError": 17,
    "IllegalGenerationError": 22,
    "InconsistentGroupProtocolError": 23,
    "InvalidGroupIdError": 24,
    "UnknownMemberIdError": 25,
    "InvalidSessionTimeoutError": 26,
    "InvalidTimestampError": 32,
    "RebalanceInProgressError": 27,
    "UnsupportedVersionError": 35,
    "TopicAlreadyExistsError": 36,
    "InvalidPartitionsError": 37,
    "InvalidReplicationFactorError": 38,
    "InvalidReplicationAssignmentError": 39,
    "InvalidConfigurationError": 40,
    "InvalidRequestError": 42,
    "PolicyViolationError": 44,
    "OutOfOrderSequenceNumberError": 45,
    "InvalidProducerEpochError": 47,
    "SecurityDisabledError": 54,
    "KafkaStorageError": 56,
    "LogDirNotFoundError": 57,
    "ReplicaNotAvailableError": 9,
    "UnsupportedCompressionTypeError": 76,
    "GroupNotEmptyError": 68,
    "GroupIdNotFoundError": 69,
    "MemberIdRequiredError": 79,
    "FencedInstanceIdError": 82,
    "GroupSubscribedToTopicError": 86,
    "InvalidRecordError": 87,
    "PreferredLeaderNotAvailableError": 80,
    "EligibleLeadersNotAvailableError": 83,
    "ElectionNotNeededError": 84,
    "NoReassignmentInProgressError": 85,
    "InvalidTxnStateError": 48,
    "InvalidProducerIdMappingError": 49,
    "InvalidTransactionTimeoutError": 50,
    "ConcurrentTransactionsError": 51,
    "TransactionCoordinatorFencedError": 52,
    "UnstableOffsetCommitError": 88,
    "ProducerFencedError": 90,
    "UnknownTopicIdError": 100,
    "TransactionalIdNotFoundError": 105,
}

RETRIABLE = {
    "ConcurrentTransactionsError",
    "CoordinatorNotAvailableError",
    "NotCoordinatorError",
    "ElectionNotNeededError",
    "EligibleLeadersNotAvailableError",
    "PreferredLeaderNotAvailableError",
    "KafkaTimeoutError",
    "KafkaConnectionError",
    "KafkaStorageError",
    "NoBrokersAvailable",
    "ReplicaNotAvailableError",
    "UnknownTopicIdError",
    "UnknownTopicOrPartitionError",
    "UnstableOffsetCommitError",
}


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_every_error_is_a_kafka_error_with_a_docstring(cls):
    assert issubclass(cls, KafkaError)
    assert cls.__doc__ and len(cls.__doc__.strip()) > 20


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_errors_pickle_as_the_same_class(cls):
    err = cls("what went wrong")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert back.args == ("what went wrong",)
    assert str(back) == str(err)


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_retriable_flags_follow_kafka_python(cls):
    assert cls.retriable is (cls.__name__ in RETRIABLE)


def test_broker_errors_carry_kafkas_error_codes():
    broker_errors = {
        cls.__name__: cls
        for cls in ALL_ERRORS
        if issubclass(cls, BrokerResponseError) and cls is not BrokerResponseError
    }
    assert {name: cls.errno for name, cls in broker_errors.items()} == KAFKA_ERRNOS
    assert str(UnknownTopicOrPartitionError("no topic 'x'")) == (
        "[Error 3] UnknownTopicOrPartitionError: no topic 'x'"
    )


def test_error_str_names_the_class():
    assert str(KafkaTimeoutError()) == "KafkaTimeoutError"
    assert str(KafkaTimeoutError("after 60.0 s")) == "KafkaTimeoutError: after 60.0 s"


def test_commit_failed_has_an_explanatory_default_message():
    assert "rebalanced" in str(CommitFailedError())
    assert str(CommitFailedError("custom")) == "CommitFailedError: custom"


def test_illegal_argument_is_also_a_value_error():
    with pytest.raises(ValueError):
        raise IllegalArgumentError("offset must be >= 0")


def test_record_too_large_is_the_kafka_python_class():
    assert RecordTooLargeError is MessageSizeTooLargeError


def test_non_empty_group_is_the_kafka_python_name_of_group_not_empty():
    assert NonEmptyGroupError is GroupNotEmptyError
    assert GroupNotEmptyError.message == "NON_EMPTY_GROUP"


def test_a_topic_partition_prints_as_kafkas_tools_print_it():
    tp = TopicPartition("orders", 3)
    assert (str(tp), f"{tp}") == ("orders-3", "orders-3")
    assert repr(tp) == "TopicPartition(topic='orders', partition=3)"  # kafka-python's
