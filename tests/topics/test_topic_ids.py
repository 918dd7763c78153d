"""Topic ids (KIP-516): a broker draws a random id for every topic it creates, keeps it with the
topic, and draws a new one when a topic of the same name is created again."""

from __future__ import annotations

import uuid

from pcmodel.topics import Broker


def test_every_topic_gets_a_random_id_when_it_is_created():
    with Broker() as broker:
        broker.create_topic("orders", 3)
        broker.create_topic("payments", 1)
        ids = broker.topic_ids()
    assert sorted(ids) == ["orders", "payments"]
    assert all(isinstance(i, uuid.UUID) and i.version == 4 for i in ids.values())
    assert ids["orders"] != ids["payments"]


def test_the_id_stays_while_the_topic_lives_and_grows():
    with Broker() as broker:
        broker.create_topic("orders", 1)
        first = broker.topic_ids()["orders"]
        broker.add_partitions("orders", 4)
        assert broker.topic_ids()["orders"] == first


def test_a_topic_created_again_is_another_topic_with_a_new_id():
    with Broker() as broker:
        broker.create_topic("orders", 1)
        first = broker.topic_ids()["orders"]
        broker.delete_topic("orders")
        assert broker.topic_ids() == {}
        broker.create_topic("orders", 1)
        assert broker.topic_ids()["orders"] != first


def test_two_brokers_give_the_same_name_different_ids():
    """The id is drawn, not derived from the name."""
    with Broker() as one, Broker() as other:
        one.create_topic("orders", 1)
        other.create_topic("orders", 1)
        assert one.topic_ids()["orders"] != other.topic_ids()["orders"]


def test_an_auto_created_topic_has_an_id_too():
    with Broker(num_partitions=2) as broker:
        assert broker.partitions_for("made-on-demand", auto_create=True) == {0, 1}
        assert isinstance(broker.topic_ids()["made-on-demand"], uuid.UUID)


def test_the_admin_client_shows_the_ids_as_kafka_python_does():
    from pcmodel.topics.admin import KafkaAdminClient, NewTopic

    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        created = admin.create_topics([NewTopic("orders", 2, 1)])["topics"][0]
        topic_id = broker.topic_ids()["orders"]
        assert created["topic_id"] == str(topic_id)  # kafka-python gives these as text
        assert [t["topic_id"] for t in admin.describe_topics(["orders", "missing"])] == [
            str(topic_id), None]
        pages = admin.describe_topic_partitions(["orders"])["topics"]
        assert [t["topic_id"] for t in pages] == [topic_id]  # and this one as a UUID
        assert admin.delete_topics(["orders"])["topics"][0]["topic_id"] == str(topic_id)
