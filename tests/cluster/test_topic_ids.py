"""Topic ids (KIP-516) on a replicated cluster: the controller draws a random id when it creates
a topic (internal topics too), and every broker learns it with the partition states, in its
metadata image; a broker cut off from the controller keeps answering the ids it knew."""

from __future__ import annotations

import uuid

import pytest

pytest.importorskip("kafka", reason="the Kafka listener's view needs kafka-python")

from pcmodel.wire.node_connection import NodeConnection  # noqa: E402


def ids_seen_by(cluster, broker):
    """The topic ids broker ``broker``'s Kafka listener answers."""
    return NodeConnection(cluster.connect(), broker).topic_ids()


def test_the_controller_draws_an_id_for_every_topic_and_every_broker_learns_it(make_cluster):
    cluster = make_cluster(3)
    cluster.connect()  # creates __consumer_offsets
    cluster.create_topic("t", 2, replication_factor=3)
    cluster.settle()
    ids = cluster.controller.topic_ids
    assert isinstance(ids["t"], uuid.UUID) and ids["t"].version == 4
    assert "__consumer_offsets" in ids  # internal topics have ids too
    assert [ids_seen_by(cluster, b) for b in range(3)] == [dict(sorted(ids.items()))] * 3


def test_a_topic_created_again_gets_a_new_id(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=3)
    first = cluster.controller.topic_ids["t"]
    cluster.delete_topic("t")
    assert "t" not in ids_seen_by(cluster, 0)
    cluster.create_topic("t", 1, replication_factor=3)
    assert cluster.controller.topic_ids["t"] != first
    assert ids_seen_by(cluster, 1)["t"] == cluster.controller.topic_ids["t"]


def test_a_cut_off_broker_answers_the_ids_it_knew(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=1)
    cluster.settle()
    first = cluster.controller.topic_ids["t"]
    cluster.isolate(2, controller=True)
    cluster.delete_topic("t")
    cluster.create_topic("t", 1, replication_factor=1)
    second = cluster.controller.topic_ids["t"]
    assert ids_seen_by(cluster, 2)["t"] == first  # its stale image
    assert ids_seen_by(cluster, 0)["t"] == second
    cluster.heal(2)
    assert ids_seen_by(cluster, 2)["t"] == second


def test_the_admin_client_shows_the_controllers_ids(make_cluster):
    from pcmodel.topics.admin import KafkaAdminClient, NewTopic

    cluster = make_cluster(3)
    with KafkaAdminClient(broker=cluster) as admin:
        created = admin.create_topics([NewTopic("t", 1, 2)])["topics"][0]
        assert created["topic_id"] == str(cluster.topic_ids()["t"])
        assert admin.describe_topics(["t"])[0]["topic_id"] == created["topic_id"]
