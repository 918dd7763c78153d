"""Real consumers validating their position after a leader change (KIP-320) on a replicated
cluster: each record is delivered once, as with Kafka.

A consumer remembers the leader epoch of the last record it read (the partitionLeaderEpoch of
its batch) and, when the partition gets a new leader, asks it where that epoch ends
(OffsetForLeaderEpoch); an end below its position means the new leader lost records it read,
and it seeks back there. With every fetched batch saying "epoch 0", records written in epoch 1
looked to librdkafka and kafka-python like records of epoch 0, which ends where epoch 1 began:
they sought back and read epoch 1's records twice.
"""

from __future__ import annotations

import pytest

pytest.importorskip("kafka", reason="the leader-epoch lessons need kafka-python")

from pcmodel.cluster import Cluster, NotLeaderForPartitionError  # noqa: E402
from tests.conftest import wait_until  # noqa: E402

pytestmark = pytest.mark.timeout(90)

SETTINGS = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)


def _write(cluster, values):
    """Append ``values`` to ``t``-0 with acks=all, at whichever broker leads it now."""
    def written():
        try:
            cluster.produce("t", 0, [(None, v) for v in values], acks="all").get(timeout=10)
        except NotLeaderForPartitionError:  # the new leader has not heard it leads yet
            return False
        return True
    wait_until(written, timeout=20, interval=0.05)


class _Confluent:
    def __init__(self, bootstrap):
        confluent = pytest.importorskip("confluent_kafka")
        self.consumer = confluent.Consumer({
            "bootstrap.servers": bootstrap, "group.id": "epochs", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100, "log_level": 3,
        })
        self.consumer.assign([confluent.TopicPartition("t", 0, 0)])

    def poll(self):
        message = self.consumer.poll(0.1)
        if message is None or message.error():
            return []
        return [(message.offset(), message.leader_epoch())]

    def close(self):
        self.consumer.close()


class _KafkaPython:
    def __init__(self, bootstrap):
        import kafka

        self.consumer = kafka.KafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=100, retry_backoff_ms=50, reconnect_backoff_ms=50)
        tp = kafka.TopicPartition("t", 0)
        self.consumer.assign([tp])
        self.consumer.seek(tp, 0)

    def poll(self):
        return [(r.offset, r.leader_epoch) for records in self.consumer.poll(timeout_ms=100)
                .values() for r in records]

    def close(self):
        self.consumer.close()


@pytest.mark.parametrize("client", [_Confluent, _KafkaPython], ids=["confluent", "kafka-python"])
def test_a_consumer_reads_each_record_once_across_leader_changes(client):
    with Cluster(3, **SETTINGS) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=3)
        wait_until(lambda: len(cluster.isr("t", 0)) == 3, timeout=30)
        _write(cluster, [b"%d" % i for i in range(5)])             # epoch 0: offsets 0-4
        cluster.stop(cluster.leader("t", 0))                       # a new leader, epoch 1
        _write(cluster, [b"%d" % i for i in range(5, 10)])         # epoch 1: offsets 5-9
        consumer = client(listeners.bootstrap_servers)
        got: list[tuple[int, int]] = []

        def read_through(offset):
            def done():
                got.extend(consumer.poll())
                return any(o >= offset for o, _ in got)
            wait_until(done, timeout=30)

        try:
            read_through(9)
            # The consumer's position is 10, its last record of epoch 1. A new leader (epoch
            # 2): the consumer validates "epoch 1 up to 10" with it, which must hold.
            cluster.stop(cluster.leader("t", 0))
            _write(cluster, [b"%d" % i for i in range(10, 15)])    # epoch 2: offsets 10-14
            read_through(14)
        finally:
            consumer.close()
        assert [offset for offset, _ in got] == list(range(15))  # each once, in order
        assert [epoch for _, epoch in got] == [0] * 5 + [1] * 5 + [2] * 5
