"""Bad input and load: only the offending connection suffers, everyone else is served, nothing
is half-written, and stopping the listener leaves no thread behind."""

from __future__ import annotations

import dataclasses
import logging
import random
import socket
import struct
import threading

import pytest
from kafka.protocol.admin import DescribeConfigsRequest
from kafka.protocol.metadata import ApiVersionsRequest, MetadataRequest

from pcmodel.topics.structs import TopicPartition
from pcmodel.wire import KafkaListener
from tests.conftest import wait_until
from tests.wire.conftest import (
    RawClient,
    closed_by_listener,
    produce_request,
    record_batch,
    still_serving,
)

LOGGER = "pcmodel.wire.listener"




def test_oversized_request_closes_only_that_connection(broker, caplog):
    with broker.serve_kafka(max_request_bytes=1024) as listener, \
            caplog.at_level(logging.WARNING, LOGGER):
        with socket.create_connection(listener.address) as sock:
            sock.sendall(struct.pack(">i", 100 * 1024 * 1024))
            assert closed_by_listener(sock)
        still_serving(listener.address)
    assert "max_request_bytes=1024" in caplog.text


def test_default_max_request_is_kafkas_100_mib(listener):
    assert listener.max_request_bytes == 100 * 1024 * 1024


@pytest.mark.parametrize("payload", [
    b"\x00\x01",                                        # shorter than any header
    struct.pack(">hhi", 999, 0, 1) + b"\x00\x00",       # unknown API key
    struct.pack(">hhi", 3, 9, 1) + b"\x00\x00" + b"\xff" * 3,  # Metadata v9 body garbage
    struct.pack(">hhi", 18, 3, 1) + b"\xff\xff\xff",    # header that does not decode
], ids=["short", "unknown-key", "bad-body", "bad-header"])
def test_malformed_frame_closes_only_that_connection(listener, caplog, payload):
    with caplog.at_level(logging.WARNING, LOGGER):
        with socket.create_connection(listener.address) as sock:
            sock.sendall(struct.pack(">i", len(payload)) + payload)
            assert closed_by_listener(sock)
        still_serving(listener.address)
    assert "closing its connection" in caplog.text


def test_negative_size_closes_the_connection(listener):
    with socket.create_connection(listener.address) as sock:
        sock.sendall(struct.pack(">i", -5))
        assert closed_by_listener(sock)
    still_serving(listener.address)


def test_a_served_request_with_nothing_in_it_keeps_the_connection(raw, listener):
    response = raw.request(DescribeConfigsRequest[4](resources=[], include_synonyms=False,
                                                     include_documentation=False))
    assert response.results == []
    _ = raw.request(MetadataRequest[9](topics=None))  # the same connection still works


def test_an_unserved_version_closes_only_that_connection(raw, listener, caplog):
    # Metadata v13 exists in the schemas but is not advertised: Kafka's SocketServer closes the
    # connection of a request whose version it does not enable, and so does the listener.
    with caplog.at_level(logging.WARNING, LOGGER):
        raw.send(MetadataRequest[13](topics=None))
        assert closed_by_listener(raw.sock)
    still_serving(listener.address)
    assert "Metadata (API key 3) v13" in caplog.text and "v0 to v12" in caplog.text


