"""CreateTopics on a lone broker's Kafka listener, checked as Kafka's controller checks a new
topic (``ReplicationControlManager.createTopics``): its name, then a topic it would clash
with, then its configs, then its replicas and partitions; with validate_only the same checks,
nothing created. Each refusal carries Kafka's error code, and Kafka's message where Kafka
fixes it."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import CreateTopicsRequest

pytestmark = pytest.mark.timeout(30)

INVALID_TOPIC, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS = 17, 36, 37
INVALID_REPLICATION_FACTOR, INVALID_CONFIG = 38, 40
Creatable = CreateTopicsRequest.CreatableTopic
Config = Creatable.CreatableTopicConfig


def create(raw, name, partitions=1, replication_factor=-1, configs=(), validate_only=False):
    """``(error code, error message)`` of CreateTopics v7 for one topic."""
    answer = raw.request(CreateTopicsRequest[7](
        topics=[Creatable(name=name, num_partitions=partitions,
                          replication_factor=replication_factor, assignments=[],
                          configs=[Config(name=k, value=v) for k, v in configs])],
        timeout_ms=5000, validate_only=validate_only)).topics
    return [(t.error_code, t.error_message) for t in answer][0]


@pytest.mark.parametrize("validate_only", [False, True])
def test_a_name_that_differs_only_by_dot_against_underscore_collides(broker, raw,
                                                                       validate_only):
    broker.create_topic("orders.eu", 1)
    assert create(raw, "orders_eu", validate_only=validate_only) == (
        INVALID_TOPIC, "Topic 'orders_eu' collides with existing topic: orders.eu")
    assert create(raw, "orders.eu", validate_only=validate_only) == (
        TOPIC_ALREADY_EXISTS, "Topic 'orders.eu' already exists.")
    assert broker.list_topics() == {"orders.eu": 1}


@pytest.mark.parametrize("validate_only", [False, True])
def test_an_existing_topic_is_answered_already_exists_whatever_else_is_wrong(broker, raw,
                                                                              validate_only):
    broker.create_topic("t", 1)
    for partitions, replication_factor in [(1, 3), (0, -1), (-5, 0)]:
        assert create(raw, "t", partitions, replication_factor,
                      validate_only=validate_only)[0] == TOPIC_ALREADY_EXISTS
    assert create(raw, "t", configs=[("retention.ms", "abc")],
                  validate_only=validate_only)[0] == TOPIC_ALREADY_EXISTS


def test_an_illegal_name_is_answered_before_the_replication_factor(broker, raw):
    assert create(raw, "no spaces", 1, 3)[0] == INVALID_TOPIC
    assert broker.list_topics() == {}


@pytest.mark.parametrize("validate_only", [False, True])
@pytest.mark.parametrize("partitions", [0, -2])
def test_a_partition_count_below_one_has_kafkas_message(broker, raw, partitions, validate_only):
    assert create(raw, "t", partitions, validate_only=validate_only) == (
        INVALID_PARTITIONS, "Number of partitions was set to an invalid non-positive value.")
    assert broker.list_topics() == {}


def test_the_replication_factor_is_checked_before_the_partition_count(broker, raw):
    assert create(raw, "t", 0, 0)[0] == INVALID_REPLICATION_FACTOR


@pytest.mark.parametrize("validate_only", [False, True])
def test_a_config_without_a_value_is_invalid_config_naming_each(broker, raw, validate_only):
    answer = create(raw, "t", configs=[("retention.ms", None), ("cleanup.policy", "delete"),
                                       ("retention.bytes", None)], validate_only=validate_only)
    assert answer == (INVALID_CONFIG,
                      "Null value not supported for topic configs: retention.ms,retention.bytes")
    assert broker.list_topics() == {}


def test_configs_are_checked_before_the_partition_count(broker, raw):
    assert create(raw, "t", 0, configs=[("retention.ms", "abc")])[0] == INVALID_CONFIG
