"""A client of a cluster dates what it creates by the cluster's wall clock.

A stepped cluster's wall clock is the machine's at its creation moved on by virtual time; its
brokers, coordinators and retention date everything by it. A producer connected to it dates
its records by the same clock, so a record created "now" is dated now for the brokers too:
``offsets_for_times`` finds it, and ``retention.ms`` ages it, by virtual time.
"""

from __future__ import annotations

import time

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import KafkaProducer, TopicPartition
from pcmodel.topics.log_records import wall_clock_ms

T0 = TopicPartition("t", 0)
MINUTE_MS = 60_000
#: Steps of a second (the brokers' heartbeats need them) keep ten minutes of virtual time short.
TICK_MS = 1000


@pytest.mark.timeout(60)
def test_after_ten_minutes_of_virtual_time_a_record_is_dated_by_the_cluster(make_cluster):
    cluster = make_cluster(3, tick_ms=TICK_MS)
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    cluster.run_for(600.0)
    producer = KafkaProducer(broker=cluster, acks="all")
    try:
        before = cluster.wall_clock_ms()
        future = producer.send("t", value=b"now")
        metadata = future.get(timeout=30)
        after = cluster.wall_clock_ms()
    finally:
        producer.close(timeout=10)
    assert before <= metadata.timestamp <= after  # the cluster's clock, within its steps
    assert metadata.timestamp - wall_clock_ms() > 9 * MINUTE_MS  # not the machine's
    [record] = list(cluster.log(cluster.leader("t", 0), "t", 0))
    assert record.timestamp == metadata.timestamp
    conn = cluster.connect()
    found = conn.offsets_for_times({T0: before - 1000})[T0]
    assert found is not None and found.offset == 0


@pytest.mark.timeout(60)
def test_a_stepped_clusters_retention_ages_a_new_record_by_virtual_time(make_cluster):
    cluster = make_cluster(3, tick_ms=TICK_MS)
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2,
                         retention_ms=10 * MINUTE_MS)
    cluster.run_for(1200.0)
    producer = KafkaProducer(broker=cluster, acks="all")
    try:
        producer.send("t", value=b"fresh").get(timeout=30)
    finally:
        producer.close(timeout=10)
    cluster.run_for(60.0)  # retention runs: a record dated 20 minutes back would go now
    assert [r.value for r in cluster.log(cluster.leader("t", 0), "t", 0)] == [b"fresh"]


@pytest.mark.timeout(60)
def test_a_real_time_clusters_clock_is_the_machines():
    # The same rule on a cluster in real time: its wall clock is the machine's.
    with Cluster(1, mode="threads") as cluster:
        producer = KafkaProducer(broker=cluster, acks="all")
        try:
            before = time.time_ns() // 1_000_000
            metadata = producer.send("t", value=b"now").get(timeout=30)
            after = time.time_ns() // 1_000_000
        finally:
            producer.close(timeout=10)
        assert before <= metadata.timestamp <= after