def test_client_vanishing_mid_request_changes_nothing(broker, listener, caplog):
    broker.create_topic("t", 1)
    request = produce_request("t", 0, record_batch([b"a", b"b", b"c"]))
    request.with_header(correlation_id=1, client_id="vanishing")
    frame = bytes(request.encode(header=True, framed=True))
    with caplog.at_level(logging.WARNING, LOGGER):
        with socket.create_connection(listener.address) as sock:
            sock.sendall(frame[: len(frame) // 2])
        wait_until(lambda: "closed the connection after" in caplog.text)
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 0}
    still_serving(listener.address)


def test_half_sent_request_times_out(broker, caplog):
    with broker.serve_kafka(send_timeout=0.2) as listener, \
            caplog.at_level(logging.WARNING, LOGGER):
        with socket.create_connection(listener.address) as sock:
            sock.sendall(struct.pack(">i", 100) + b"\x00" * 10)
            assert closed_by_listener(sock)
        still_serving(listener.address)
    assert "and then nothing for 0.2 s" in caplog.text


def test_client_that_never_reads_is_closed_others_served(broker, caplog):
    broker.create_topic("t", 1)
    broker.append("t", 0, [(None, b"x" * 100_000)])
    from tests.wire.conftest import fetch_request

    request = fetch_request({("t", 0): 0})
    request.with_header(correlation_id=1, client_id="deaf")
    frame = bytes(request.encode(header=True, framed=True))
    with broker.serve_kafka(send_timeout=0.5) as listener, \
            caplog.at_level(logging.WARNING, LOGGER):
        deaf = socket.socket()
        deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        deaf.connect(listener.address)
        try:
            # Pipeline fetches and never read: the listener's send buffer fills, then it gives up.
            for _ in range(200):
                try:
                    deaf.sendall(frame)
                except OSError:
                    break
                if "did not read its responses" in caplog.text:
                    break
            wait_until(lambda: "did not read its responses" in caplog.text)
            still_serving(listener.address)
        finally:
            deaf.close()


def test_hundred_concurrent_connections(broker, listener):
    broker.create_topic("t", 1)
    barrier = threading.Barrier(100)
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            with RawClient(listener.address) as raw:
                barrier.wait(30)
                response = raw.request(produce_request("t", 0, record_batch([b"%d" % i])))
                assert response.responses[0].partition_responses[0].error_code == 0
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    records = broker.fetch({TopicPartition("t", 0): 0}, max_records=1000)[("t", 0)].records
    assert sorted(int(r.value) for r in records) == list(range(100))


def test_connections_beyond_the_maximum_are_refused_with_a_log_line(broker, caplog):
    with broker.serve_kafka(max_connections=2) as listener, \
            caplog.at_level(logging.WARNING, LOGGER):
        with RawClient(listener.address) as a, RawClient(listener.address) as b:
            a.request(ApiVersionsRequest[0]())
            b.request(ApiVersionsRequest[0]())
            wait_until(lambda: listener.connection_count == 2)
            with socket.create_connection(listener.address) as third:
                assert closed_by_listener(third)
            assert caplog.text.count("max_connections=2") == 1
        wait_until(lambda: listener.connection_count == 0)
        still_serving(listener.address)


def test_handler_crash_answers_unknown_server_error_and_keeps_serving(raw, listener, caplog):
    from kafka.protocol.metadata import FindCoordinatorRequest

    def broken(ctx, request):
        raise RuntimeError("simulated bug")

    key = FindCoordinatorRequest.API_KEY
    listener.handlers[key] = dataclasses.replace(listener.handlers[key], handle=broken)
    with caplog.at_level(logging.ERROR, LOGGER):
        response = raw.request(FindCoordinatorRequest[3](key="g", key_type=0))
    assert response.error_code == -1  # UNKNOWN_SERVER_ERROR
    assert "simulated bug" in caplog.text
    assert raw.request(MetadataRequest[12](topics=None)).brokers  # the connection still works


def test_stop_ends_every_connection_and_thread(broker):
    listener = KafkaListener(broker).start()
    clients = [RawClient(listener.address) for _ in range(5)]
    for c in clients:
        c.request(ApiVersionsRequest[0]())
    listener.stop()
    listener.stop()  # idempotent
    assert listener.connection_count == 0
    for c in clients:
        assert closed_by_listener(c.sock)
        c.close()


def test_non_loopback_host_warns_once(broker, caplog):
    with caplog.at_level(logging.WARNING, LOGGER):
        listener = KafkaListener(broker, host="0.0.0.0")
        listener.stop()
    assert caplog.text.count("no authentication") == 1


def test_fuzzed_frames_never_hurt_other_clients(broker, listener):
    """Random mutations of valid requests: whatever happens to the fuzzing connection, a
    well-behaved client is still served afterwards and the topic holds only whole batches."""
    broker.create_topic("t", 1)
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    request = produce_request("t", 0, record_batch([b"a", b"b"]))
    request.with_header(correlation_id=1, client_id="fuzz")
    valid = bytes(request.encode(header=True, framed=True))[4:]
    for _ in range(60):
        frame = bytearray(valid)
        for _ in range(rng.randrange(1, 6)):
            frame[rng.randrange(len(frame))] = rng.randrange(256)
        if rng.random() < 0.3:
            frame = frame[: rng.randrange(len(frame))]
        with socket.create_connection(listener.address, timeout=10) as sock:
            sock.sendall(struct.pack(">i", len(frame)) + frame)
            sock.shutdown(socket.SHUT_WR)
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass
    still_serving(listener.address)
    end = broker.end_offsets([TopicPartition("t", 0)])[("t", 0)]
    assert end % 2 == 0, f"a half batch was appended (seed {seed})"


def test_a_sasl_handshake_closes_the_connection(raw, listener):
    from kafka.protocol.sasl import SaslHandshakeRequest

    # No SASL here, and ApiVersions does not list it: the handshake is refused as any API not
    # advertised is (clients configured for SASL stop at ApiVersions: test_unserved_apis_clients).
    raw.send(SaslHandshakeRequest[1](mechanism="PLAIN"))
    assert closed_by_listener(raw.sock)
    still_serving(listener.address)
