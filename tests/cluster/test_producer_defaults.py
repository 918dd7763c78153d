"""pcmodel's KafkaProducer with Kafka's defaults on a replicated cluster: ``acks="all"``,
idempotence and retries until ``delivery_timeout_ms`` carry a record through a new leader, stored
once, with no setting given."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import KafkaProducer
from pcmodel.topics.errors import KafkaConnectionError

pytestmark = pytest.mark.timeout(60)

# Quick to notice a dead broker, yet generous enough that a loaded machine fences no live one.
FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)


@pytest.fixture
def cluster():
    with Cluster(3, **FAST) as c:
        c.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
        yield c


class LosesTheFirstAnswer:
    """A cluster connection whose first append is stored (acks="all": on every in-sync
    replica) and then loses its answer with the leader, which dies: the producer cannot know
    whether the record was stored."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.conn = cluster.connect()
        self.appends = 0

    def connect(self) -> LosesTheFirstAnswer:
        return self

    def __getattr__(self, name: str):
        return getattr(self.conn, name)

    def append(self, topic, partition, records, **kwargs):
        return self._once(self.conn.append, topic, partition, records, **kwargs)

    def append_idempotent(self, topic, partition, records, **kwargs):
        return self._once(self.conn.append_idempotent, topic, partition, records, **kwargs)

    def _once(self, append, topic, partition, records, **kwargs):
        self.appends += 1
        result = append(topic, partition, records, **kwargs)
        if self.appends == 1:
            self.cluster.kill(self.cluster.leader(topic, partition))
            raise KafkaConnectionError("the leader died before it answered")
        return result


def stored(cluster: Cluster) -> list[bytes]:
    return [r.value for r in cluster.log(cluster.leader("t", 0), "t", 0)]


def test_a_default_producer_retries_through_a_new_leader_and_stores_the_record_once(cluster):
    conn = LosesTheFirstAnswer(cluster)
    producer = KafkaProducer(broker=conn)
    try:
        assert producer.send("t", b"payment").get(timeout=30).offset == 0
        assert producer.send("t", b"next").get(timeout=30).offset == 1
    finally:
        producer.close(timeout=10)
    assert conn.appends >= 2  # the first append was answered only by its retry
    assert stored(cluster) == [b"payment", b"next"]  # the retry was recognised, not appended


def test_a_default_producer_keeps_sending_when_the_leader_dies(cluster):
    producer = KafkaProducer(broker=cluster)
    try:
        assert producer.send("t", b"0").get(timeout=30).offset == 0
        old = cluster.leader("t", 0)
        cluster.kill(old)
        more = [producer.send("t", b"%d" % i) for i in range(1, 6)]
        assert [f.get(timeout=30).offset for f in more] == [1, 2, 3, 4, 5]
        assert cluster.leader("t", 0) != old
    finally:
        producer.close(timeout=10)
    assert stored(cluster) == [b"%d" % i for i in range(6)]


def test_without_retries_the_send_fails_with_the_leader(cluster):
    """The old lesson still holds when asked for: no retries, and the send fails."""
    producer = KafkaProducer(broker=LosesTheFirstAnswer(cluster), retries=0)
    try:
        with pytest.raises(KafkaConnectionError):
            producer.send("t", b"payment").get(timeout=30)
    finally:
        producer.close(timeout=10)
