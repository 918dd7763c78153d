"""Real clients read what pcmodel's listener answers about groups as a Kafka broker answers it:
each member of a described group shows the address its consumer connected from, in Kafka's
``/address`` form (what ``kafka-consumer-groups --describe`` prints as HOST)."""

from __future__ import annotations

import time

import pytest

from pcmodel.topics import Broker

pytestmark = pytest.mark.timeout(60)


def test_a_described_member_shows_its_consumers_address():
    kafka = pytest.importorskip("kafka", reason="needs kafka-python")
    confluent_admin = pytest.importorskip("confluent_kafka.admin",
                                          reason="needs confluent-kafka (the interop extra)")
    # Kafka's initial rebalance delay, as tests/interop/conftest.py explains: without one,
    # kafka-python 3.0.12 may miss the answer to its first group round.
    with Broker(group_initial_rebalance_delay_ms=300) as broker, \
            broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        consumer = kafka.KafkaConsumer("t", bootstrap_servers=listener.bootstrap_servers,
                                       group_id="g", client_id="the-consumer")
        admin = confluent_admin.AdminClient({"bootstrap.servers": listener.bootstrap_servers})
        try:
            deadline = time.monotonic() + 30
            while not consumer.assignment():
                assert time.monotonic() < deadline, "the consumer got no assignment"
                consumer.poll(timeout_ms=100)
            described = admin.describe_consumer_groups(["g"])["g"].result(timeout=20)
        finally:
            consumer.close()
        [member] = described.members
        assert (member.client_id, member.host) == ("the-consumer", "/127.0.0.1")
