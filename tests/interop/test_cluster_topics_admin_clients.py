"""kafka-python 3's admin client creating and deleting topics on a replicated cluster, answered
as Kafka's controller answers: a taken name before a replication factor it cannot place, and
a topic given by id deleted by that id alone."""

from __future__ import annotations

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from pcmodel.cluster import Cluster
from pcmodel.wire.node_connection import NodeConnection

FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)
TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_ID = 36, 100


@pytest.mark.timeout(60)
def test_kafka_python_admin_creates_and_deletes_topics_as_kafkas_controller_answers(
        monkeypatch):
    with Cluster(2, **FAST) as cluster, cluster.serve_kafka() as listeners:
        admin = KafkaAdminClient(bootstrap_servers=listeners.bootstrap_servers)
        try:
            internal = next(name for name in cluster.topic_ids() if name.startswith("__"))
            created = admin.create_topics([NewTopic(internal, 1, 9)], raise_errors=False)
            assert [(t["name"], t["error_code"]) for t in created["topics"]] == [
                (internal, TOPIC_ALREADY_EXISTS)]

            cluster.create_topic("again", 1, replication_factor=2)
            old = cluster.topic_ids()["again"]
            read_ids = NodeConnection.topic_ids

            def ids_then_another_admin_recreates_the_topic(self):
                ids = read_ids(self)  # the request's check; then the topic is made anew
                if cluster.topic_ids().get("again") == old:
                    cluster.delete_topic("again")
                    cluster.create_topic("again", 3, replication_factor=2)
                return ids

            monkeypatch.setattr(NodeConnection, "topic_ids",
                                ids_then_another_admin_recreates_the_topic)
            deleted = admin.delete_topics([old], raise_errors=False)
            monkeypatch.undo()
            assert [(t["name"], t["error_code"]) for t in deleted["topics"]] == [
                (None, UNKNOWN_TOPIC_ID)]
            assert cluster.connect().list_topics()["again"] == 3
        finally:
            admin.close()
