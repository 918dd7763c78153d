"""CreateTopics at a cluster's Kafka listener while a broker is down, answered as Kafka 4 does.

Kafka's KRaft controller counts the registered brokers, fenced ones included: three replicas
are placed with one broker of three down (its replica last, never the leader), and only a
factor above the registered brokers is INVALID_REPLICATION_FACTOR (38).
"""

from __future__ import annotations

import pytest
from kafka.protocol.admin import CreateTopicsRequest

from pcmodel.cluster import Cluster
from pcmodel.topics.structs import TopicPartition
from tests.conftest import wait_until
from tests.wire.conftest import FAST, RawClient

pytestmark = pytest.mark.timeout(60)

INVALID_REPLICATION_FACTOR = 38


def test_create_topics_places_replicas_on_a_fenced_broker_too():
    Topic = CreateTopicsRequest.CreatableTopic  # noqa: N806
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.kill(2)
        wait_until(lambda: 2 not in cluster.live_brokers())
        with RawClient(listeners.addresses[0]) as raw:
            response = raw.request(CreateTopicsRequest[7](topics=[
                Topic(name=name, num_partitions=1, replication_factor=rf, assignments=[],
                      configs=[])
                for name, rf in (("three", 3), ("four", 4))], timeout_ms=5000,
                validate_only=False))
        results = {r.name: r for r in response.topics}
        assert (results["three"].error_code, results["three"].replication_factor) == (0, 3)
        state = cluster.metadata()[TopicPartition("three", 0)]
        assert state.replicas[-1] == 2 and state.leader in (0, 1)
        assert results["four"].error_code == INVALID_REPLICATION_FACTOR
        assert "only 3 broker(s) are registered" in results["four"].error_message
