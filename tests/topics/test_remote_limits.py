"""The broker's server and its clients under bursts, idle sockets, bad numbers and a hung broker.

Blocking is observed through the server's own counters (``wait_until(server.connections == n)``)
and through sockets read with a generous timeout; a stopped broker is a real ``SIGSTOP``.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import struct
import threading
import time

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.consumer import KafkaConsumer
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    KafkaTimeoutError,
)
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.remote import BrokerServer, start_broker_process
from pcmodel.topics.structs import TopicPartition
from pcmodel.topics.transport import open_channel
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)

# Generous: a read that should end "at once" or "after the handshake deadline" ends far sooner.
PATIENCE = 10.0


@pytest.fixture
def server():
    broker = Broker()
    srv = BrokerServer(broker, handshake_timeout=0.3, max_connections=8).start()
    try:
        yield srv
    finally:
        srv.stop()
        broker.close()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails after PATIENCE s)."""
    sock.settimeout(PATIENCE)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_a_burst_of_16_clients_connecting_at_once_is_served():
    # Its own server, whose handshake deadline a loaded machine cannot miss: the burst is about
    # the listener's backlog and connection count, not about the deadline.
    broker = Broker()
    server = BrokerServer(broker, handshake_timeout=PATIENCE, max_connections=32).start()
    try:
        _burst(server)
    finally:
        server.stop()
        broker.close()


def _burst(server: BrokerServer) -> None:
    start = threading.Barrier(16)
    results: list[object] = []
    lock = threading.Lock()

    def client() -> None:
        start.wait()
        try:
            with server.handle.connect(connect_timeout_ms=5_000) as remote:
                outcome: object = remote.list_topics()
        except Exception as exc:  # collected and asserted below
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE)
    assert results == [{}] * 16


def test_a_silent_connection_is_dropped_after_the_handshake_deadline(server, caplog):
    caplog.set_level(logging.WARNING, logger="pcmodel.topics.remote")
    with socket.create_connection(server.handle.address) as sock:
        wait_until(lambda: server.connections == 1)
        began = time.monotonic()
        challenge = read_until_closed(sock)  # the server's challenge, then the end of stream
        assert time.monotonic() - began < PATIENCE
    assert challenge  # it did send its challenge first
    wait_until(lambda: server.connections == 0)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "no handshake within 0.3 s" in refusals[0]
    assert "\n" not in refusals[0]


def test_a_peer_that_leaves_during_the_handshake_is_not_reported_as_refused(server, caplog):
    # A client stopped while it connects (a Ctrl-C during a cluster's start) closes its socket
    # before answering: nothing was refused, and a warning on stderr would be a second line.
    caplog.set_level(logging.DEBUG, logger="pcmodel.topics.remote")
    with socket.create_connection(server.handle.address) as sock:
        wait_until(lambda: server.connections == 1)
        sock.settimeout(PATIENCE)
        assert sock.recv(4096)  # the server's challenge: the handshake has begun
    wait_until(lambda: server.connections == 0)
    assert server.refusals.total == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    with socket.create_connection(server.handle.address) as sock:  # a wrong answer still is
        sock.settimeout(PATIENCE)
        sock.recv(4096)
        sock.sendall(struct.pack("!i", 5) + b"wrong")
        read_until_closed(sock)
    wait_until(lambda: server.refusals.total == 1)


def test_connections_beyond_the_limit_are_refused_and_logged_once_a_second(server, caplog):
    caplog.set_level(logging.WARNING, logger="pcmodel.topics.remote")
    server.handshake_timeout = PATIENCE * 2  # the idle sockets below must stay
    idle = [socket.create_connection(server.handle.address) for _ in range(8)]
    try:
        wait_until(lambda: server.connections == 8)
        for _ in range(3):
            with socket.create_connection(server.handle.address) as extra:
                assert read_until_closed(extra) == b""  # closed before any challenge
        wait_until(lambda: server.refusals.total == 3)
        lines = [r.getMessage() for r in caplog.records if "max_connections" in r.getMessage()]
        assert 1 <= len(lines) <= 3
        assert server.connections == 8
    finally:
        for sock in idle:
            sock.close()
    wait_until(lambda: server.connections == 0)
    with server.handle.connect() as remote:
        assert remote.list_topics() == {}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -1.0, 1e300, "1", True])
def test_a_fetch_timeout_that_is_not_a_real_number_of_seconds_is_refused(server, bad):
    tp = TopicPartition("t", 0)
    local = Broker()
    local.create_topic("t", 1)
    with pytest.raises((IllegalArgumentError, TypeError)):
        local.fetch({tp: 0}, timeout=bad)
    local.close()
    with server.handle.connect() as remote:
        remote.create_topic("t", 1)
        with pytest.raises((IllegalArgumentError, TypeError)):
            remote.fetch({tp: 0}, timeout=bad)
        assert remote.fetch({tp: 0}, timeout=0) == local_fetch_result(tp)
    wait_until(lambda: server.connections == 0)  # no thread left spinning on the NaN


