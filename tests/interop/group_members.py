"""Consumer-group members written with kafka-python and with confluent-kafka, as a student would.

A :class:`Member` subscribes with a rebalance listener, polls in its own thread (real clients
are used one thread per consumer) and records every listener event and every record it reads,
so that a test can replay who owned what, in which order. Both clients produce the same
observations, which the tests compare with what Apache Kafka does.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

try:
    import confluent_kafka
except ImportError:  # the confluent tests skip
    confluent_kafka = None

TIMEOUT_S = 30
#: Tansu rebalances take seconds each (about 3 s per join, measured), so CI runs one case of
#: each group lesson against it; ``PCMODEL_INTEROP_ALL=1`` runs every case.
RUN_ALL = os.environ.get("PCMODEL_INTEROP_ALL") == "1"
#: Short enough that a killed member's partitions move quickly; Kafka's broker minimum is 6 s,
#: Tansu's and pcmodel's are lower.
SESSION_MS = 2000
_names = itertools.count()

KAFKA_PYTHON_ASSIGNORS = {
    "range": RangePartitionAssignor,
    "roundrobin": RoundRobinPartitionAssignor,
    "sticky": StickyPartitionAssignor,
    "cooperative-sticky": CooperativeStickyAssignor,
}


def produce(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    """``per_partition`` records in each partition, values ``b"<partition>-<i>"``."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        for p in range(partitions):
            for i in range(per_partition):
                producer.send(topic, value=b"%d-%d" % (p, i), partition=p)
        producer.flush(TIMEOUT_S)
    finally:
        producer.close()


class Member:
    """One consumer of a group, polling in a thread; ``events`` and ``records`` are shared."""

    def __init__(self, client: str, bootstrap: str, topic: str, group: str, strategy: str,
                 log: list, lock: threading.Lock, *, commit: bool = True) -> None:
        self.name = f"{client[0]}{next(_names)}"
        self.client, self.topic, self.commit = client, topic, commit
        self.log, self.lock = log, lock
        self.records: list[tuple[int, int]] = []
        self.owned: set[int] = set()
        self.paused: set[int] = set()
        #: Commits that raised (racing a rebalance, say), for a failing test's message.
        self.commit_errors: list[str] = []
        self._stop = threading.Event()
        self._requests: list[tuple[str, set[int]]] = []
        self.error: BaseException | None = None
        if client == "kafka-python":
            self._consumer = KafkaConsumer(
                bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                enable_auto_commit=False, session_timeout_ms=SESSION_MS,
                heartbeat_interval_ms=300, request_timeout_ms=TIMEOUT_S * 1000 + 5000,
                partition_assignment_strategy=[KAFKA_PYTHON_ASSIGNORS[strategy]],
            )
            member = self

            class Listener(ConsumerRebalanceListener):
                def on_partitions_revoked(self, revoked):
                    member._event("revoked", revoked)

                def on_partitions_assigned(self, assigned):
                    member._event("assigned", assigned)

            self._consumer.subscribe([topic], listener=Listener())
        else:
            self._consumer = confluent_kafka.Consumer({
                "bootstrap.servers": bootstrap, "group.id": group,
                "auto.offset.reset": "earliest", "enable.auto.commit": False,
                "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 300,
                "partition.assignment.strategy": strategy, "log_level": 3,
            })
            self._consumer.subscribe(
                [topic],
                on_assign=lambda _c, parts: self._event("assigned", parts),
                on_revoke=lambda _c, parts: self._event("revoked", parts),
                on_lost=lambda _c, parts: self._event("lost", parts),
            )
        self._thread = threading.Thread(target=self._run, name=self.name)
        self._thread.start()

    def _event(self, kind: str, partitions: Any) -> None:
        numbers = sorted(tp.partition for tp in partitions)
        with self.lock:
            if kind == "assigned":
                self.owned |= set(numbers)
            else:
                self.owned -= set(numbers)
            self.log.append((self.name, kind, numbers))

    def pause(self, *partitions: int) -> None:
        """Ask the polling thread to pause ``partitions`` (clients are not thread-safe)."""
        with self.lock:
            self._requests.append(("pause", set(partitions)))

    def resume(self, *partitions: int) -> None:
        with self.lock:
            self._requests.append(("resume", set(partitions)))

    def _apply_requests(self) -> None:
        with self.lock:
            requests, self._requests = self._requests, []
        for what, numbers in requests:
            if self.client == "kafka-python":
                getattr(self._consumer, what)(*[KTopicPartition(self.topic, p) for p in numbers])
            else:
                getattr(self._consumer, what)(
                    [confluent_kafka.TopicPartition(self.topic, p) for p in numbers])
            with self.lock:
                self.paused = self.paused | numbers if what == "pause" else self.paused - numbers

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._apply_requests()
                got = self._poll()
                if got:
                    with self.lock:
                        self.records.extend(got)
                    if self.commit:
                        self._commit()
        except BaseException as exc:  # the test re-raises it
            self.error = exc

    def _poll(self) -> list[tuple[int, int]]:
        if self.client == "kafka-python":
            batches = self._consumer.poll(timeout_ms=100)
            return [(r.partition, r.offset) for rs in batches.values() for r in rs]
        messages = self._consumer.consume(num_messages=100, timeout=0.1)
        return [(m.partition(), m.offset()) for m in messages if not m.error()]

    def _commit(self) -> None:
        try:
            if self.client == "kafka-python":
                self._consumer.commit()
            else:
                self._consumer.commit(asynchronous=False)
        except Exception as exc:  # noqa: BLE001 - a commit racing a rebalance fails; records repeat
            with self.lock:
                self.commit_errors.append(repr(exc))

    def stop(self, *, close: bool = True) -> None:
        """Stop polling; ``close`` leaves the group (else the test abandons the client)."""
        self._stop.set()
        self._thread.join(TIMEOUT_S)
        if close:
            self._consumer.close()
        if self.error is not None:
            raise self.error


def wait_for(predicate: Any, what: str, timeout: float = TIMEOUT_S) -> None:
    """Poll ``predicate`` (observing other threads' state, not sleeping for them to run)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {what}")
        pause.wait(0.02)


def limit_tansu_cases(broker_name: str, case: tuple, in_ci: tuple | None) -> None:
    """Skip, saying why, a Tansu case other than ``in_ci`` (``None``: every one) unless every
    case was asked for."""
    import pytest

    if broker_name == "tansu" and case != in_ci and not RUN_ALL:
        which = f"one case runs in CI ({', '.join(in_ci)})" if in_ci else "it runs outside CI"
        pytest.skip(f"Tansu's rebalances take seconds: {which}; set PCMODEL_INTEROP_ALL=1 "
                    "for all")
