"""Client calls at their edges behave as in the Java client (and kafka-python where it agrees):
an empty subscription is an unsubscribe, a bad timeout fails the call before it does anything,
with a one-line error, ``commit_async()``'s future is read as kafka-python's is, and an offset
lookup creates a missing topic as the metadata request before it does."""

from __future__ import annotations

import pytest

from pcmodel.topics import (
    IllegalArgumentError,
    IllegalStateError,
    KafkaConsumer,
    KafkaProducer,
    KafkaTimeoutError,
    OffsetAndMetadata,
    TopicPartition,
)
from pcmodel.topics.errors import OffsetMetadataTooLargeError
from tests.topics.conftest import FAST

pytestmark = pytest.mark.timeout(30)


def test_subscribing_to_no_topic_unsubscribes(broker):
    """Java's ``subscribe(emptyList)`` is ``unsubscribe()``, also after ``assign()``."""
    broker.create_topic("t", 2)
    consumer = KafkaConsumer(broker=broker, group_id="g", **FAST)
    try:
        consumer.subscribe(["t"])
        consumer.subscribe([])
        assert consumer.subscription() is None
        consumer.assign([TopicPartition("t", 0)])
        consumer.subscribe(topics=[])
        assert consumer.assignment() == set()
        consumer.subscribe(["t"])  # no longer manual: subscribing works again
        assert consumer.subscription() == {"t"}
        with pytest.raises(IllegalStateError, match="not both"):
            consumer.subscribe(["t"], pattern="t.*")
    finally:
        consumer.close()


def test_a_bad_close_timeout_is_refused_and_the_producer_stays_open(broker):
    broker.create_topic("t", 1)
    producer = KafkaProducer(broker=broker)
    try:
        with pytest.raises(IllegalArgumentError, match=r"close\(\): timeout must be >= 0"):
            producer.close(-1)
        with pytest.raises(TypeError, match=r"close\(\): timeout must be a number"):
            producer.close("1")
        with pytest.raises(TypeError, match=r"flush\(\): timeout must be a number"):
            producer.flush("1")
        # Nothing was closed: the producer still sends.
        assert producer.send("t", b"v").get(timeout=10).offset == 0
    finally:
        producer.close()


def test_commit_async_returns_a_future_read_as_kafka_pythons(broker):
    broker.create_topic("t", 1)
    tp = TopicPartition("t", 0)
    consumer = KafkaConsumer(broker=broker, group_id="g", enable_auto_commit=False, **FAST)
    try:
        future = consumer.commit_async({tp: OffsetAndMetadata(1, "", -1)})
        assert (future.is_done, future.succeeded(), future.failed(), future.exception) == (
            True, True, False, None)
        assert future.value == {tp: OffsetAndMetadata(1, "", -1)}
        seen = []
        future.add_callback(seen.append).add_errback(lambda exc: seen.append(("failed", exc)))
        assert seen == [future.value]
        refused = consumer.commit_async({tp: OffsetAndMetadata(2, "m" * 5000, -1)})
        assert refused.failed() and not refused.retriable()
        assert isinstance(refused.exception, OffsetMetadataTooLargeError)
        refused.add_errback(lambda exc: seen.append(type(exc)))
        assert seen[-1] is OffsetMetadataTooLargeError
        with pytest.raises(OffsetMetadataTooLargeError):
            refused.result()
    finally:
        consumer.close()


def test_an_offset_lookup_creates_a_missing_topic_as_the_metadata_request_does(broker):
    """The Java client (and kafka-python) asks for metadata first, which creates a missing
    topic where the consumer and the broker allow it: the lookup then answers."""
    consumer = KafkaConsumer(broker=broker, **FAST)
    try:
        assert consumer.end_offsets([TopicPartition("new", 0)], timeout_ms=5000) == {
            TopicPartition("new", 0): 0}
        assert consumer.offsets_for_times({TopicPartition("newer", 0): 0},
                                          timeout_ms=5000) == {TopicPartition("newer", 0): None}
    finally:
        consumer.close()
    consumer = KafkaConsumer(broker=broker, allow_auto_create_topics=False, **FAST)
    try:
        with pytest.raises(KafkaTimeoutError):
            consumer.beginning_offsets([TopicPartition("absent", 0)], timeout_ms=100)
        assert "absent" not in broker.list_topics()
    finally:
        consumer.close()
