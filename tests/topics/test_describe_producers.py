"""DescribeProducers on a lone broker: what the broker remembers of each idempotent producer, per
partition, through the broker, the admin client and a broker in another process."""

from __future__ import annotations

import pytest

from pcmodel.topics import Broker, KafkaAdminClient, KafkaProducer
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    InvalidTimestampError,
    OutOfOrderSequenceNumberError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.remote import start_broker_process
from pcmodel.topics.structs import ActiveProducer, PartitionProducers, TopicPartition

pytestmark = pytest.mark.timeout(60)

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


class WallClock:
    """The broker's wall clock (epoch ms), moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def wall():
    return WallClock()


@pytest.fixture
def broker(wall):
    with Broker(timestamp_clock=wall) as b:
        b.create_topic("t", 2)
        yield b


def append(broker, producer, seq, timestamps, partition=0, topic="t"):
    pid, epoch = producer
    return broker.append_idempotent(
        topic, partition, [(None, b"v", (), ts) for ts in timestamps], producer_id=pid,
        producer_epoch=epoch, first_sequence=seq)


def test_each_partition_lists_the_producers_that_wrote_to_it_by_id(broker, wall):
    first, second = broker.init_producer_id(), broker.init_producer_id()
    append(broker, second, 0, [50, 70, 60])  # the last timestamp is the batch's largest
    append(broker, first, 0, [10])
    append(broker, first, 1, [30, 20])
    append(broker, first, 0, [5], partition=1)
    broker.append("t", 1, [(None, b"plain")])  # not idempotent: no producer state
    assert broker.describe_producers([T0, T1]) == {
        T0: PartitionProducers((ActiveProducer(first[0], 0, 2, 30),
                                ActiveProducer(second[0], 0, 2, 70))),
        T1: PartitionProducers((ActiveProducer(first[0], 0, 0, 5),)),
    }


def test_a_record_without_a_timestamp_takes_the_append_time(broker, wall):
    producer = broker.init_producer_id()
    wall.now = 2_000_000
    append(broker, producer, 0, [None])
    (entry,) = broker.describe_producers([T0])[T0].active_producers
    assert entry.last_timestamp == 2_000_000


def test_a_log_append_time_topic_remembers_the_append_time(broker, wall):
    broker.create_topic("stamped", 1, configs={"message.timestamp.type": "LogAppendTime"})
    producer = broker.init_producer_id()
    wall.now = 3_000_000
    append(broker, producer, 0, [wall.now - 10], topic="stamped")
    stamped = TopicPartition("stamped", 0)
    assert broker.describe_producers([stamped])[stamped].active_producers == (
        ActiveProducer(producer[0], 0, 0, 3_000_000),)


def test_a_retry_changes_nothing_and_a_new_epoch_shows_once_it_writes(broker):
    pid, epoch = broker.init_producer_id()
    append(broker, (pid, epoch), 0, [1, 2])
    append(broker, (pid, epoch), 2, [3])
    append(broker, (pid, epoch), 0, [1, 2])  # a retry of the first batch: answered, not kept
    assert broker.describe_producers([T0])[T0].active_producers == (
        ActiveProducer(pid, epoch, 2, 3),)
    bumped = (pid, epoch + 1)  # the producer bumps its epoch itself
    assert broker.describe_producers([T0])[T0].active_producers[0].producer_epoch == epoch
    append(broker, bumped, 0, [4])
    assert broker.describe_producers([T0])[T0].active_producers == (
        ActiveProducer(pid, epoch + 1, 0, 4),)


def test_a_producer_whose_first_batch_was_refused_is_not_listed(broker, wall):
    producer = broker.init_producer_id()
    with pytest.raises(InvalidTimestampError):
        append(broker, producer, 0, [wall.now + 7_200_000])  # two hours ahead: refused
    assert broker.describe_producers([T0]) == {T0: PartitionProducers(())}
    append(broker, producer, 0, [1])
    with pytest.raises(OutOfOrderSequenceNumberError):
        append(broker, producer, 3, [2])  # records lost in between: nothing is appended
    assert broker.describe_producers([T0]) == {T0: PartitionProducers(
        (ActiveProducer(producer[0], 0, 0, 1),))}


def test_unknown_partitions_answer_their_error_and_the_others_are_still_served(broker):
    producer = broker.init_producer_id()
    append(broker, producer, 0, [1])
    answers = broker.describe_producers([TopicPartition("t", 9), T0, TopicPartition("no", 0)])
    assert list(answers) == [TopicPartition("t", 9), T0, TopicPartition("no", 0)]
    assert answers[T0].active_producers == (ActiveProducer(producer[0], 0, 0, 1),)
    for tp in (TopicPartition("t", 9), TopicPartition("no", 0)):
        assert answers[tp].active_producers == ()
        assert isinstance(answers[tp].error, UnknownTopicOrPartitionError)


def test_a_topic_made_again_under_a_deleted_ones_name_has_no_producers(broker):
    producer = broker.init_producer_id()
    append(broker, producer, 0, [1])
    broker.delete_topic("t")
    broker.create_topic("t", 1)
    assert broker.describe_producers([T0]) == {T0: PartitionProducers(())}
    append(broker, producer, 0, [2])  # a new log: the producer starts again at 0
    assert broker.describe_producers([T0])[T0].active_producers == (
        ActiveProducer(producer[0], 0, 0, 2),)


@pytest.mark.parametrize("bad, error", [
    (["t"], TypeError), ([("t", -1)], ValueError), ([("", 0)], ValueError)])
def test_malformed_partitions_are_refused_whole(broker, bad, error):
    with pytest.raises(error):
        broker.describe_producers(bad)


def test_the_admin_client_answers_as_kafka_python_3_does(broker):
    with KafkaProducer(broker=broker, enable_idempotence=True, acks="all") as producer:
        for i in range(3):
            producer.send("t", b"v", partition=0, timestamp_ms=100 + i)
        producer.send("t", b"w", partition=1, timestamp_ms=500)
        producer.flush()
    with KafkaAdminClient(broker=broker) as admin:
        answers = admin.describe_producers([T0, T1])
        assert [tp for tp in answers] == [T0, T1]
        (first,) = answers[T0].active_producers
        assert (first.last_sequence, first.last_timestamp) == (2, 102)
        assert (first.coordinator_epoch, first.current_transaction_start_offset) == (-1, -1)
        assert answers[T1].active_producers[0].last_timestamp == 500
        assert admin.describe_producers([T0], broker_id=0) == {T0: answers[T0]}
        with pytest.raises(UnknownTopicOrPartitionError, match="t-7"):
            admin.describe_producers([T0, TopicPartition("t", 7)])
        with pytest.raises(IllegalArgumentError, match="lone broker is broker 0"):
            admin.describe_producers([T0], broker_id=1)
        with pytest.raises(IllegalArgumentError):
            admin.describe_producers([T0], broker_id=False)
        with pytest.raises(TypeError, match="list of TopicPartition"):
            admin.describe_producers("t")
    with pytest.raises(IllegalStateError):
        admin.describe_producers([T0])


def test_a_broker_in_another_process_answers_through_its_proxy():
    process = start_broker_process()
    try:
        remote = process.handle.connect()
        remote.create_topic("t", 1)
        pid, epoch = remote.init_producer_id()
        remote.append_idempotent("t", 0, [(None, b"v", (), 42)], producer_id=pid,
                                 producer_epoch=epoch, first_sequence=0)
        assert remote.describe_producers([T0]) == {
            T0: PartitionProducers((ActiveProducer(pid, epoch, 0, 42),))}
        remote.close()
    finally:
        process.stop()
