"""pcmodel's own (classic) consumer in a group that becomes a Kafka 4 consumer group and back.

The consumer-protocol member is driven by hand with ConsumerGroupHeartbeat calls, as a
``group.protocol=consumer`` client sends them; the pcmodel consumer runs as a program would,
polling in this thread with its heartbeat thread behind it. It is told to rejoin by its
heartbeats, follows the consumer group's target assignment, and takes every partition back
when the group is classic again; its commits and the records it reads carry over.
"""

from __future__ import annotations

import pytest

from pcmodel.topics import KafkaConsumer, KafkaProducer
from pcmodel.topics.broker import Broker
from pcmodel.topics.coordinator import GroupState
from pcmodel.topics.structs import TopicPartition
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(30)

PARTITIONS = 4


@pytest.fixture
def broker():
    with Broker(group_consumer_session_timeout_ms=20_000) as b:
        b.create_topic("orders", PARTITIONS)
        yield b


def produce(broker, values):
    producer = KafkaProducer(broker=broker)
    for value in values:
        producer.send("orders", value=str(value).encode(), partition=value % PARTITIONS)
    producer.flush()
    producer.close()


def test_a_pcmodel_consumer_follows_its_group_through_both_conversions(broker):
    produce(broker, range(40))
    consumer = KafkaConsumer("orders", broker=broker, group_id="g", heartbeat_interval_ms=20,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    seen: set[tuple[int, int]] = set()

    def poll() -> None:
        for tp, records in consumer.poll(timeout_ms=20).items():
            seen.update((tp.partition, r.offset) for r in records)
            consumer.commit({tp: records[-1].offset + 1})

    def owns() -> set[int]:
        return {tp.partition for tp in consumer.assignment()}

    try:
        wait_until(lambda: poll() or len(seen) == 40)
        generation = broker.describe_group("g").generation
        joined = broker.consumer_group_heartbeat(
            "g", "modern", 0, subscribed_topic_names=["orders"], owned_partitions={},
            rebalance_timeout_ms=5_000)
        assert joined.member_epoch == generation + 1
        assert broker.consumer_group_states() == {"g": "Reconciling"}
        # The pcmodel consumer is told to rejoin, and gives up half of its partitions.
        wait_until(lambda: poll() or len(owns()) == PARTITIONS // 2)
        answer = broker.consumer_group_heartbeat("g", "modern", joined.member_epoch,
                                                 owned_partitions={})
        modern = set(answer.assignment["orders"])
        assert modern and not modern & owns() and modern | owns() == set(range(PARTITIONS))
        assert broker.consumer_group_states() == {"g": "Stable"}
        produce(broker, range(40, 80))
        wait_until(lambda: poll() or len(seen) == 40 + 40 // PARTITIONS * len(owns()))
        # The consumer-protocol member leaves: a classic group again, which rebalances.
        broker.consumer_group_heartbeat("g", "modern", -1)
        assert broker.consumer_group_states() == {}
        wait_until(lambda: poll() or owns() == set(range(PARTITIONS)))
        wait_until(lambda: poll() or len(seen) == 80)
        assert broker.describe_group("g").state is GroupState.STABLE
    finally:
        consumer.close()
    # The records of the consumer-protocol member's partitions were left for the classic one.
    assert seen == {(p, o) for p in range(PARTITIONS) for o in range(20)}
    committed = broker.all_committed("g")
    assert {tp: om.offset for tp, om in committed.items()} == \
        {TopicPartition("orders", p): 20 for p in range(PARTITIONS)}
