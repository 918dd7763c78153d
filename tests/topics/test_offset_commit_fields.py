"""What a committed offset carries besides the offset, on a lone broker: its metadata, held to
Kafka's ``offset.metadata.max.bytes`` per partition, and the leader epoch committed with it."""

from __future__ import annotations

import multiprocessing

import pytest

from pcmodel.topics import (
    Broker,
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
    start_broker_process,
)
from pcmodel.topics.errors import (
    IllegalArgumentError,
    NoError,
    OffsetMetadataTooLargeError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.group_offsets import metadata_length
from pcmodel.topics.structs import OffsetAndMetadata
from tests.topics.conftest import join_alone, tp

pytestmark = pytest.mark.timeout(15)

T0, T1 = tp("t", 0), tp("t", 1)


@pytest.fixture
def topic(broker: Broker) -> Broker:
    broker.create_topic("t", 2)
    return broker


def test_a_partition_whose_metadata_is_too_long_is_refused_alone(topic):
    with pytest.raises(OffsetMetadataTooLargeError) as refused:
        topic.commit_offsets("g", -1, "", {T0: OffsetAndMetadata(5, "m" * 4097),
                                           T1: OffsetAndMetadata(6, "ok")})
    assert refused.value.partitions == (T0,)
    assert refused.value.errno == 12 and "offset.metadata.max.bytes" in str(refused.value)
    assert topic.committed("g", [T0, T1]) == {T0: None, T1: OffsetAndMetadata(6, "ok")}
    # At the limit it is taken; emoji count two units each, as Kafka counts them.
    topic.commit_offsets("g", -1, "", {T0: OffsetAndMetadata(7, "😀" * 2048)})
    assert topic.committed("g", [T0])[T0].offset == 7
    with pytest.raises(OffsetMetadataTooLargeError):
        topic.commit_offsets("g", -1, "", {T0: OffsetAndMetadata(8, "😀" * 2048 + "a")})
    assert topic.committed("g", [T0])[T0].offset == 7
    # Counted as Java's String.length() counts: UTF-16 code units, not bytes of UTF-8.
    assert metadata_length(None) == metadata_length("") == 0
    assert (metadata_length("é" * 10), metadata_length("€"), metadata_length("😀")) == (10, 1, 2)
    assert metadata_length("\ud800") == 1  # a lone surrogate, which a Python str may hold


def test_the_groups_checks_come_first_and_refuse_the_whole_commit(topic):
    joined = join_alone(topic, "g", ["t"])
    with pytest.raises(UnknownMemberIdError):  # not OFFSET_METADATA_TOO_LARGE
        topic.commit_offsets("g", joined.generation, "ghost",
                             {T0: OffsetAndMetadata(1, "m" * 5000), T1: 2})
    with pytest.raises(UnknownTopicOrPartitionError):
        topic.commit_offsets("g", joined.generation, joined.member_id,
                             {T0: OffsetAndMetadata(1, "m" * 5000), tp("t", 9): 2})
    assert topic.committed("g", [T0, T1]) == {T0: None, T1: None}
    # Then the metadata, partition by partition, for a member as for an outsider.
    with pytest.raises(OffsetMetadataTooLargeError):
        topic.commit_offsets("g", joined.generation, joined.member_id,
                             {T0: OffsetAndMetadata(1, "m" * 5000), T1: 2})
    assert topic.committed("g", [T0, T1]) == {T0: None, T1: OffsetAndMetadata(2)}


def test_the_limit_is_a_broker_setting():
    with Broker(offset_metadata_max_bytes=3) as broker:
        broker.create_topic("t", 2)
        assert broker.offset_metadata_max_bytes == 3
        with pytest.raises(OffsetMetadataTooLargeError) as refused:
            broker.commit_offsets("g", -1, "", {T0: OffsetAndMetadata(1, "abcd"),
                                                T1: OffsetAndMetadata(2, "abc")})
        assert refused.value.partitions == (T0,)
        assert broker.committed("g", [T1])[T1] == OffsetAndMetadata(2, "abc")
    assert Broker().offset_metadata_max_bytes == 4096  # Kafka's default
    with pytest.raises(TypeError):
        Broker(offset_metadata_max_bytes="4096")
    # A Java int, as Kafka's setting and a cluster's: beyond it, refused at once.
    assert Broker(offset_metadata_max_bytes=2**31 - 1).offset_metadata_max_bytes == 2**31 - 1
    for beyond in (2**31, -(2**31) - 1):
        with pytest.raises(IllegalArgumentError, match="offset_metadata_max_bytes must be"):
            Broker(offset_metadata_max_bytes=beyond)


def test_the_leader_epoch_is_stored_with_the_offset(topic):
    topic.commit_offsets("g", -1, "", {T0: OffsetAndMetadata(5, "m", 7), T1: 6})
    assert topic.committed("g", [T0, T1]) == {T0: OffsetAndMetadata(5, "m", 7),
                                              T1: OffsetAndMetadata(6, "", -1)}
    # kafka-python's None for "no epoch" is stored as Kafka's -1; below -1 is refused.
    topic.commit_offsets("g", -1, "", {T1: OffsetAndMetadata(6, None, None)})
    assert topic.committed("g", [T1])[T1] == OffsetAndMetadata(6, "", -1)
    with pytest.raises(IllegalArgumentError):
        topic.commit_offsets("g", -1, "", {T1: OffsetAndMetadata(6, "", -2)})


def test_the_consumer_raises_and_commits_the_other_partitions(topic, make_consumer):
    consumer = make_consumer(group_id="g", enable_auto_commit=False)
    with pytest.raises(OffsetMetadataTooLargeError) as refused:
        consumer.commit({T0: OffsetAndMetadata(3, "m" * 4097, 2),
                         T1: OffsetAndMetadata(4, "ok", 9)})
    assert refused.value.partitions == (T0,)
    assert consumer.committed(T0) is None
    assert consumer.committed(T1, metadata=True) == OffsetAndMetadata(4, "ok", 9)
    assert consumer.committed(T1) == 4
    future = consumer.commit_async({T0: OffsetAndMetadata(3, "m" * 4097)})
    assert isinstance(future.exception, OffsetMetadataTooLargeError)


def test_the_admin_reports_the_refused_partition_and_commits_the_others(topic):
    admin_refuses_the_long_metadata_alone(topic)


def admin_refuses_the_long_metadata_alone(broker) -> None:
    """alter_group_offsets on ``broker`` (whose topic ``t`` has partitions 0 and 1): the
    partition with 4097 characters of metadata is refused, the other stored with its epoch."""
    admin = KafkaAdminClient(broker=broker)
    try:
        results = admin.alter_group_offsets("g", {T0: OffsetAndMetadata(3, "m" * 4097, -1),
                                                  T1: OffsetAndMetadata(4, "ok", 5)})
        assert results == {T0: OffsetMetadataTooLargeError, T1: NoError}
        assert admin.list_group_offsets("g") == {"g": {T1: OffsetAndMetadata(4, "ok", 5)}}
    finally:
        admin.close()


def test_a_consumer_of_a_broker_process_gets_both():
    # The refusal crosses the process boundary whole (its partitions too), and so does the
    # leader epoch.
    process = start_broker_process(context=multiprocessing.get_context("spawn"))
    try:
        with process.connect() as remote:
            remote.create_topic("t", 2)
            consumer = KafkaConsumer(broker=remote, group_id="g", enable_auto_commit=False)
            try:
                with pytest.raises(OffsetMetadataTooLargeError) as refused:
                    consumer.commit({T0: OffsetAndMetadata(3, "m" * 4097, 2),
                                     T1: OffsetAndMetadata(4, "ok", 9)})
                assert refused.value.partitions == (T0,)
                assert consumer.committed(T1, metadata=True) == OffsetAndMetadata(4, "ok", 9)
            finally:
                consumer.close()
    finally:
        process.stop()


# --- a transaction's offsets (TxnOffsetCommit) ---------------------------------------------


def test_a_transactions_offsets_are_held_to_the_limit_after_the_members_check(topic):
    pid, epoch = topic.init_producer_id(transactional_id="tx")
    topic.add_offsets_to_txn("tx", pid, epoch, "g")
    with pytest.raises(OffsetMetadataTooLargeError) as refused:
        topic.txn_offset_commit("tx", "g", pid, epoch, {T0: OffsetAndMetadata(3, "m" * 4097),
                                                        T1: OffsetAndMetadata(4, "ok", 2)})
    assert refused.value.partitions == (T0,)
    topic.end_txn("tx", pid, epoch, True)  # the other partition was staged, and commits
    assert topic.committed("g", [T0, T1]) == {T0: None, T1: OffsetAndMetadata(4, "ok", 2)}
    # The consumer is checked first: a member the group does not know is told so, even when
    # every partition's metadata is too long (Kafka's validateTransactionalOffsetCommit).
    joined = join_alone(topic, "g2", ["t"])
    topic.add_offsets_to_txn("tx", pid, epoch, "g2")
    with pytest.raises(UnknownMemberIdError):
        topic.txn_offset_commit("tx", "g2", pid, epoch, {T0: OffsetAndMetadata(3, "m" * 4097)},
                                generation=joined.generation, member_id="ghost")
    # A null metadata is never too long, even under a negative limit; it is stored as "".
    with Broker(offset_metadata_max_bytes=-1) as strict:
        strict.create_topic("t", 1)
        pid, epoch = strict.init_producer_id(transactional_id="tx")
        strict.add_offsets_to_txn("tx", pid, epoch, "g")
        strict.txn_offset_commit("tx", "g", pid, epoch, {T0: OffsetAndMetadata(5, None, -1)})
        with pytest.raises(OffsetMetadataTooLargeError):
            strict.txn_offset_commit("tx", "g", pid, epoch, {T0: OffsetAndMetadata(6, "", -1)})
        strict.end_txn("tx", pid, epoch, True)
        assert strict.committed("g", [T0])[T0] == OffsetAndMetadata(5, "", -1)


def test_a_transactional_producer_fails_for_good_on_too_long_metadata(topic):
    # Kafka's producers (Java's and kafka-python's) take OFFSET_METADATA_TOO_LARGE from
    # TxnOffsetCommit as an unexpected answer: a fatal error. The offsets are never committed.
    producer = KafkaProducer(broker=topic, transactional_id="tx")
    try:
        producer.init_transactions()
        producer.begin_transaction()
        with pytest.raises(OffsetMetadataTooLargeError):
            producer.send_offsets_to_transaction({T0: OffsetAndMetadata(3, "m" * 4097), T1: 4},
                                                 "g")
        with pytest.raises(OffsetMetadataTooLargeError):
            producer.commit_transaction()
        with pytest.raises(OffsetMetadataTooLargeError):  # not even an abort: it is fatal
            producer.abort_transaction()
        with pytest.raises(OffsetMetadataTooLargeError):
            producer.begin_transaction()
    finally:
        producer.close()
    assert topic.committed("g", [T0, T1]) == {T0: None, T1: None}
