"""The clock a client dates what it creates by (:mod:`pcmodel.topics.brokers_clock`).

A client of a lone broker dates by the machine's clock, as Kafka's clients do; a client of a
cluster asks its connection for the cluster's wall clock (see
``tests/cluster/test_client_dates_on_the_cluster_clock.py``).
"""

from __future__ import annotations

import time

import pytest

from pcmodel.topics import Broker, KafkaProducer
from pcmodel.topics.brokers_clock import brokers_wall_clock
from pcmodel.topics.log_records import wall_clock_ms


def machine_ms() -> int:
    return time.time_ns() // 1_000_000


class _ClusterLike:
    """A connection that says it replicates, with a clock of its own."""

    replicates = True

    def wall_clock_ms(self) -> int:
        return 42


class _AnswersEveryName:
    """As a proxy of a broker in another process: any name is a remote call."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: pytest.fail(f"{name} was called")


def test_a_connection_that_replicates_is_asked_for_its_clock():
    assert brokers_wall_clock(_ClusterLike())() == 42


def test_a_lone_broker_and_a_proxy_of_one_are_dated_by_the_machine():
    assert brokers_wall_clock(Broker()) is wall_clock_ms
    assert brokers_wall_clock(_AnswersEveryName()) is wall_clock_ms


@pytest.mark.timeout(30)
def test_a_producer_of_a_lone_broker_dates_records_by_the_machine():
    # The broker's own clock is an hour ahead: the producer's dates stay the machine's, as a
    # Kafka client's do (the broker stamps its own time only on a LogAppendTime topic).
    broker = Broker(timestamp_clock=lambda: machine_ms() + 3_600_000)
    broker.create_topic("t", 1)
    producer = KafkaProducer(broker=broker)
    try:
        before = machine_ms()
        metadata = producer.send("t", value=b"now").get(timeout=10)
        after = machine_ms()
    finally:
        producer.close(timeout=10)
    assert before <= metadata.timestamp <= after
