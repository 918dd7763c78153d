"""The producer's defaults are Kafka's: ``acks="all"``, idempotence, retries until
``delivery_timeout_ms``, and the Java client's rules where a setting conflicts with them."""

from __future__ import annotations

import math
import time

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import KafkaConfigurationError, KafkaConnectionError, KafkaTimeoutError
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.structs import TopicPartition
from tests.topics.test_producer import BlockingBroker, CountingBroker, Retriable, read_all

pytestmark = pytest.mark.timeout(30)

kafka_producer = pytest.importorskip("kafka.producer.kafka")


@pytest.fixture
def broker():
    with Broker() as b:
        b.create_topic("t", 4)
        yield b


class LosesAnswers(CountingBroker):
    """Stores each of the first ``n`` appends, then raises a retriable error as if the answer
    was lost on the way back: the producer cannot know that the record was stored."""

    def __init__(self, broker: Broker, n: int) -> None:
        super().__init__(broker)
        self.n = n

    def append(self, topic, partition, records, *, timeout=None):
        return self._lose(super().append(topic, partition, records, timeout=timeout))

    def append_idempotent(self, topic, partition, records, **numbering):
        return self._lose(super().append_idempotent(topic, partition, records, **numbering))

    def _lose(self, result):
        if len(self.appends) <= self.n:
            raise KafkaConnectionError("the answer was lost")
        return result


class AlwaysRetriable(CountingBroker):
    """Every append fails with a retriable error until ``healthy`` is set."""

    healthy = False

    def _arrive(self, topic, partition, records):
        super()._arrive(topic, partition, records)
        if not self.healthy:
            raise Retriable("not now")


# --- defaults ------------------------------------------------------------------------------


def test_defaults_are_kafka_pythons_and_the_java_clients(broker):
    theirs = kafka_producer.KafkaProducer.DEFAULT_CONFIG
    with KafkaProducer(broker=broker) as producer:
        ours = producer.config
    assert (ours["acks"], ours["enable_idempotence"]) == (-1, True)
    assert ours["retries"] == theirs["retries"] == math.inf
    assert ours["delivery_timeout_ms"] == theirs["delivery_timeout_ms"] == 120000
    assert theirs["enable_idempotence"] is True


def test_a_default_producer_stores_a_record_once_when_its_answer_is_lost(broker):
    losing = LosesAnswers(broker, 2)
    with KafkaProducer(broker=losing) as producer:
        assert producer.send("t", b"x", partition=1).get(timeout=10).offset == 0
    assert losing.appends == [("t", 1, 1)] * 3  # sent three times, stored once
    assert [r.value for r in read_all(broker, "t")[1]] == [b"x"]


@pytest.mark.parametrize("setting, value", [
    ("acks", 1), ("acks", 0), ("retries", 0), ("max_in_flight_requests_per_connection", 6),
])
def test_unset_idempotence_gives_way_to_a_conflicting_setting(broker, setting, value):
    with KafkaProducer(broker=broker, **{setting: value}) as producer:
        assert producer.config["enable_idempotence"] is False


@pytest.mark.parametrize("setting, value, named", [
    ("acks", 1, "acks=1"), ("acks", 0, "acks=0"), ("retries", 0, "retries=0"),
    ("max_in_flight_requests_per_connection", 6, "max_in_flight_requests_per_connection=6"),
])
def test_explicit_idempotence_with_a_conflicting_setting_is_an_error(broker, setting, value,
                                                                     named):
    with pytest.raises(KafkaConfigurationError, match=f"enable_idempotence=True needs .*{named}"):
        KafkaProducer(broker=broker, enable_idempotence=True, **{setting: value})
    with pytest.raises(KafkaConfigurationError, match=f"transactional_id needs .*{named}"):
        KafkaProducer(broker=broker, transactional_id="tx", **{setting: value})


def test_explicit_idempotence_with_kafkas_settings_is_accepted(broker):
    with KafkaProducer(broker=broker, enable_idempotence=True, acks=-1, retries=3,
                       max_in_flight_requests_per_connection=5) as producer:
        assert producer.config["enable_idempotence"] is True


# --- delivery_timeout_ms -------------------------------------------------------------------


def test_delivery_timeout_must_cover_linger_and_request_timeout(broker):
    with pytest.raises(KafkaConfigurationError,
                       match=r"delivery_timeout_ms must be >= linger_ms \+ request_timeout_ms"):
        KafkaProducer(broker=broker, delivery_timeout_ms=1000, linger_ms=500,
                      request_timeout_ms=600)
    # Unset, it gives way to a long linger_ms, as in the Java client.
    with KafkaProducer(broker=broker, linger_ms=200000) as producer:
        assert producer.config["delivery_timeout_ms"] == 230000


def test_a_batch_failing_retriably_expires_after_delivery_timeout(broker):
    failing = AlwaysRetriable(broker)
    with KafkaProducer(broker=failing, delivery_timeout_ms=300, request_timeout_ms=100,
                       retry_backoff_ms=5) as producer:
        started = time.monotonic()
        future = producer.send("t", b"first", partition=2)
        with pytest.raises(KafkaTimeoutError, match=r"Expiring 1 record\(s\) for t-2: \d+ ms "
                                                    r"has passed since batch creation") as info:
            future.get(timeout=10)
        assert time.monotonic() - started >= 0.3
        assert isinstance(info.value.__cause__, Retriable)
        tries = len(failing.appends)
        assert tries >= 2  # retried until it expired...
        failing.healthy = True
        assert producer.send("t", b"second", partition=2).get(timeout=10).offset == 0
    assert len(failing.appends) == tries + 1  # ...and never again after
    assert [r.value for r in read_all(broker, "t")[2]] == [b"second"]


def test_a_batch_waiting_behind_a_stuck_one_expires_unsent(broker):
    stuck = BlockingBroker(broker)
    producer = KafkaProducer(broker=stuck, delivery_timeout_ms=1000, request_timeout_ms=500)
    now = [0.0]
    producer._clock = lambda: now[0]  # the producer's clock, driven by the test
    try:
        first = producer.send("t", b"first", partition=0)
        assert stuck.entered.wait(10)  # the sender is inside the first append
        waiting = producer.send("t", b"waiting", partition=1)  # created at 0.0
        now[0] = 1.0  # delivery_timeout_ms has passed since both batches were created
        stuck.release.set()
        assert first.get(timeout=10).offset == 0  # answered: it was being appended
        with pytest.raises(KafkaTimeoutError,
                           match=r"Expiring 1 record\(s\) for t-1: 1000 ms has passed"):
            waiting.get(timeout=10)
    finally:
        stuck.release.set()
        producer.close(timeout=10)
    assert stuck.appends == [("t", 0, 1)]  # the expired batch was never appended
    assert broker.end_offsets([TopicPartition("t", 1)]) == {TopicPartition("t", 1): 0}


def test_delivery_timeout_is_no_longer_a_no_effect_key():
    from pcmodel.topics.config import PRODUCER_NO_EFFECT
    from pcmodel.topics.producer_config import HONOURED

    assert "delivery_timeout_ms" in HONOURED and "delivery_timeout_ms" not in PRODUCER_NO_EFFECT
