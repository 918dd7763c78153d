"""Fixtures for the topics layer: a broker per test, consumers that always close, hand clocks.

Consumers made by ``make_consumer`` use short fetch waits and heartbeat intervals so that group
changes are seen quickly; tests still synchronise on observable state (``wait_until`` over
``describe_group`` or a listener's events), never on sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.consumer import KafkaConsumer
from pcmodel.topics.consumer_protocol import encode_subscription
from pcmodel.topics.structs import ConsumerRebalanceListener, TopicPartition
from tests.conftest import wait_until

__all__ = ["FakeClock", "Poller", "RecordingListener", "WallClock", "group_settled", "wait_until"]

#: Settings that make a consumer react within milliseconds in tests.
FAST = {
    "fetch_max_wait_ms": 20,
    "heartbeat_interval_ms": 10,
    "session_timeout_ms": 10_000,
}


class WallClock:
    """A broker's wall clock (``timestamp_clock``, epoch milliseconds) that moves only when the
    test sets ``now``."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class FakeClock:
    """A monotonic clock that moves only when the test says so (seconds)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class RecordingListener(ConsumerRebalanceListener):
    """Appends ``(name, event, partitions)`` to a shared log; optionally commits on revoke."""

    def __init__(self, name: str, log: list, *, consumer: KafkaConsumer | None = None) -> None:
        self.name = name
        self.log = log
        self.consumer = consumer
        #: Identities of the threads the callbacks ran in (should be the polling thread only).
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def _note(self, event: str, partitions: Any) -> None:
        with self._lock:
            self.log.append((self.name, event, sorted(partitions)))
            self.threads.add(threading.get_ident())

    def on_partitions_revoked(self, revoked: Any) -> None:
        if self.consumer is not None and revoked:
            self.consumer.commit({tp: self.consumer.position(tp) for tp in revoked})
        self._note("revoked", revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._note("assigned", assigned)

    def on_partitions_lost(self, lost: Any) -> None:
        self._note("lost", lost)


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker()
    yield b
    b.close()


@pytest.fixture
def make_consumer(broker: Broker) -> Iterator[Callable[..., KafkaConsumer]]:
    """``make_consumer(*topics, **config)``: a consumer on ``broker``, closed at teardown."""
    made: list[KafkaConsumer] = []

    def make(*topics: str, **config: Any) -> KafkaConsumer:
        settings = {**FAST, **config}
        consumer = KafkaConsumer(*topics, broker=settings.pop("broker", broker), **settings)
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.close(autocommit=False)


def fill(broker: Broker, topic: str, partition: int, values: list[bytes]) -> None:
    """Append ``values`` (no keys) to one partition, one record per value."""
    broker.append(topic, partition, [(None, v) for v in values])


def drain(consumer: KafkaConsumer, count: int, timeout: float = 10.0) -> list:
    """Poll until ``count`` records arrived (fail after ``timeout`` s); return them in order."""
    got: list = []

    def more() -> bool:
        for records in consumer.poll(timeout_ms=20).values():
            got.extend(records)
        return len(got) >= count

    wait_until(more, timeout)
    return got


def tp(topic: str, partition: int) -> TopicPartition:
    return TopicPartition(topic, partition)


class Poller:
    """Calls ``consumer.poll()`` in a thread of its own until stopped, as an application would.

    Keeps every record it got (``records``) and the first exception (re-raised by ``stop()``).
    With ``commit=True`` it commits after each non-empty poll, i.e. after "processing".
    """

    def __init__(self, consumer: KafkaConsumer, *, commit: bool = False) -> None:
        self.consumer = consumer
        self.commit = commit
        self.records: list = []
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-poller")

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(raise_error=exc_info[0] is None)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self.consumer.poll(timeout_ms=20)
                with self._lock:
                    for records in batch.values():
                        self.records.extend(records)
                if batch and self.commit:
                    self.consumer.commit()
        except BaseException as exc:
            self.error = exc

    @property
    def ident(self) -> int | None:
        """The polling thread's identity (as ``threading.get_ident()`` returns in it)."""
        return self._thread.ident

    def count(self) -> int:
        with self._lock:
            return len(self.records)

    def stop(self, *, raise_error: bool = True) -> None:
        """Stop polling (the consumer stays open) and join the thread."""
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive(), "poller thread did not stop"
        if raise_error and self.error is not None:
            raise self.error


def group_settled(broker: Broker, group_id: str, members: int) -> Callable[[], bool]:
    """Predicate: the group is Stable with ``members`` members (for ``wait_until``)."""

    def settled() -> bool:
        try:
            d = broker.describe_group(group_id)
        except Exception:
            return False
        return d.state == "Stable" and len(d.members) == members

    return settled


def consumer_protocols(topics, strategies=("range",), owned=()):
    """JoinGroup protocols of a consumer: one ``(assignor, subscription)`` pair per strategy."""
    metadata = encode_subscription(topics, owned)
    return [(name, metadata) for name in strategies]


def join_alone(broker: Broker, group_id: str, topics, **kw):
    """Join ``group_id`` as its only member and sync as its leader; return the JoinResult."""
    joined = broker.join_group(group_id, "", protocols=consumer_protocols(topics), timeout=5, **kw)
    assert joined.leader == joined.member_id and not joined.pending
    broker.sync_group(group_id, joined.member_id, joined.generation, assignments={})
    return joined
