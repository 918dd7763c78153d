"""KafkaAdminClient.create_topics checks a new topic in the order of Kafka's controller (its
name, then a topic it would clash with, then the rest), so a program that creates its topics
and ignores ``TopicAlreadyExistsError`` sees that error here as on Kafka; a topic named twice
in one call is neither created nor deleted, as Kafka answers such a request."""

from __future__ import annotations

import pytest

from pcmodel.topics import Broker
from pcmodel.topics.admin import KafkaAdminClient, NewTopic
from pcmodel.topics.errors import (
    InvalidPartitionsError,
    InvalidRequestError,
    InvalidTopicError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)


@pytest.fixture
def admin():
    with Broker() as broker, KafkaAdminClient(broker=broker) as client:
        broker.create_topic("orders.eu", 1)
        yield client


@pytest.mark.parametrize("validate_only", [False, True])
def test_an_existing_topic_is_already_exists_even_with_settings_a_broker_refuses(
        admin, validate_only):
    with pytest.raises(TopicAlreadyExistsError, match=r"^.*Topic 'orders.eu' already exists\.$"):
        admin.create_topics([NewTopic("orders.eu", 1, replication_factor=3)],
                            validate_only=validate_only)


@pytest.mark.parametrize("validate_only", [False, True])
def test_a_name_that_differs_only_by_dot_against_underscore_is_refused(admin, validate_only):
    with pytest.raises(InvalidTopicError, match="collides with existing topic: orders.eu"):
        admin.create_topics([NewTopic("orders_eu", 1)], validate_only=validate_only)
    assert admin.list_topics() == ["orders.eu"]


@pytest.mark.parametrize("partitions", [0, -3])
def test_a_partition_count_below_one_is_refused_with_kafkas_message(admin, partitions):
    answer = admin.create_topics([NewTopic("t", partitions)], raise_errors=False)["topics"][0]
    assert (answer["error_code"], answer["error_message"]) == (
        InvalidPartitionsError.errno,
        "Number of partitions was set to an invalid non-positive value.")
    assert admin.list_topics() == ["orders.eu"]


def test_growing_a_topic_that_does_not_exist_is_unknown_whatever_the_total():
    with Broker() as broker:
        for total in (0, -1, 3):
            with pytest.raises(UnknownTopicOrPartitionError):
                broker.add_partitions("nope", total)
        with pytest.raises(TypeError, match="total must be an int"):
            broker.add_partitions("nope", "3")


@pytest.mark.parametrize("validate_only", [False, True])
def test_a_topic_named_twice_is_created_for_neither_entry(admin, validate_only):
    answer = admin.create_topics([NewTopic("a", 1), NewTopic("b", 2), NewTopic("a", 3)],
                                 validate_only=validate_only, raise_errors=False)["topics"]
    assert [(t["name"], t["error_code"], t["error_message"]) for t in answer] == [
        ("b", 0, None), ("a", InvalidRequestError.errno, "Duplicate topic name.")]
    assert admin.list_topics() == (["orders.eu"] if validate_only else ["b", "orders.eu"])
    with pytest.raises(InvalidRequestError, match="Duplicate topic name"):
        admin.create_topics([NewTopic("c", 1), NewTopic("c", 1)])


def test_a_topic_named_twice_is_not_deleted(admin):
    answer = admin.delete_topics(["orders.eu", "orders.eu"], raise_errors=False)["topics"]
    assert [(t["name"], t["topic_id"], t["error_code"]) for t in answer] == [
        ("orders.eu", None, InvalidRequestError.errno)]
    assert admin.list_topics() == ["orders.eu"]
