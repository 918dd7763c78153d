"""Every wait a client is told to make is a number of milliseconds (or seconds) it can wait.

NaN compares false with everything, so a wait loop given it never ends (``poll(timeout_ms=nan)``
spun for ever); infinity, or anything past ``threading.TIMEOUT_MAX``, overflows the lock's
timeout deep inside a call (``OverflowError``), or later, in the producer's sender thread. Each
is refused at once, with one line naming the setting or argument and the range.
``consumer_timeout_ms`` alone takes ``math.inf`` (kafka-python's default: iterate for ever).
"""

from __future__ import annotations

import math

import pytest

from pcmodel.topics import KafkaAdminClient, KafkaConsumer, KafkaProducer
from pcmodel.topics.config import MAX_WAIT_MS
from pcmodel.topics.errors import IllegalArgumentError, KafkaConfigurationError
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(30)

NOT_WAITS = [math.nan, math.inf, MAX_WAIT_MS * 2]
T0 = TopicPartition("t", 0)


@pytest.mark.parametrize("value", NOT_WAITS)
@pytest.mark.parametrize("setting", ["linger_ms", "retry_backoff_ms", "max_block_ms",
                                     "request_timeout_ms", "metadata_max_age_ms",
                                     "delivery_timeout_ms", "partitioner_availability_timeout_ms"])
def test_a_producer_setting_that_is_no_wait_is_refused(broker, setting, value):
    with pytest.raises(KafkaConfigurationError,
                       match=rf"{setting} must be a number of milliseconds from 0 to "):
        KafkaProducer(broker=broker, **{setting: value})


def test_the_longest_wait_is_still_one(broker):
    producer = KafkaProducer(broker=broker, max_block_ms=MAX_WAIT_MS)
    producer.close()


@pytest.mark.parametrize("value", NOT_WAITS)
@pytest.mark.parametrize("call", ["flush", "close"])
def test_a_producer_timeout_that_is_no_wait_is_refused(broker, call, value):
    producer = KafkaProducer(broker=broker)
    try:
        with pytest.raises(IllegalArgumentError, match=rf"{call}\(\): timeout must be a number "
                                                       r"of seconds up to"):
            getattr(producer, call)(timeout=value)
    finally:
        producer.close()


@pytest.mark.parametrize("value", NOT_WAITS)
def test_a_record_futures_timeout_that_is_no_wait_is_refused(broker, value):
    broker.create_topic("t", 1)
    with KafkaProducer(broker=broker) as producer:
        future = producer.send("t", b"x")
        with pytest.raises(IllegalArgumentError, match=r"get\(\): timeout must be"):
            future.get(timeout=value)
        assert future.get(timeout=10).offset == 0
        assert future.get(timeout=-1).offset == 0  # negative: time is up at once, as before


def test_consumer_timeout_ms_takes_infinity_and_refuses_nan(broker):
    KafkaConsumer(broker=broker, consumer_timeout_ms=math.inf).close()
    with pytest.raises(KafkaConfigurationError,
                       match=r"consumer_timeout_ms must be a number of milliseconds from 0 to .*"
                             r"math.inf to wait for ever; got nan"):
        KafkaConsumer(broker=broker, consumer_timeout_ms=math.nan)


@pytest.mark.parametrize("value", NOT_WAITS)
@pytest.mark.parametrize("call", [
    lambda consumer, v: consumer.poll(timeout_ms=v),
    lambda consumer, v: consumer.position(T0, timeout_ms=v),
    lambda consumer, v: consumer.committed(T0, timeout_ms=v),
    lambda consumer, v: consumer.end_offsets([T0], timeout_ms=v),
], ids=["poll", "position", "committed", "end_offsets"])
def test_a_consumer_timeout_that_is_no_wait_is_refused(broker, call, value):
    broker.create_topic("t", 1)
    with KafkaConsumer(broker=broker, group_id="g") as consumer:
        consumer.assign([T0])
        with pytest.raises(IllegalArgumentError, match=r"timeout_ms must be from 0 to "):
            call(consumer, value)


@pytest.mark.parametrize("value", NOT_WAITS)
def test_an_admins_wait_for_topics_that_is_no_wait_is_refused(broker, value):
    broker.create_topic("t", 1)
    with KafkaAdminClient(broker=broker) as admin:
        with pytest.raises(IllegalArgumentError, match=r"timeout_ms must be from 0 to "):
            admin.wait_for_topics(["t"], timeout_ms=value)
        with pytest.raises(TypeError, match=r"timeout_ms must be a number of milliseconds"):
            admin.wait_for_topics(["t"], timeout_ms="10")
        admin.wait_for_topics(["t"], timeout_ms=1000)
