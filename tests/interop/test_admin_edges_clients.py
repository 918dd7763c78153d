"""Admin requests at the edges, from real admin clients: a topic named twice in one CreateTopics
or DeleteTopics is neither created nor deleted (kafka-python 3's ``KafkaAdminClient`` sends what
it is given), a group that does not exist is described as Kafka 4 describes it, and
DescribeConfigs reads an empty list of keys and an illegal topic name as Kafka does."""

from __future__ import annotations

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import InvalidRequestError

from pcmodel.topics import Broker


@pytest.fixture
def served():
    with Broker() as broker, broker.serve_kafka() as listener:
        admin = KafkaAdminClient(bootstrap_servers=listener.bootstrap_servers)
        try:
            yield broker, admin, listener.bootstrap_servers
        finally:
            admin.close()


@pytest.mark.timeout(60)
def test_a_topic_named_twice_is_not_created(served):
    broker, admin, _ = served
    with pytest.raises(InvalidRequestError, match="Duplicate topic name"):
        admin.create_topics([NewTopic("twice", 1, 1), NewTopic("twice", 2, 1)])
    assert "twice" not in broker.list_topics()
    # The request's other topics are created.
    with pytest.raises(InvalidRequestError):
        admin.create_topics([NewTopic("twice", 1, 1), NewTopic("once", 1, 1),
                             NewTopic("twice", 1, 1)])
    assert broker.list_topics() == {"once": 1}


@pytest.mark.timeout(60)
def test_a_topic_named_twice_is_not_deleted(served):
    broker, admin, _ = served
    broker.create_topic("twice", 1)
    broker.create_topic("once", 1)
    with pytest.raises(InvalidRequestError, match="Duplicate topic name"):
        admin.delete_topics(["twice", "once", "twice"])
    assert broker.list_topics() == {"twice": 1}


@pytest.mark.timeout(60)
def test_describing_a_group_that_does_not_exist(served):
    _, admin, bootstrap = served
    # kafka-python asks at DescribeGroups v6, where Kafka answers GROUP_ID_NOT_FOUND (KIP-1043).
    described = admin.describe_groups(["nobody"])["nobody"]
    assert described["group_state"] == "Dead"
    assert described["error"] == "[Error 69] GroupIdNotFoundError: Group nobody not found."
    # librdkafka asks at an older version: Dead, and no error.
    confluent_admin = pytest.importorskip("confluent_kafka.admin")
    from confluent_kafka import ConsumerGroupState

    theirs = confluent_admin.AdminClient({"bootstrap.servers": bootstrap})
    nobody = theirs.describe_consumer_groups(["nobody"])["nobody"].result(timeout=20)
    assert nobody.state == ConsumerGroupState.DEAD


@pytest.mark.timeout(60)
def test_describe_configs_with_no_keys_named_describes_them_all(served):
    broker, admin, _ = served
    broker.create_topic("t", 1, configs={"retention.ms": "60000"})

    def described(keys):
        return admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "t", keys)],
                                      config_filter="all")["topic"]["t"]

    every = described(None)  # null: no filter
    assert every["retention.ms"]["value"] == "60000" and len(every) > 20
    assert described([]) == every  # empty: no filter either (Kafka's ConfigHelper)
    assert list(described(["retention.ms"])) == ["retention.ms"]


@pytest.mark.timeout(60)
def test_describe_configs_of_an_illegal_topic_name_is_invalid_topic(served):
    _, _, bootstrap = served
    confluent_admin = pytest.importorskip("confluent_kafka.admin")
    from confluent_kafka import KafkaException

    theirs = confluent_admin.AdminClient({"bootstrap.servers": bootstrap})
    resource = confluent_admin.ConfigResource(confluent_admin.ResourceType.TOPIC, "bad name!")
    with pytest.raises(KafkaException) as failed:
        theirs.describe_configs([resource])[resource].result(timeout=20)
    assert failed.value.args[0].code() == 17  # INVALID_TOPIC_EXCEPTION, not "unknown topic"
