"""A producer whose construction fails after it connected leaves nothing behind: its connection
is closed, no sender thread of its own runs, its serializer objects are closed (as the Java
client's constructor closes what it opened) and the error that stopped it is the one raised.

The broker here hands out connections that know whether they were closed, and can make
InitProducerId fail, as a broker process that went away before answering would.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import KafkaConnectionError
from pcmodel.topics.producer import KafkaProducer

pytestmark = pytest.mark.timeout(30)


class Connection:
    """A connection to ``broker`` that knows whether it was closed; ``init_error``, if set, is
    what its InitProducerId raises."""

    def __init__(self, broker: Broker, init_error: BaseException | None) -> None:
        self._broker = broker
        self._init_error = init_error
        self.closed = False

    def __getattr__(self, name: str) -> Any:
        if self.closed:
            raise AssertionError(f"{name}() on a closed connection")
        return getattr(self._broker, name)

    def init_producer_id(self, *args: Any, **kwargs: Any) -> tuple[int, int]:
        if self._init_error is not None:
            raise self._init_error
        return self._broker.init_producer_id(*args, **kwargs)

    def close(self) -> None:
        self.closed = True


class CountingBroker:
    """Hands out :class:`Connection` objects, whose InitProducerId raises ``init_error``."""

    def __init__(self, broker: Broker, init_error: BaseException | None = None) -> None:
        self._broker = broker
        self.init_error = init_error
        self.connections: list[Connection] = []

    def connect(self) -> Connection:
        conn = Connection(self._broker, self.init_error)
        self.connections.append(conn)
        return conn


class ClosableSerializer:
    """A serializer object (kafka-python 3's ``Serializer``) that notes its close()."""

    def __init__(self) -> None:
        self.closed = False

    def serialize(self, topic: str, headers: Any, data: bytes) -> bytes:
        return data

    def close(self) -> None:
        self.closed = True


def sender_threads(client_id: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"{client_id}-sender"]


@pytest.fixture
def broker():
    with Broker() as b:
        b.create_topic("t", 1)
        yield b


def test_a_producer_closes_its_connection_when_closed(broker):
    """The baseline the test below relies on: one connection, closed by close()."""
    counting = CountingBroker(broker)
    producer = KafkaProducer(broker=counting, client_id="baseline")
    assert len(counting.connections) == 1 and sender_threads("baseline")
    producer.close()
    assert counting.connections[0].closed and not sender_threads("baseline")


def test_init_producer_id_failing_closes_the_connection_and_raises_its_error(broker):
    counting = CountingBroker(broker, KafkaConnectionError("the broker process went away"))
    serializer = ClosableSerializer()
    with pytest.raises(KafkaConnectionError) as raised:
        KafkaProducer(broker=counting, client_id="failed", value_serializer=serializer)
    assert raised.value is counting.init_error  # the original error, not a wrapper
    (conn,) = counting.connections
    assert conn.closed
    assert serializer.closed
    assert not sender_threads("failed")


def test_a_producer_without_idempotence_never_asks_for_an_id(broker):
    """A failing InitProducerId is no matter to a producer that does not ask for one."""
    counting = CountingBroker(broker, KafkaConnectionError("never asked"))
    with KafkaProducer(broker=counting, enable_idempotence=False, acks=1) as producer:
        assert producer.send("t", b"x").get(timeout=10).offset == 0
