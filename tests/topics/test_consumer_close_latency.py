"""``close()`` does not wait for the fetcher's long poll at a broker or cluster in this process.

The fetcher waits at the broker up to ``fetch_max_wait_ms`` for records. A Java consumer's
``close()`` drops a fetch in flight; here ``close()`` sets the consumer's stop event, which the
fetch takes as its ``cancel``, and wakes the waiting fetches (``wake_fetches()``), so the fetch
returns at once. Each test makes the wait long (20 s) and closes while the fetcher is known to
be blocked in it: the fetcher thread's stack shows it waiting inside the broker's (or the
cluster connection's) ``fetch``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker, KafkaConsumer, TopicPartition
from pcmodel.topics.errors import IllegalStateError
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)

T0 = TopicPartition("t", 0)
#: Far longer than close() may take: a close that waits for the fetch takes this long.
LONG_WAIT_MS = 20_000
#: The bound on close(): far below the wait, far above a close that does not wait for it.
CLOSE_BOUND_S = 5.0
#: A long fetch wait must be shorter than the request timeout (Kafka's rule, checked).
SETTINGS = {"fetch_max_wait_ms": LONG_WAIT_MS, "request_timeout_ms": 30_000}
#: Where the fetch waits: the lone broker's fetch, a cluster connection's fetch.
FETCH_FILES = ("broker_produce_fetch.py", "client_data.py")


@pytest.fixture(params=["broker", "cluster"])
def where(request: pytest.FixtureRequest) -> Iterator[Any]:
    """What a consumer is given as ``broker=``: a lone broker, or a connection to a cluster of
    three brokers; either way it has the topic ``t`` with one partition."""
    if request.param == "broker":
        broker = Broker()
        broker.create_topic("t", 1)
        yield broker
        broker.close()
    else:
        with Cluster(brokers=3) as cluster:
            conn = cluster.connect()
            conn.create_topic("t", 1, replication_factor=3)
            yield conn


@pytest.fixture
def consumers() -> Iterator[list[KafkaConsumer]]:
    """Consumers a test opens; each is closed at the end, whatever the test did."""
    opened: list[KafkaConsumer] = []
    yield opened
    for consumer in opened:
        consumer.close()


def waiting_in_fetch(consumer: KafkaConsumer) -> bool:
    """Whether the consumer's fetcher thread is blocked in a ``Condition.wait`` inside a
    broker's or a cluster connection's ``fetch``: its long poll, waiting for records."""
    frame = sys._current_frames().get(consumer._fetcher.ident)
    if frame is None or frame.f_code.co_name != "wait" \
            or Path(frame.f_code.co_filename).name != "threading.py":
        return False
    while frame is not None:
        code = frame.f_code
        if code.co_name == "fetch" and Path(code.co_filename).name in FETCH_FILES:
            return True
        frame = frame.f_back
    return False


def assigned_and_waiting(where: Any, consumers: list[KafkaConsumer],
                         **configs: Any) -> KafkaConsumer:
    """A consumer of ``t-0``, positioned at its (empty) end, whose fetcher waits at the
    broker for records."""
    consumer = KafkaConsumer(broker=where, auto_offset_reset="earliest", **SETTINGS, **configs)
    consumers.append(consumer)
    consumer.assign([T0])
    assert consumer.poll(timeout_ms=0) == {}  # positions the partition: the fetcher starts
    wait_until(lambda: waiting_in_fetch(consumer), timeout=10)
    return consumer


def timed_close(consumer: KafkaConsumer) -> float:
    started = time.monotonic()
    consumer.close()
    return time.monotonic() - started


def test_close_ends_the_fetch_waiting_at_the_broker(where, consumers):
    consumer = assigned_and_waiting(where, consumers)
    elapsed = timed_close(consumer)
    assert elapsed < CLOSE_BOUND_S, f"close() took {elapsed:.1f} s: it waited for the fetch"
    assert not consumer._fetcher.is_alive()


def test_closing_one_consumer_leaves_the_others_fetches_waiting(where, consumers):
    """The wake-up reaches every fetch waiting there: the other consumer's fetch checks its own
    stop event, waits again and still gets a record appended afterwards."""
    other = assigned_and_waiting(where, consumers)
    closing = assigned_and_waiting(where, consumers)
    assert timed_close(closing) < CLOSE_BOUND_S
    assert other._fetcher.is_alive()
    where.append("t", 0, [(None, b"after")])
    records = other.poll(timeout_ms=10_000)
    assert [r.value for r in records[T0]] == [b"after"]


def test_a_record_appended_after_close_is_never_delivered(where, consumers):
    consumer = assigned_and_waiting(where, consumers)
    fetches = consumer._counts["fetches"]
    assert timed_close(consumer) < CLOSE_BOUND_S
    where.append("t", 0, [(None, b"late")])
    assert not consumer._fetcher.is_alive()  # nothing is left to fetch it
    assert consumer._counts["fetches"] <= fetches + 1  # the abandoned fetch at most
    with pytest.raises(IllegalStateError, match="closed"):
        consumer.poll(timeout_ms=0)


def test_close_twice_is_quick_and_harmless(where, consumers):
    consumer = assigned_and_waiting(where, consumers)
    assert timed_close(consumer) < CLOSE_BOUND_S
    assert timed_close(consumer) < CLOSE_BOUND_S
    assert not consumer._fetcher.is_alive()


def test_a_group_member_leaves_its_group_on_a_quick_close(where, consumers):
    consumer = KafkaConsumer(broker=where, group_id="g", auto_offset_reset="earliest",
                             heartbeat_interval_ms=50, **SETTINGS)
    consumers.append(consumer)
    consumer.subscribe(["t"])
    deadline = time.monotonic() + 20
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(timeout_ms=100)
    assert consumer.assignment() == {T0}
    wait_until(lambda: waiting_in_fetch(consumer), timeout=10)
    assert timed_close(consumer) < CLOSE_BOUND_S
    assert where.describe_group("g").members == ()


def test_the_fetcher_sees_close_before_its_wait_too(where, consumers, monkeypatch):
    """A close that comes while the fetch is on its way to the broker: the fetch finds the stop
    event set before it waits, and returns at once."""
    consumer = KafkaConsumer(broker=where, auto_offset_reset="earliest", **SETTINGS)
    consumers.append(consumer)
    consumer.assign([T0])
    started = threading.Event()
    fetch = type(where).fetch  # the only fetches here are this consumer's fetcher's

    def fetch_after_close(conn: Any, *args: Any, **kwargs: Any) -> Any:
        started.set()
        consumer._stop.wait()  # close() has set the stop event (and maybe woken the waiters)
        return fetch(conn, *args, **kwargs)

    monkeypatch.setattr(type(where), "fetch", fetch_after_close)
    consumer.poll(timeout_ms=0)
    assert started.wait(10)
    assert timed_close(consumer) < CLOSE_BOUND_S


class _SignallingBroker(Broker):
    """A lone broker that says when a fetch reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.fetching = threading.Event()

    def fetch(self, offsets: Any, **kwargs: Any) -> Any:
        self.fetching.set()
        return super().fetch(offsets, **kwargs)


def test_close_shuts_the_fetch_waiting_at_a_broker_process():
    """Through a broker server (as a broker process is reached) no event travels with the
    fetch: close() shuts the fetcher's own connection, whose answer it would drop anyway."""
    from pcmodel.topics.remote import BrokerServer

    broker = _SignallingBroker()
    broker.create_topic("t", 1)
    server = BrokerServer(broker).start()
    try:
        consumer = KafkaConsumer(broker=server.handle, auto_offset_reset="earliest", **SETTINGS)
        try:
            consumer.assign([T0])
            consumer.poll(timeout_ms=0)
            assert broker.fetching.wait(10)
        finally:
            elapsed = timed_close(consumer)
        assert elapsed < CLOSE_BOUND_S, f"close() took {elapsed:.1f} s: it waited for the fetch"
        assert not consumer._fetcher.is_alive()
    finally:
        broker.close()  # wakes the fetch the server still serves
        server.stop()


@pytest.mark.parametrize("cancel", [True, "stop", threading.Lock()])
def test_a_cancel_that_is_not_an_event_is_refused_before_the_wait(where, cancel):
    with pytest.raises(TypeError, match="cancel must be a threading.Event or None, got "):
        where.fetch({T0: 0}, timeout=30, cancel=cancel)
