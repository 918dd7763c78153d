"""``close()`` ends a ``send()`` that waits for a topic's metadata: the ``send()`` raises at
once the ``IllegalStateError`` a ``send()`` after ``close()`` gets, instead of waiting out
``max_block_ms`` (the Java client's ``close()`` wakes ``waitOnMetadata`` the same way).

The test waits until the ``send()`` is inside the broker's wait for metadata (the broker says
so), closes, and measures how long the ``send()`` took to end after that.
"""

from __future__ import annotations

import threading
import time

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import IllegalStateError
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.server import BrokerServer

pytestmark = pytest.mark.timeout(60)

MAX_BLOCK_MS = 20_000
#: "At once": far below max_block_ms, and generous for a loaded machine.
PROMPTLY_S = 5.0
CLOSED = "send\\(\\) on a closed KafkaProducer"


class WatchedBroker(Broker):
    """A broker that tells when a client starts waiting for its metadata to change."""

    def __init__(self) -> None:
        super().__init__(auto_create_topics_enable=False)
        self.waiting = threading.Event()

    def await_metadata_change(self, version: int, timeout: float) -> int:
        self.waiting.set()
        return super().await_metadata_change(version, timeout)


@pytest.fixture
def broker():
    b = WatchedBroker()
    b.create_topic("t", 1)
    yield b
    b.close()


@pytest.fixture(params=["in process", "broker process"])
def target(request, broker):
    """What the producer is given: the broker itself, or a handle to a server of it."""
    if request.param == "in process":
        yield broker
        return
    server = BrokerServer(broker).start()
    try:
        yield server.handle
    finally:
        server.stop()


@pytest.mark.parametrize(("what", "send"), [
    ("a missing topic", lambda p: p.send("missing", b"v")),
    ("a missing partition", lambda p: p.send("t", b"v", partition=3)),
])
def test_close_ends_a_send_waiting_for_metadata(broker, target, what, send):
    producer = KafkaProducer(broker=target, max_block_ms=MAX_BLOCK_MS)
    outcome: dict = {}

    def sending() -> None:
        try:
            send(producer)
        except BaseException as exc:
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    sender = threading.Thread(target=sending)
    sender.start()
    try:
        assert broker.waiting.wait(10), f"send() to {what} never waited for metadata"
        closed_at = time.monotonic()
        producer.close(timeout=5)
    finally:
        sender.join(MAX_BLOCK_MS / 1000 + 5)
    assert not sender.is_alive()
    assert isinstance(outcome.get("error"), IllegalStateError), outcome
    assert outcome["error"].args[0].startswith("send() on a closed KafkaProducer")
    assert outcome["ended"] - closed_at < PROMPTLY_S, "send() waited out max_block_ms"


def test_a_send_after_close_still_gets_the_same_error(broker):
    producer = KafkaProducer(broker=broker, max_block_ms=MAX_BLOCK_MS)
    producer.close()
    with pytest.raises(IllegalStateError, match=CLOSED):
        producer.send("missing", b"v")


def test_close_ends_a_partitions_for_waiting_for_its_topic_in_its_own_words(broker):
    producer = KafkaProducer(broker=broker, max_block_ms=MAX_BLOCK_MS)
    outcome: dict = {}

    def asking() -> None:
        try:
            producer.partitions_for("missing")
        except BaseException as exc:
            outcome["error"] = exc

    asker = threading.Thread(target=asking)
    asker.start()
    try:
        assert broker.waiting.wait(10), "partitions_for() never waited for metadata"
        producer.close(timeout=5)
    finally:
        asker.join(PROMPTLY_S)
    assert not asker.is_alive(), "partitions_for() waited out max_block_ms"
    assert isinstance(outcome.get("error"), IllegalStateError), outcome
    assert outcome["error"].args[0].startswith("partitions_for() on a closed KafkaProducer")


class CountingBroker(Broker):
    """A broker that counts the waits for its metadata to change."""

    def __init__(self) -> None:
        super().__init__(auto_create_topics_enable=False)
        self.waits = 0
        self.waiting = threading.Event()

    def await_metadata_change(self, version: int, timeout: float) -> int:
        self.waits += 1
        self.waiting.set()
        return super().await_metadata_change(version, timeout)


def test_a_send_waiting_on_a_broker_that_closes_waits_out_max_block_ms_without_spinning():
    # The closed broker answers every wait at once; the send() must still wait in slices
    # (about 20 a second), not ask again and again, and time out as after max_block_ms.
    broker = CountingBroker()
    producer = KafkaProducer(broker=broker, max_block_ms=1_000)
    outcome: dict = {}

    def send() -> None:
        try:
            producer.send("missing", b"x")
        except Exception as exc:  # noqa: BLE001 - the outcome is asserted below
            outcome["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert broker.waiting.wait(10), "send() never waited for metadata"
        broker.close()
        sender.join(30)
        assert not sender.is_alive()
    finally:
        producer.close(timeout=5)
        broker.close()
    assert type(outcome.get("error")).__name__ == "KafkaTimeoutError", outcome
    assert broker.waits <= 1 + 1_000 / 50 + 5, f"{broker.waits} waits: it spins"
