"""pcmodel's KafkaProducer and KafkaConsumer on a replicated cluster: they follow the leaders,
and neither acknowledged records nor committed offsets are lost when a broker dies."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import KafkaConsumer, KafkaProducer, TopicPartition
from tests.conftest import wait_until

# Quick to notice a dead broker, yet generous enough that a loaded machine fences no live one.
FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)


@pytest.fixture(params=["threads", "processes"])
def cluster(request):
    # In process mode every broker is an OS process and kill() is a SIGKILL.
    settings = FAST if request.param == "threads" else dict(FAST, tick_ms=20)
    with Cluster(3, mode=request.param, **settings) as c:
        yield c


def values(records):
    return [r.value for r in records]


@pytest.mark.parametrize("fault", ["kill", "stop"])
def test_producer_follows_a_new_leader_and_loses_nothing_with_acks_all(cluster, fault):
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    producer = KafkaProducer(broker=cluster, acks="all", retries=2000, retry_backoff_ms=20,
                             enable_idempotence=True)
    try:
        sent = [producer.send("t", value=b"%d" % i) for i in range(20)]
        assert [f.get(timeout=10).offset for f in sent] == list(range(20))
        old = cluster.leader("t", 0)
        getattr(cluster, fault)(old)  # a crash, or a controlled shutdown
        more = [producer.send("t", value=b"%d" % i) for i in range(20, 40)]
        assert [f.get(timeout=20).offset for f in more] == list(range(20, 40))
        new = cluster.leader("t", 0)
        assert new != old
    finally:
        producer.close(timeout=10)
    log = cluster.log(new, "t", 0)
    assert values(log) == [b"%d" % i for i in range(40)]  # every record once, in order


def test_consumer_group_keeps_reading_and_committed_offsets_survive(cluster):
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    producer = KafkaProducer(broker=cluster, acks="all", retries=2000, retry_backoff_ms=20)
    consumer = KafkaConsumer("t", broker=cluster, group_id="g", auto_offset_reset="earliest",
                             enable_auto_commit=False, fetch_max_wait_ms=20,
                             heartbeat_interval_ms=10, session_timeout_ms=3000)
    try:
        for i in range(10):
            producer.send("t", value=b"a%d" % i, partition=i % 2)
        producer.flush(timeout=10)
        seen: list[bytes] = []

        def read(count):
            def more():
                for records in consumer.poll(timeout_ms=50).values():
                    seen.extend(values(records))
                return len(seen) >= count
            wait_until(more, timeout=30)

        read(10)
        consumer.commit()
        coordinator = cluster.connect()._offsets.coordinator("g")
        cluster.kill(coordinator)  # the group's coordinator and a leader of some partitions
        for i in range(10):
            producer.send("t", value=b"b%d" % i, partition=i % 2)
        producer.flush(timeout=20)
        read(20)
        assert sorted(seen) == sorted([b"a%d" % i for i in range(10)] +
                                      [b"b%d" % i for i in range(10)])
        consumer.commit()
        committed = {tp: consumer.committed(tp) for tp in (TopicPartition("t", 0),
                                                           TopicPartition("t", 1))}
        assert committed == {TopicPartition("t", 0): 10, TopicPartition("t", 1): 10}
    finally:
        consumer.close()
        producer.close(timeout=10)


def test_the_cluster_connection_offers_every_client_method():
    from pcmodel.cluster.client import ClusterConnection
    from pcmodel.topics.broker import CLIENT_METHODS

    assert [m for m in CLIENT_METHODS if not hasattr(ClusterConnection, m)] == []
