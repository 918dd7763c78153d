"""What pcmodel's clients answer where a program run on kafka-python 3 or the Java client
observes something definite: a missing topic's partitions, a closed consumer, an illegal topic
name on a broker that does not create topics.

- ``partitions_for_topic`` of a topic that does not exist is an empty set (kafka-python 3's
  ``partitions or set()``, the Java client's empty list since Kafka 3.0), not ``None``.
- ``paused()`` on a closed consumer raises ``IllegalStateError``, as every call of the Java
  client's ``acquireAndEnsureOpen()`` does.
- An illegal topic name is refused at once with ``InvalidTopicError``, whether or not the broker
  creates topics: Kafka's Metadata answers INVALID_TOPIC_EXCEPTION for it either way, so
  neither a producer nor a consumer waits for such a topic to appear.
"""

from __future__ import annotations

import time

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker, KafkaConsumer, KafkaProducer, TopicPartition
from pcmodel.topics.errors import IllegalStateError, InvalidTopicError

pytestmark = pytest.mark.timeout(60)


def test_a_missing_topic_has_no_partitions_rather_than_none():
    with Broker() as broker:
        broker.create_topic("t", 2)
        consumer = KafkaConsumer(broker=broker, allow_auto_create_topics=False)
        try:
            assert consumer.partitions_for_topic("t") == {0, 1}
            assert consumer.partitions_for_topic("missing") == set()
            broker.delete_topic("t")
            assert consumer.partitions_for_topic("t") == set()
        finally:
            consumer.close()


def test_a_closed_consumer_refuses_paused():
    with Broker() as broker:
        broker.create_topic("t", 1)
        consumer = KafkaConsumer(broker=broker)
        consumer.assign([TopicPartition("t", 0)])
        consumer.pause(TopicPartition("t", 0))
        assert consumer.paused() == {TopicPartition("t", 0)}
        consumer.close()
        with pytest.raises(IllegalStateError, match="closed"):
            consumer.paused()


@pytest.mark.parametrize("name", ["bad name!", ".", "x" * 250])
def test_an_illegal_topic_name_fails_at_once_where_topics_are_not_created(name):
    with Broker(auto_create_topics_enable=False) as broker:
        producer = KafkaProducer(broker=broker, max_block_ms=20_000)
        consumer = KafkaConsumer(broker=broker)
        try:
            started = time.monotonic()
            with pytest.raises(InvalidTopicError, match="Topic name is invalid"):
                producer.send(name, value=b"v")
            with pytest.raises(InvalidTopicError, match="Topic name is invalid"):
                consumer.partitions_for_topic(name)
            with pytest.raises(InvalidTopicError, match="Topic name is invalid"):
                consumer.end_offsets([TopicPartition(name, 0)], timeout_ms=20_000)
            # Not after max_block_ms / timeout_ms (20 s each): nothing waited for the topic.
            assert time.monotonic() - started < 10
        finally:
            producer.close()
            consumer.close()


def test_an_illegal_topic_name_fails_at_once_on_a_cluster():
    with Cluster(1, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                 tick_ms=10) as cluster:
        producer = KafkaProducer(broker=cluster, max_block_ms=20_000)
        try:
            started = time.monotonic()
            with pytest.raises(InvalidTopicError, match="Topic name is invalid"):
                producer.send("bad name!", value=b"v")
            assert time.monotonic() - started < 10
        finally:
            producer.close()
