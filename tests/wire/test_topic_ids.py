"""Topic ids (KIP-516) on a lone broker's Kafka listener: Metadata v10+ answers them, v12 takes
them, CreateTopics v7 tells the new topic's, DeleteTopics v6 deletes by them,
DescribeTopicPartitions answers them; kafka-python's admin client shows them. Each as Kafka's
broker answers."""

from __future__ import annotations

import uuid

import pytest
from kafka.protocol.admin import CreateTopicsRequest, DeleteTopicsRequest
from kafka.protocol.admin.topics import DescribeTopicPartitionsRequest
from kafka.protocol.metadata import MetadataRequest

pytestmark = pytest.mark.timeout(30)

UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST, UNKNOWN_TOPIC_ID = 3, 42, 100
Asked = MetadataRequest.MetadataRequestTopic


def metadata(raw, topics, version=12, create=False):
    return raw.request(MetadataRequest[version](topics=topics,
                                                allow_auto_topic_creation=create)).topics


def test_metadata_answers_each_topics_id(broker, raw):
    broker.create_topic("a", 2)
    broker.create_topic("b", 1)
    ids = broker.topic_ids()
    for version in (10, 12):
        every = metadata(raw, None, version)
        assert [(t.name, t.topic_id) for t in every] == [("a", ids["a"]), ("b", ids["b"])]
    named = metadata(raw, [Asked(name="b", topic_id=None), Asked(name="nope", topic_id=None)])
    # An unknown topic has Kafka's "no id", the zero UUID (None in kafka-python).
    assert [(t.error_code, t.name, t.topic_id) for t in named] == [
        (0, "b", ids["b"]), (UNKNOWN_TOPIC_OR_PARTITION, "nope", None)]


def test_metadata_v12_resolves_topics_asked_by_id(broker, raw):
    broker.create_topic("a", 3)
    known, unknown = broker.topic_ids()["a"], uuid.uuid4()
    answer = metadata(raw, [Asked(name=None, topic_id=known),
                            Asked(name=None, topic_id=unknown)])
    assert [(t.error_code, t.name, t.topic_id, len(t.partitions)) for t in answer] == [
        (0, "a", known, 3), (UNKNOWN_TOPIC_ID, None, unknown, 0)]


def test_metadata_by_id_ignores_the_names_and_creates_nothing(broker, raw):
    broker.create_topic("a", 1)
    known = broker.topic_ids()["a"]
    answer = metadata(raw, [Asked(name=None, topic_id=known), Asked(name="other", topic_id=None)],
                      create=True)
    assert [(t.name, t.topic_id) for t in answer] == [("a", known)]
    assert broker.list_topics() == {"a": 1}


def test_a_topic_id_below_v12_refuses_the_request(broker, raw):
    broker.create_topic("a", 1)
    known = broker.topic_ids()["a"]
    response = raw.request(MetadataRequest[11](
        topics=[Asked(name="a", topic_id=known)], allow_auto_topic_creation=False))
    assert response.brokers == []
    assert [(t.error_code, t.name, t.topic_id) for t in response.topics] == [
        (INVALID_REQUEST, "a", known)]


def test_a_topic_created_again_answers_a_new_id_and_the_old_one_is_unknown(broker, raw):
    broker.create_topic("a", 1)
    old = broker.topic_ids()["a"]
    broker.delete_topic("a")
    broker.create_topic("a", 1)
    new = broker.topic_ids()["a"]
    assert new != old
    assert [t.topic_id for t in metadata(raw, [Asked(name="a", topic_id=None)])] == [new]
    gone = metadata(raw, [Asked(name=None, topic_id=old)])
    assert [(t.error_code, t.name) for t in gone] == [(UNKNOWN_TOPIC_ID, None)]


