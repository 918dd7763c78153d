"""A partitioner object in Kafka's clients' shape decides every record, sees the cluster through
the producer's metadata, is told of new batches and asked again (as the Java client does), is
closed with the producer, and is checked: a partition the topic does not have is refused."""

from __future__ import annotations

import pytest

from pcmodel.topics.errors import IllegalArgumentError, KafkaConfigurationError, KafkaError
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(20)


class Recording:
    """Sends every record to ``choose(calls so far)``; records what it was given."""

    def __init__(self, choose=lambda n: 0, *, hook: bool = False) -> None:
        self.choose = choose
        self.calls: list[tuple] = []
        self.closed = 0
        if hook:
            self.on_new_batch = self._on_new_batch

    def partition(self, topic, key, serialized_key, value, serialized_value, cluster):
        self.calls.append(("partition", topic, key, serialized_key, value, serialized_value,
                           cluster.partitions_for_topic(topic),
                           cluster.available_partitions_for_topic(topic),
                           cluster.partitions_for_topic("never-looked-up")))
        return self.choose(sum(1 for call in self.calls if call[0] == "partition") - 1)

    def _on_new_batch(self, topic, cluster, prev_partition):
        self.calls.append(("on_new_batch", topic, prev_partition))

    def close(self):
        self.closed += 1


@pytest.fixture
def topic(broker):
    broker.create_topic("t", 3)
    return "t"


def records_by_partition(broker, topic):
    ends = broker.end_offsets([TopicPartition(topic, p) for p in range(3)])
    return {tp.partition: end for tp, end in ends.items() if end}


def test_it_decides_every_record_keyed_or_not_seeing_what_was_sent(broker, topic):
    partitioner = Recording(lambda n: 2)
    with KafkaProducer(broker=broker, partitioner=partitioner, key_serializer=str.encode,
                       value_serializer=str.encode) as producer:
        keyed = producer.send(topic, key="k", value="v").get(timeout=10)
        keyless = producer.send(topic, value="w").get(timeout=10)
    assert (keyed.partition, keyless.partition) == (2, 2)  # murmur2 would not pick 2 for "k"
    first = partitioner.calls[0]
    assert first == ("partition", "t", "k", b"k", "v", b"v", {0, 1, 2}, {0, 1, 2}, None)
    assert partitioner.closed == 1


def test_a_new_batch_is_announced_and_the_partitioner_asked_again(broker, topic):
    # Round robin by counting calls: the second call for a record that would open a batch is
    # why such a partitioner skips partitions (KAFKA-9965), as it does with the Java client.
    partitioner = Recording(lambda n: n % 2, hook=True)
    with KafkaProducer(broker=broker, partitioner=partitioner, linger_ms=60_000) as producer:
        futures = [producer.send(topic, value=b"x") for _ in range(4)]
        producer.flush(timeout=10)
    assert [f.get(timeout=10).partition for f in futures] == [1, 1, 1, 1]
    assert partitioner.calls[:3] == [partitioner.calls[0], ("on_new_batch", "t", 0),
                                     partitioner.calls[2]]
    assert [c[0] for c in partitioner.calls].count("on_new_batch") == 4  # p0 never has a batch


def test_without_the_hook_it_is_still_asked_again(broker, topic):
    partitioner = Recording(lambda n: n % 3)
    with KafkaProducer(broker=broker, partitioner=partitioner, linger_ms=60_000) as producer:
        producer.send(topic, value=b"x")
        producer.flush(timeout=10)
    assert len(partitioner.calls) == 2  # once, then again for the new batch
    assert records_by_partition(broker, topic) == {1: 1}


def test_an_explicit_partition_is_kept_and_the_new_batch_still_announced(broker, topic):
    partitioner = Recording(lambda n: 2, hook=True)
    with KafkaProducer(broker=broker, partitioner=partitioner, linger_ms=60_000) as producer:
        future = producer.send(topic, value=b"x", partition=0)
        producer.flush(timeout=10)
    assert future.get(timeout=10).partition == 0
    assert partitioner.calls == [("on_new_batch", "t", 0)]  # never asked to choose


def test_kafka_pythons_own_partitioner_class_is_accepted(broker, topic):
    base = pytest.importorskip("kafka.partitioner")

    class Last(base.Partitioner):
        def partition(self, topic, key, serialized_key, value, serialized_value, cluster):
            return max(cluster.partitions_for_topic(topic))

    with KafkaProducer(broker=broker, partitioner=Last()) as producer:
        assert producer.send(topic, value=b"x").get(timeout=10).partition == 2


@pytest.mark.parametrize("choice", [3, -1, "0", True, None])
def test_a_partition_the_topic_lacks_is_refused_and_nothing_is_queued(broker, topic, choice):
    refused = r"the partitioner Recording chose partition .* which has partitions 0\.\.2"
    with KafkaProducer(broker=broker, partitioner=Recording(lambda n: choice)) as producer:
        with pytest.raises(IllegalArgumentError, match=refused):
            producer.send(topic, value=b"x")
        producer.flush(timeout=10)
    assert records_by_partition(broker, topic) == {}


def test_what_the_partitioner_raises_comes_out_of_send(broker, topic):
    class Broken:
        def partition(self, *args):
            raise LookupError("no rule for this record")

    with KafkaProducer(broker=broker, partitioner=Broken()) as producer, \
            pytest.raises(LookupError, match="no rule"):
        producer.send(topic, value=b"x")


def test_a_failing_close_is_reported_after_everything_is_closed(broker, topic):
    class FailsToClose(Recording):
        def close(self):
            super().close()
            raise OSError("gone")

    partitioner = FailsToClose()
    producer = KafkaProducer(broker=broker, partitioner=partitioner)
    with pytest.raises(KafkaError, match="closing the partitioner failed.*gone"):
        producer.close()
    assert partitioner.closed == 1


@pytest.mark.parametrize(("given", "message"), [
    (Recording, r"got the class Recording; pass an instance: partitioner=Recording\(\)"),
    (object(), r"or an object with partition\(topic, key, serialized_key, value, "
               r"serialized_value, cluster\)"),
    ("murmur", r"unknown partitioner 'murmur'; choose one of"),
])
def test_what_is_no_partitioner_is_refused(broker, given, message):
    with pytest.raises(KafkaConfigurationError, match=message):
        KafkaProducer(broker=broker, partitioner=given)
