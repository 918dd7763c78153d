"""Fixtures for the Kafka protocol listener: a broker served on a free loopback port, and a raw
client that speaks the protocol through kafka-python's message classes."""

from __future__ import annotations

import socket
import struct

import pytest

pytest.importorskip("kafka", reason="the Kafka listener needs kafka-python (the kafka extra)")

from pcmodel.topics import Broker  # noqa: E402


class RawClient:
    """A blocking Kafka connection: send a kafka-python request, read the decoded response."""

    def __init__(self, address: tuple[str, int], timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.correlation_id = 0

    def send(self, request) -> int:
        """Send a request built at a version (``ApiVersionsRequest[3](...)``)."""
        self.correlation_id += 1
        request.with_header(correlation_id=self.correlation_id, client_id="raw-test")
        self.sock.sendall(bytes(request.encode(header=True, framed=True)))
        return self.correlation_id

    def recv_frame(self) -> bytes:
        size = struct.unpack(">i", self.recv_exactly(4))[0]
        return self.recv_exactly(size)

    def recv_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError(f"closed after {len(data)} of {n} bytes")
            data += chunk
        return data

    def request(self, request):
        """Send ``request`` (versioned) and return the decoded response."""
        correlation_id = self.send(request)
        frame = self.recv_frame()
        response_class = request.header.get_response_class()
        response = response_class.decode(frame, header=True)
        assert response.header.correlation_id == correlation_id
        return response

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture
def broker():
    with Broker() as b:
        yield b


@pytest.fixture
def listener(broker):
    with broker.serve_kafka() as lst:
        yield lst


@pytest.fixture
def raw(listener):
    with RawClient(listener.address) as client:
        yield client
