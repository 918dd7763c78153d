"""A handler that fails never gets an answer that reads as success: the listener answers as a
Kafka broker answers a request that failed (``getErrorResponse``; every API and version in
test_kafka_failure_responses), with the error in every item the request named, and keeps the
connection open. With real clients, as with Kafka: a retriable error (a storage failure) is
retried and the retry succeeds, once; a bug (UNKNOWN_SERVER_ERROR, which Kafka's clients do not
retry) fails the record at once rather than leave it waiting for its delivery timeout, and the
next record goes through."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

import pytest
from kafka import KafkaProducer
from kafka.errors import UnknownError
from kafka.protocol.metadata import FindCoordinatorRequest, MetadataRequest

from pcmodel.topics.errors import KafkaStorageError
from pcmodel.topics.structs import TopicPartition
from tests.wire.conftest import RawClient, produce_request, record_batch

LOGGER = "pcmodel.wire.listener"
UNKNOWN_SERVER_ERROR = -1


def _failing(listener, api_key: int, times: int,
             exc: Exception | None = None) -> threading.Event:
    """Make ``listener``'s handler of ``api_key`` raise ``exc`` (a simulated bug by default)
    its first ``times`` calls; the event is set once it has."""
    handler = listener.handlers[api_key]
    failed, lock = threading.Event(), threading.Lock()
    left = [times]

    def handle(ctx, request):
        with lock:
            fail, left[0] = left[0] > 0, left[0] - 1
        if fail:
            failed.set()
            raise exc if exc is not None else RuntimeError("simulated bug")
        return handler.handle(ctx, request)

    listener.handlers[api_key] = dataclasses.replace(handler, handle=handle)
    return failed


def _end_offset(broker) -> int:
    return broker.end_offsets([TopicPartition("t", 0)])[("t", 0)]


def test_a_failed_produce_answers_its_partitions_with_the_error_and_appends_nothing(
        broker, listener, caplog):
    broker.create_topic("t", 1)
    _failing(listener, 0, times=1)
    with caplog.at_level(logging.INFO, LOGGER), RawClient(listener.address) as raw:
        part = raw.request(produce_request("t", 0, record_batch([b"a"]))).responses[0]
        assert (part.name, part.partition_responses[0].index) == ("t", 0)
        answer = part.partition_responses[0]
        assert (answer.error_code, answer.base_offset, answer.error_message) == (
            UNKNOWN_SERVER_ERROR, -1, None)  # a bug's text stays in the broker's log
        assert _end_offset(broker) == 0
        # The same connection serves the next one.
        part = raw.request(produce_request("t", 0, record_batch([b"a"]))).responses[0]
        assert part.partition_responses[0].error_code == 0
    assert "Produce v9 from" in caplog.text and "simulated bug" in caplog.text
    assert _end_offset(broker) == 1


def test_a_failed_find_coordinator_answers_its_error_at_every_version(listener):
    _failing(listener, FindCoordinatorRequest.API_KEY, times=2)
    with RawClient(listener.address) as raw:  # v3: one error field for the request
        answer = raw.request(FindCoordinatorRequest[3](key="g", key_type=0))
        assert (answer.error_code, answer.node_id) == (UNKNOWN_SERVER_ERROR, -1)
        # v4: an error per key, where an empty list of coordinators would be no answer.
        answer = raw.request(FindCoordinatorRequest[4](key_type=0, coordinator_keys=["g"]))
        assert [(c.key, c.error_code, c.node_id) for c in answer.coordinators] == [
            ("g", UNKNOWN_SERVER_ERROR, -1)]
        assert raw.request(MetadataRequest[12](topics=None)).brokers  # still open


@pytest.mark.timeout(60)
def test_a_producer_retries_a_produce_that_failed_with_a_retriable_error(broker, listener):
    broker.create_topic("t", 1)
    failed = _failing(listener, 0, times=1, exc=KafkaStorageError("the log directory failed"))
    producer = KafkaProducer(bootstrap_servers=listener.bootstrap_servers,
                             retry_backoff_ms=10, request_timeout_ms=20_000)
    try:
        metadata = producer.send("t", b"once", partition=0).get(timeout=30)
    finally:
        producer.close(timeout=5)
    assert failed.is_set() and metadata.offset == 0
    assert _end_offset(broker) == 1  # retried, and appended once


@pytest.mark.timeout(60)
def test_a_producer_fails_a_record_whose_produce_hit_a_bug_at_once(broker, listener):
    broker.create_topic("t", 1)
    failed = _failing(listener, 0, times=1)
    # Not idempotent: kafka-python's idempotent producer takes any error it cannot retry as
    # fatal and stops (Java's bumps its epoch and goes on), which would hide the next record.
    producer = KafkaProducer(bootstrap_servers=listener.bootstrap_servers,
                             enable_idempotence=False, retry_backoff_ms=10,
                             request_timeout_ms=20_000, delivery_timeout_ms=40_000)
    try:
        started = time.monotonic()
        with pytest.raises(UnknownError):
            producer.send("t", b"lost", partition=0).get(timeout=30)
        # Answered, not left to the request or delivery timeout (20 and 40 s).
        assert time.monotonic() - started < 15
        assert failed.is_set() and _end_offset(broker) == 0
        assert producer.send("t", b"next", partition=0).get(timeout=30).offset == 0
    finally:
        producer.close(timeout=5)
    assert _end_offset(broker) == 1


@pytest.mark.timeout(60)
def test_librdkafka_retries_a_produce_that_failed_with_a_retriable_error(broker, listener):
    confluent = pytest.importorskip("confluent_kafka")
    broker.create_topic("t", 1)
    failed = _failing(listener, 0, times=1, exc=KafkaStorageError("the log directory failed"))
    producer = confluent.Producer({"bootstrap.servers": listener.bootstrap_servers,
                                   "retry.backoff.ms": 10, "linger.ms": 0})
    reports = []
    producer.produce("t", b"once", partition=0,
                     on_delivery=lambda err, msg: reports.append((err, msg.offset())))
    assert producer.flush(30) == 0
    assert failed.is_set() and reports == [(None, 0)]
    assert _end_offset(broker) == 1
