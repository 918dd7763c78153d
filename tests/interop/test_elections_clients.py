"""ElectLeaders from real admin clients: kafka-python's ``elect_leaders`` and confluent-kafka's,
on a cluster's Kafka listeners after a broker came back, and raw requests at v0-v2."""

from __future__ import annotations

import pytest
from kafka.admin import KafkaAdminClient
from kafka.protocol.admin import ElectLeadersRequest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker
from pcmodel.topics.structs import TopicPartition
from tests.conftest import wait_until
from tests.wire.conftest import RawClient

confluent_admin = pytest.importorskip("confluent_kafka.admin")
confluent_kafka = pytest.importorskip("confluent_kafka")

FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)
NONE, INVALID_REQUEST, ELECTION_NOT_NEEDED = 0, 42, 84


def came_back(cluster):
    """Kill the preferred replica of partition 0, wait for another to lead it, restart it and
    wait until it is in sync again: partition 0 is then led by another broker than its
    preferred one, which is returned."""
    cluster.create_topic("t", 3, replication_factor=3)
    preferred = cluster.metadata()[TopicPartition("t", 0)].replicas[0]
    wait_until(lambda: cluster.leader("t", 0) == preferred, timeout=30)
    cluster.kill(preferred)
    wait_until(lambda: cluster.leader("t", 0) not in (None, preferred), timeout=30)
    cluster.restart(preferred)
    wait_until(lambda: cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
    return preferred


@pytest.mark.timeout(60)
def test_kafka_python_elects_the_preferred_leader_on_a_cluster():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        preferred = came_back(cluster)
        admin = KafkaAdminClient(bootstrap_servers=listeners.bootstrap_servers)
        try:
            response = admin.elect_leaders(0, {"t": [0]})
            again = admin.elect_leaders(0, {"t": [0]})  # ELECTION_NOT_NEEDED is not raised
        finally:
            admin.close()
        results = {p.partition_id: p.error_code
                   for p in response.replica_election_results[0].partition_result}
        assert (response.error_code, results) == (NONE, {0: NONE})
        assert again.replica_election_results[0].partition_result[0].error_code == (
            ELECTION_NOT_NEEDED)
        assert cluster.leader("t", 0) == preferred


@pytest.mark.timeout(60)
def test_confluent_kafka_elects_the_preferred_leader_on_a_cluster():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        preferred = came_back(cluster)
        admin = confluent_admin.AdminClient({"bootstrap.servers": listeners.bootstrap_servers})
        tp = confluent_kafka.TopicPartition("t", 0)
        answer = admin.elect_leaders(confluent_kafka.ElectionType.PREFERRED, [tp]).result(
            timeout=30)
        assert [(k.topic, k.partition) for k in answer] == [("t", 0)]
        assert list(answer.values()) == [None]
        assert cluster.leader("t", 0) == preferred
        again = admin.elect_leaders(confluent_kafka.ElectionType.PREFERRED, [tp]).result(
            timeout=30)
        assert "ELECTION_NOT_NEEDED" in str(list(again.values())[0])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("version", [0, 1, 2])
def test_elect_leaders_at_every_version_on_a_lone_broker(version):
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        topics = [ElectLeadersRequest.TopicPartitions(topic="t", partitions=[0, -1]),
                  ElectLeadersRequest.TopicPartitions(topic="nope", partitions=[0])]
        with RawClient(listener.address) as raw:
            response = raw.request(ElectLeadersRequest[version](
                election_type=1, topic_partitions=topics, timeout_ms=1000))
            codes = [[(p.partition_id, p.error_code) for p in t.partition_result]
                     for t in response.replica_election_results]
            assert codes == [[(0, ELECTION_NOT_NEEDED), (-1, 3)], [(0, 3)]]
            if version >= 1:
                assert response.error_code == NONE
                bad = raw.request(ElectLeadersRequest[version](
                    election_type=5, topic_partitions=topics[:1], timeout_ms=1000))
                assert bad.error_code == INVALID_REQUEST
                assert [p.error_code for p in bad.replica_election_results[0].partition_result
                        ] == [INVALID_REQUEST, INVALID_REQUEST]
            everything = raw.request(ElectLeadersRequest[version](
                election_type=0, topic_partitions=None, timeout_ms=1000))
            # Every topic is listed, as Kafka lists it, with nothing that needed an election.
            assert [(r.topic, r.partition_result) for r in
                    everything.replica_election_results] == [("t", [])]


@pytest.mark.timeout(60)
def test_a_partition_named_twice_is_elected_once_and_answered_twice():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        preferred = came_back(cluster)
        with RawClient(listeners.addresses[preferred]) as raw:
            response = raw.request(ElectLeadersRequest[2](election_type=0, topic_partitions=[
                ElectLeadersRequest.TopicPartitions(topic="t", partitions=[0, 0]),
                ElectLeadersRequest.TopicPartitions(topic="t", partitions=[0])],
                timeout_ms=1000))
            everything = raw.request(ElectLeadersRequest[2](
                election_type=0, topic_partitions=None, timeout_ms=1000))
        assert cluster.leader("t", 0) == preferred
    assert [(r.topic, [(p.partition_id, p.error_code) for p in r.partition_result])
            for r in response.replica_election_results] == [
        ("t", [(0, NONE), (0, ELECTION_NOT_NEEDED)]), ("t", [(0, ELECTION_NOT_NEEDED)])]
    assert [(r.topic, r.partition_result) for r in everything.replica_election_results] == [
        ("__consumer_offsets", []), ("t", [])]