def test_create_topics_v7_answers_the_new_topics_id(broker, raw):
    Creatable = CreateTopicsRequest.CreatableTopic  # noqa: N806

    def create(name, validate_only):
        return raw.request(CreateTopicsRequest[7](topics=[Creatable(
            name=name, num_partitions=2, replication_factor=-1, assignments=[], configs=[])],
            timeout_ms=5000, validate_only=validate_only)).topics[0]

    checked = create("a", True)
    assert (checked.error_code, checked.topic_id) == (0, None)  # nothing created, no id
    created = create("a", False)
    assert created.error_code == 0 and created.topic_id == broker.topic_ids()["a"]
    again = create("a", False)
    assert again.error_code != 0 and again.topic_id is None


def test_delete_topics_v6_deletes_by_id(broker, raw):
    for name in ("a", "b", "c"):
        broker.create_topic(name, 1)
    ids = broker.topic_ids()
    State = DeleteTopicsRequest.DeleteTopicState  # noqa: N806
    unknown = uuid.uuid4()
    answer = raw.request(DeleteTopicsRequest[6](timeout_ms=5000, topics=[
        State(name=None, topic_id=ids["a"]), State(name=None, topic_id=unknown),
        State(name="b", topic_id=None), State(name=None, topic_id=ids["c"]),
        State(name=None, topic_id=ids["c"])]))
    assert sorted((r.name or "", r.topic_id == ids.get(r.name or ""), r.topic_id == unknown,
                   r.error_code, r.error_message) for r in answer.responses) == [
        ("", False, False, INVALID_REQUEST, "Duplicate topic id."),
        ("", False, True, UNKNOWN_TOPIC_ID, "This server does not host this topic ID."),
        ("a", True, False, 0, None),
        ("b", True, False, 0, None)]  # deleted by name, answered with its id
    assert broker.list_topics() == {"c": 1}


def test_delete_topics_refuses_a_name_whose_id_is_given_too(broker, raw):
    broker.create_topic("a", 1)
    known = broker.topic_ids()["a"]
    State = DeleteTopicsRequest.DeleteTopicState  # noqa: N806
    answer = raw.request(DeleteTopicsRequest[6](timeout_ms=5000, topics=[
        State(name=None, topic_id=known), State(name="a", topic_id=None)]))
    assert [(r.name, r.topic_id, r.error_code) for r in answer.responses] == [
        ("a", known, INVALID_REQUEST)]
    assert broker.list_topics() == {"a": 1}


def test_describe_topic_partitions_answers_the_ids(broker, raw):
    broker.create_topic("a", 2)
    Topic = DescribeTopicPartitionsRequest.TopicRequest  # noqa: N806
    answer = raw.request(DescribeTopicPartitionsRequest[0](
        topics=[Topic(name="a"), Topic(name="nope")], response_partition_limit=100,
        cursor=None)).topics
    assert [(t.name, t.error_code, t.topic_id) for t in answer] == [
        ("a", 0, broker.topic_ids()["a"]), ("nope", UNKNOWN_TOPIC_OR_PARTITION, None)]


def test_kafka_python_admin_describes_topics_by_name_and_by_id(broker, listener):
    from kafka import KafkaAdminClient

    broker.create_topic("a", 2)
    broker.create_topic("b", 1)
    ids = broker.topic_ids()
    admin = KafkaAdminClient(bootstrap_servers=listener.bootstrap_servers,
                             request_timeout_ms=10_000)
    try:
        by_name = admin.describe_topics(["a"])
        by_id = admin.describe_topics([ids["b"]])
    finally:
        admin.close()
    # kafka-python hands the ids out as text.
    assert [(t["name"], t["topic_id"]) for t in by_name] == [("a", str(ids["a"]))]
    assert [(t["name"], t["topic_id"]) for t in by_id] == [("b", str(ids["b"]))]


def test_an_unknown_topic_id_is_answered_unknown_topic_id(broker, raw):
    """Asked for an id it does not know, the broker answers UNKNOWN_TOPIC_ID with no name (a
    topic asked by id has no name to fail on)."""
    broker.create_topic("a", 1)
    unknown = uuid.uuid4()
    answer = metadata(raw, [Asked(name=None, topic_id=unknown)])
    assert [(t.error_code, t.name, t.topic_id, t.partitions) for t in answer] == [
        (UNKNOWN_TOPIC_ID, None, unknown, [])]
    assert broker.list_topics() == {"a": 1}
