"""Producer expiration on a cluster: each replica forgets, by itself, an idempotent producer
whose newest batch is older than ``producer.id.expiration.ms``, at the check its broker runs
every ``producer.id.expiration.check.interval.ms`` and when it restarts; a replica that does
not know a producer takes its next batch whatever its sequence number.

Record timestamps are the producer's, so a batch stamped two hours ago is two hours old to the
check; the check's interval is measured by the cluster's (virtual) clock.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.producers import BatchInfo, ProducerState
from pcmodel.topics.errors import (
    IllegalArgumentError,
    KafkaConnectionError,
    OutOfOrderSequenceNumberError,
)
from pcmodel.topics.log_records import wall_clock_ms
from pcmodel.topics.structs import ActiveProducer, TopicPartition
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)

HOUR = 3_600_000


def batch(value, age_ms=0):
    return [(None, value, (), wall_clock_ms() - age_ms)]


def producers(cluster, broker):
    return cluster.describe_producers(broker, "t", 0)


def values(cluster, broker):
    return [r.value for r in cluster.log(broker, "t", 0)]


def test_every_replica_forgets_a_producer_silent_past_the_expiration_time(make_cluster):
    cluster = make_cluster(producer_id_expiration_ms=HOUR,
                           producer_id_expiration_check_interval_ms=100)
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    pid, epoch = cluster.init_producer_id()
    other, other_epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"old", HOUR + 60_000), acks="all",
                    producer=(pid, epoch, 0)).get(timeout=5)
    cluster.produce("t", 0, batch(b"new"), acks="all",
                    producer=(other, other_epoch, 0)).get(timeout=5)
    stamp = cluster.log(cluster.leader("t", 0), "t", 0)[1].timestamp
    cluster.run_for(0.2)  # every broker's check came due
    for broker in range(3):
        assert producers(cluster, broker) == (ActiveProducer(other, other_epoch, 0, stamp),)
    retry = cluster.produce("t", 0, batch(b"old", 2 * HOUR), acks="all",
                            producer=(pid, epoch, 0))
    assert retry.get(timeout=5).base_offset == 2  # forgotten: the retry is stored again
    cluster.settle()
    assert values(cluster, cluster.leader("t", 0)) == [b"old", b"new", b"old"]


def test_a_replica_that_forgot_a_producer_takes_any_sequence_then_checks_again(make_cluster):
    cluster = make_cluster(producer_id_expiration_ms=HOUR,
                           producer_id_expiration_check_interval_ms=100)
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"a", 2 * HOUR), acks="all",
                    producer=(pid, epoch, 0)).get(timeout=5)
    cluster.run_for(0.2)
    cluster.produce("t", 0, batch(b"f"), acks="all", producer=(pid, epoch, 5)).get(timeout=5)
    with pytest.raises(OutOfOrderSequenceNumberError, match="expected 6"):
        cluster.produce("t", 0, batch(b"h"), acks="all",
                        producer=(pid, epoch, 7)).get(timeout=5)
    cluster.settle()
    for broker in range(3):
        assert [p.last_sequence for p in producers(cluster, broker)] == [5]


def test_the_check_waits_for_its_interval_and_runs_again_after_a_restart(make_cluster):
    # Ten seconds rather than Kafka's ten minutes: the same waits, in 200 ticks, not 12,000.
    cluster = make_cluster(producer_id_expiration_ms=HOUR,
                           producer_id_expiration_check_interval_ms=10_000)
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    cluster.step()  # each broker's first check ran: the next is ten seconds on
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"old", 2 * HOUR), acks="all",
                    producer=(pid, epoch, 0)).get(timeout=5)
    cluster.run_for(1.0)
    assert all(producers(cluster, b) for b in range(3))  # old, but not checked yet
    follower = next(b for b in range(3) if b != cluster.leader("t", 0))
    cluster.kill(follower)
    cluster.restart(follower)
    cluster.step()
    assert producers(cluster, follower) == ()  # a restart checks at once
    assert all(producers(cluster, b) for b in range(3) if b != follower)
    cluster.run_for(10.0)
    assert [producers(cluster, b) for b in range(3)] == [(), (), ()]


def test_the_cluster_refuses_bad_settings_and_describes_the_expiration_time(make_cluster):
    for name in ("producer_id_expiration_ms", "producer_id_expiration_check_interval_ms"):
        with pytest.raises(IllegalArgumentError, match=name):
            Cluster(1, mode="steps", **{name: 0})
    cluster = make_cluster(producer_id_expiration_ms=HOUR)
    entries = {e.name: e.value for e in cluster.describe_broker_configs(1)}
    assert entries["producer.id.expiration.ms"] == str(HOUR)


def test_broker_processes_forget_expired_producers_too():
    with Cluster(2, mode="processes", producer_id_expiration_ms=HOUR,
                 producer_id_expiration_check_interval_ms=50) as cluster:
        cluster.create_topic("t", replication_factor=2)
        pid, epoch = cluster.init_producer_id()
        other, other_epoch = cluster.init_producer_id()
        cluster.produce("t", 0, batch(b"new"), acks="all",
                        producer=(other, other_epoch, 0)).get(timeout=10)
        cluster.produce("t", 0, batch(b"old", 2 * HOUR), acks="all",
                        producer=(pid, epoch, 0)).get(timeout=10)
        wait_until(lambda: [[p.producer_id for p in producers(cluster, b)]
                            for b in range(2)] == [[other], [other]], timeout=20)
        tp = TopicPartition("t", 0)
        assert cluster.expire_producers(0, wall_clock_ms() + 2 * HOUR) == {tp: (other,)}
        assert producers(cluster, 0) == () and len(producers(cluster, 1)) == 1


def test_a_truncation_does_not_bring_back_an_expired_producer():
    state = ProducerState()
    state.record(BatchInfo(7, 0, 0, 0, 2, max_timestamp=1_000))
    state.record(BatchInfo(8, 0, 0, 2, 1, max_timestamp=1_000 + HOUR))
    assert state.expire(1_000 + HOUR, HOUR) == (7,)
    state.truncate(3)  # rebuilt from the batches kept: 7's went with it
    assert [p.producer_id for p in state.active()] == [8]
    assert state.batches_from(0, 3) == (BatchInfo(8, 0, 0, 2, 1, max_timestamp=1_000 + HOUR),)


def test_expire_producers_runs_one_brokers_check_as_at_a_moment_named(make_cluster):
    cluster = make_cluster(producer_id_expiration_ms=HOUR,
                           producer_id_expiration_check_interval_ms=10 * 60_000)
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"a"), acks="all", producer=(pid, epoch, 0)).get(timeout=5)
    cluster.settle()
    stamp = cluster.log(0, "t", 0)[0].timestamp
    assert cluster.expire_producers(1, stamp + HOUR - 1) == {}
    assert cluster.expire_producers(1, stamp + HOUR) == {TopicPartition("t", 0): (pid,)}
    assert producers(cluster, 1) == ()
    assert producers(cluster, 0) and producers(cluster, 2)  # their own checks: not yet
    assert cluster.expire_producers(0) == {}  # now: the batch is recent
    with pytest.raises(IllegalArgumentError, match="now_ms"):
        cluster.expire_producers(0, -1)
    with pytest.raises(TypeError, match="now_ms"):
        cluster.expire_producers(0, 1.5)
    with pytest.raises(IllegalArgumentError):
        cluster.expire_producers(7)
    cluster.kill(2)
    with pytest.raises(KafkaConnectionError):
        cluster.expire_producers(2)
