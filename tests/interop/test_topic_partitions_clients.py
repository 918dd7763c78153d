"""DescribeTopicPartitions (KIP-966) from a real admin client (kafka-python 3's
``describe_topic_partitions``; confluent-kafka and kcat describe topics with Metadata): the
same pages as pcmodel's admin client, on a lone broker and on a cluster's listeners."""

from __future__ import annotations

import pytest
from kafka.admin import KafkaAdminClient

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker
from pcmodel.topics import KafkaAdminClient as PcmodelAdminClient
from tests.conftest import wait_until

FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)

CASES = [
    ([], {}),
    ([], {"response_partition_limit": 3}),
    ([], {"response_partition_limit": 3, "cursor": {"topic_name": "b", "partition_index": 1}}),
    (["c", "nope", "bad name!"], {}),
    (["c"], {"cursor": {"topic_name": "a", "partition_index": 0}}),
    (["a"], {"cursor": {"topic_name": "a", "partition_index": -1}}),
    (["b", "a"], {"response_partition_limit": 0}),
]


@pytest.mark.timeout(60)
def test_kafka_python_and_pcmodel_page_alike_on_a_lone_broker():
    with Broker() as broker, broker.serve_kafka() as listener:
        for name, count in (("a", 2), ("b", 2), ("c", 1)):
            broker.create_topic(name, count)
        theirs = KafkaAdminClient(bootstrap_servers=listener.bootstrap_servers)
        try:
            with PcmodelAdminClient(broker=broker) as ours:
                for topics, options in CASES:
                    assert ours.describe_topic_partitions(topics, **options) == \
                        theirs.describe_topic_partitions(topics, **options), (topics, options)
        finally:
            theirs.close()


@pytest.mark.timeout(60)
def test_a_partition_whose_replicas_are_down_has_no_leader_and_no_error():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 3, replication_factor=1)
        lost = cluster.metadata()[("t", 1)].replicas[0]
        cluster.kill(lost)
        wait_until(lambda: cluster.leader("t", 1) is None, timeout=30)
        theirs = KafkaAdminClient(bootstrap_servers=listeners.bootstrap_servers)
        try:
            with PcmodelAdminClient(broker=cluster) as ours:
                answer = theirs.describe_topic_partitions(["t"])
                assert answer == ours.describe_topic_partitions(["t"])
                (internal,) = theirs.describe_topic_partitions(["__consumer_offsets"])["topics"]
                assert (internal["error_code"], internal["is_internal"]) == (0, True)
        finally:
            theirs.close()
    partitions = {p["partition_index"]: p for p in answer["topics"][0]["partitions"]}
    assert (partitions[1]["error_code"], partitions[1]["leader_id"]) == (0, -1)
    assert partitions[1]["offline_replicas"] == [lost]
    assert {partitions[p]["leader_id"] for p in (0, 2)} <= {b for b in range(3) if b != lost}
