"""A new topic's replication factor, checked as Kafka's KRaft controller checks it.

Kafka 4's controller counts the *registered* brokers, fenced (down) ones included: a factor
above them is refused ("The target replication factor of 4 cannot be reached because only 3
broker(s) are registered."), and so is any topic while every broker is fenced; a factor above
the live brokers is accepted, the fenced brokers' replicas placed last (``StripedReplicaPlacer``)
and caught up when they return. Every refusal is INVALID_REPLICATION_FACTOR. Settings: the
cluster defaults (``broker_session_timeout_ms=1500``), on virtual time.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import KafkaAdminClient, NewTopic
from pcmodel.topics.errors import IllegalArgumentError, InvalidReplicationFactorError
from pcmodel.topics.replica_placement import check_replication_factor
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(60)


def test_three_replicas_with_one_broker_of_three_down(make_cluster):
    cluster = make_cluster(3)
    with KafkaAdminClient(broker=cluster) as admin:
        cluster.kill(2)
        cluster.run_for(2.0)  # past the session timeout: broker 2 is fenced
        assert cluster.live_brokers() == {0, 1}
        answer = admin.create_topics([NewTopic("t", 2, replication_factor=3)])
        assert [(t["error_code"], t["replication_factor"]) for t in answer["topics"]] == [
            (0, 3)]
        for p in (0, 1):
            state = cluster.metadata()[TopicPartition("t", p)]
            assert state.replicas[-1] == 2 and state.leader in (0, 1)
            assert state.isr == {0, 1}
        with pytest.raises(InvalidReplicationFactorError,
                           match="replication factor of 4 cannot be reached because only 3"):
            admin.create_topics([NewTopic("four", 1, replication_factor=4)])
        cluster.restart(2)
        cluster.settle()
        assert cluster.isr("t", 0) == {0, 1, 2}


def test_no_topic_while_every_broker_is_fenced(make_cluster):
    cluster = make_cluster(2)
    conn = cluster.connect()
    for broker in (0, 1):
        cluster.kill(broker)
    cluster.run_for(2.0)
    assert cluster.live_brokers() == set()
    for factor in (1, None):
        with pytest.raises(InvalidReplicationFactorError,
                           match="All brokers are currently fenced"):
            conn.create_topic("t", 1, replication_factor=factor)
    assert "t" not in conn.list_topics()


def test_the_checks_in_kafkas_order():
    assert check_replication_factor(3, 3, 2) == 3
    assert check_replication_factor(-1, 3, 1, default=3) is None
    with pytest.raises(InvalidReplicationFactorError, match="larger than 0, or -1"):
        check_replication_factor(0, 3, 0)
    with pytest.raises(InvalidReplicationFactorError,
                       match=r"Unable to replicate the partition 3 time\(s\): All brokers"):
        check_replication_factor(-1, 3, 0, default=3)
    with pytest.raises(InvalidReplicationFactorError,
                       match=r"partition 4 time\(s\): The target replication factor of 4 "
                             r"cannot be reached because only 3 broker\(s\) are registered\."):
        check_replication_factor(4, 3, 3)


@pytest.mark.parametrize("factor", [0, -1, 4, "2", 2.5, True])
def test_a_default_replication_factor_no_topic_could_have_is_refused_at_once(factor):
    # Left unchecked, 0 became three replicas, and the rest failed only at a topic's creation,
    # as that topic's own bad factor.
    with pytest.raises(IllegalArgumentError,
                       match=r"default_replication_factor must be an int between 1 and the 3 "
                             r"brokers, got "):
        Cluster(3, mode="steps", default_replication_factor=factor)


@pytest.mark.parametrize(("brokers", "given", "expected"),
                         [(1, None, 1), (2, None, 2), (5, None, 3), (5, 5, 5), (3, 1, 1)])
def test_the_default_replication_factor(brokers, given, expected):
    cluster = Cluster(brokers, mode="steps", default_replication_factor=given)
    try:
        assert cluster.default_replication_factor == expected
        cluster.create_topic("t", 1)
        assert len(cluster.metadata()[TopicPartition("t", 0)].replicas) == expected
    finally:
        cluster.close()
