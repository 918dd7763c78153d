"""A consumer whose construction fails leaves nothing behind: every connection it opened is
closed, no thread of its own runs, and the error that stopped it is the one raised.

The consumer opens two connections (its own and the fetcher's, whose long polls block); the
broker here counts them and can refuse the n-th, as a broker process that stops accepting
would.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import pcmodel.topics.consumer as consumer_module
from pcmodel.topics.broker import Broker
from pcmodel.topics.consumer import KafkaConsumer
from pcmodel.topics.errors import KafkaConnectionError

pytestmark = pytest.mark.timeout(30)


class Connection:
    """A connection to ``broker`` that knows whether it was closed (as a broker process's
    proxy does: clients close every connection that is not the broker they were given)."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self.closed = False

    def __getattr__(self, name: str) -> Any:
        if self.closed:
            raise AssertionError(f"{name}() on a closed connection")
        return getattr(self._broker, name)

    def close(self) -> None:
        self.closed = True


class CountingBroker:
    """Hands out :class:`Connection` objects; the ``refuse``-th connect() raises instead."""

    def __init__(self, broker: Broker, refuse: int | None = None) -> None:
        self._broker = broker
        self._refuse = refuse
        self.connections: list[Connection] = []
        self.error = KafkaConnectionError("the broker refused the connection")

    def connect(self) -> Connection:
        if len(self.connections) + 1 == self._refuse:
            raise self.error
        conn = Connection(self._broker)
        self.connections.append(conn)
        return conn


def consumer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pcmodel-")]


@pytest.fixture
def broker():
    b = Broker()
    yield b
    b.close()


def test_both_connections_are_opened_and_closed_by_close(broker):
    """The baseline the tests below rely on: two connections, both closed by close()."""
    counting = CountingBroker(broker)
    consumer = KafkaConsumer(broker=counting)
    assert len(counting.connections) == 2
    consumer.close()
    assert all(conn.closed for conn in counting.connections)


def test_the_second_connection_failing_closes_the_first(broker):
    before = consumer_threads()
    counting = CountingBroker(broker, refuse=2)
    with pytest.raises(KafkaConnectionError) as raised:
        KafkaConsumer(broker=counting, group_id="g")
    assert raised.value is counting.error
    assert len(counting.connections) == 1
    assert counting.connections[0].closed, "the first connection was left open"
    assert consumer_threads() == before


def test_the_fetcher_thread_failing_to_start_closes_both_connections(broker, monkeypatch):
    """A thread that cannot be started (the process is at its limit) is the original error."""
    error = RuntimeError("can't start new thread")

    class Unstartable(threading.Thread):
        def start(self) -> None:
            raise error

    monkeypatch.setattr(consumer_module.threading, "Thread", Unstartable)
    counting = CountingBroker(broker)
    with pytest.raises(RuntimeError) as raised:
        KafkaConsumer(broker=counting)
    assert raised.value is error
    assert len(counting.connections) == 2
    assert all(conn.closed for conn in counting.connections)


def test_a_failing_subscription_closes_both_connections_and_the_fetcher(broker):
    before = consumer_threads()
    counting = CountingBroker(broker)
    with pytest.raises(TypeError):
        KafkaConsumer(5, broker=counting, group_id="g")  # not a topic: subscribe() refuses it
    assert len(counting.connections) == 2
    assert all(conn.closed for conn in counting.connections)
    assert consumer_threads() == before
