"""A handler that fails (a bug) never gets an answer that reads as success: a response with a
request-wide error field carries UNKNOWN_SERVER_ERROR in it (test_bad_input), and one without
(Produce, a FindCoordinator from v4) closes the connection instead of coming back empty, so
the client retries on a new connection, as a Kafka broker that cannot answer makes it."""

from __future__ import annotations

import dataclasses
import logging
import threading

from kafka import KafkaProducer
from kafka.protocol.metadata import FindCoordinatorRequest, MetadataRequest

from pcmodel.topics.structs import TopicPartition
from tests.wire.conftest import (
    RawClient,
    closed_by_listener,
    produce_request,
    record_batch,
)

LOGGER = "pcmodel.wire.listener"



def _failing(listener, api_key: int, times: int) -> threading.Event:
    """Make ``listener``'s handler of ``api_key`` raise its first ``times`` calls; the event is
    set once it has."""
    handler = listener.handlers[api_key]
    failed, lock = threading.Event(), threading.Lock()
    left = [times]

    def handle(ctx, request):
        with lock:
            fail, left[0] = left[0] > 0, left[0] - 1
        if fail:
            failed.set()
            raise RuntimeError("simulated bug")
        return handler.handle(ctx, request)

    listener.handlers[api_key] = dataclasses.replace(handler, handle=handle)
    return failed


def test_a_failed_produce_closes_the_connection_rather_than_answer_no_partitions(
        broker, listener, caplog):
    broker.create_topic("t", 1)
    _failing(listener, 0, times=1)
    with caplog.at_level(logging.INFO, LOGGER), RawClient(listener.address) as raw:
        raw.send(produce_request("t", 0, record_batch([b"a"])))
        assert closed_by_listener(raw.sock)
    assert "Produce v9 failed" in caplog.text and "simulated bug" in caplog.text
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 0}
    with RawClient(listener.address) as raw:  # the next one is served
        part = raw.request(produce_request("t", 0, record_batch([b"a"]))).responses[0]
        assert part.partition_responses[0].error_code == 0


def test_a_find_coordinator_without_a_request_wide_error_closes_when_it_fails(listener):
    _failing(listener, FindCoordinatorRequest.API_KEY, times=2)
    with RawClient(listener.address) as raw:  # v3: one error field for the request
        assert raw.request(FindCoordinatorRequest[3](key="g", key_type=0)).error_code == -1
        assert raw.request(MetadataRequest[12](topics=None)).brokers  # still open
        # v4: an error per key only; an empty list of coordinators would be no answer.
        raw.send(FindCoordinatorRequest[4](key_type=0, coordinator_keys=["g"]))
        assert closed_by_listener(raw.sock)


def test_a_producer_retries_a_produce_whose_handler_failed_once(broker, listener):
    broker.create_topic("t", 1)
    failed = _failing(listener, 0, times=1)
    producer = KafkaProducer(bootstrap_servers=listener.bootstrap_servers,
                             retry_backoff_ms=10, request_timeout_ms=20_000)
    try:
        # An empty answer would leave the batch unanswered until its delivery timeout.
        metadata = producer.send("t", b"once", partition=0).get(timeout=15)
    finally:
        producer.close(timeout=5)
    assert failed.is_set() and metadata.offset == 0
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 1}