def local_fetch_result(tp: TopicPartition) -> dict:
    broker = Broker()
    broker.create_topic(tp.topic, 1)
    try:
        return broker.fetch({tp: 0}, timeout=0)
    finally:
        broker.close()


def test_numbers_beyond_64_bits_and_non_finite_floats_are_refused_anywhere(server):
    with server.handle.connect() as remote:
        remote.create_topic("t", 1)
        with pytest.raises(IllegalArgumentError, match="64-bit"):
            remote.fetch({TopicPartition("t", 0): 2**64})
        with pytest.raises(IllegalArgumentError, match="finite"):
            remote.call("commit_offsets", "g", "", -1, {TopicPartition("t", 0): (0, math.nan)})
        assert remote.list_groups() == []


# --- a stopped broker ----------------------------------------------------------------------


@pytest.fixture
def stopped_broker():
    """A broker process, SIGSTOPped once the test has connected; continued and stopped after."""
    process = start_broker_process()
    stopped = []

    def stop() -> None:
        os.kill(process.pid, signal.SIGSTOP)
        stopped.append(True)
        # The signal is delivered asynchronously: wait until the kernel reports it stopped.
        wait_until(lambda: _state(process.pid) == "T")

    try:
        yield process, stop
    finally:
        if stopped:
            os.kill(process.pid, signal.SIGCONT)
        process.stop()


def _state(pid: int) -> str:
    """The process state letter of ``pid`` (R running, S sleeping, T stopped, ...)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_every_call_to_a_stopped_broker_ends_with_kafka_timeout_error(stopped_broker):
    process, stop = stopped_broker
    with process.connect(request_timeout_ms=200, connect_timeout_ms=200) as remote:
        remote.create_topic("t", 1)
        stop()
        began = time.monotonic()
        with pytest.raises(KafkaTimeoutError, match="request_timeout_ms=200"):
            remote.list_topics()
        with pytest.raises(KafkaTimeoutError):  # a fetch gets its long poll on top
            remote.fetch({TopicPartition("t", 0): 0}, timeout=0.1)
        with pytest.raises(KafkaTimeoutError, match="connect_timeout_ms=200"):
            process.connect(request_timeout_ms=200, connect_timeout_ms=200)
        assert time.monotonic() - began < PATIENCE


def test_close_cuts_a_call_waiting_for_a_stopped_broker(stopped_broker):
    process, stop = stopped_broker
    remote = process.connect()
    remote.create_topic("t", 1)
    stop()
    outcome: list[BaseException] = []
    caller = threading.Thread(
        target=lambda: outcome.extend(_raised(remote.list_topics)), name="caller"
    )
    caller.start()
    wait_until(lambda: len(remote._busy) == 1)
    began = time.monotonic()
    remote.close(timeout_ms=100)
    caller.join(PATIENCE)
    assert time.monotonic() - began < PATIENCE / 2
    assert len(outcome) == 1 and isinstance(outcome[0], IllegalStateError)


def _raised(call) -> list[BaseException]:
    try:
        call()
    except BaseException as exc:  # the test inspects it
        return [exc]
    return []


def test_producer_and_consumer_close_in_time_when_the_broker_is_stopped(stopped_broker):
    process, stop = stopped_broker
    with process.connect() as remote:
        remote.create_topic("t", 1)
        producer = KafkaProducer(broker=remote, linger_ms=0)
        producer.send("t", b"before").get(PATIENCE)
        consumer = KafkaConsumer("t", broker=remote, group_id="g", fetch_max_wait_ms=20,
                                 heartbeat_interval_ms=10, auto_offset_reset="earliest")
        records = []
        wait_until(lambda: records.extend(
            r for rs in consumer.poll(timeout_ms=50).values() for r in rs) or records)
        stop()
        future = producer.send("t", b"during")
        began = time.monotonic()
        producer.close(timeout=0.3)
        consumer.close(timeout_ms=300)
        took = time.monotonic() - began
        assert took < PATIENCE, f"close took {took:.1f} s (request_timeout_ms is 30 s)"
        assert future.is_done and future.failed()
        assert [r.value for r in records] == [b"before"]


def test_a_client_that_resets_its_connection_is_no_warning(server, caplog):
    # A client process killed mid-session resets its connections: routine for a server (a
    # fault campaign kills clients by the dozen), so the broker notes it at INFO only.
    caplog.set_level(logging.INFO, logger="pcmodel.topics.remote")
    channel = open_channel(server.handle.address, server.handle.authkey, PATIENCE)
    wait_until(lambda: server.connections == 1)
    channel._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    channel.close()  # with a zero linger: a reset, not an orderly end of stream
    wait_until(lambda: server.connections == 0)
    wait_until(lambda: "the client reset it" in caplog.text)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
