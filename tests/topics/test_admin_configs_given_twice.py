"""``alter_configs`` and ``reset_configs`` with a resource given twice alter it for neither
entry, as Kafka's broker answers (``ConfigAdminManager.preprocess``: INVALID_REQUEST "Each
resource must appear at most once." for every entry of that resource), on a lone broker, a
broker in another process and a cluster alike; the other resources of the call are altered."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pcmodel.topics import Broker
from pcmodel.topics.admin import (
    AlterConfigOp,
    ConfigResource,
    ConfigResourceType,
    KafkaAdminClient,
    NewTopic,
)
from tests.topics.admin_targets import broker_process, cluster, lone_broker

pytestmark = pytest.mark.timeout(30)

TOPIC = ConfigResourceType.TOPIC
GIVEN_TWICE = "Each resource must appear at most once."


WHERE = [lone_broker, broker_process, cluster]


def retention(admin: KafkaAdminClient, topic: str) -> str | None:
    described = admin.describe_configs([ConfigResource(TOPIC, topic)])
    entry = described["topic"][topic].get("retention.ms")
    return None if entry is None else entry["value"]


@pytest.mark.parametrize("where", WHERE, ids=lambda w: w.__name__)
@pytest.mark.parametrize("incremental", [True, False])
def test_a_topic_given_twice_is_altered_for_neither_entry(where: Callable, incremental: bool):
    with where() as target, KafkaAdminClient(broker=target) as admin:
        admin.create_topics([NewTopic("a", 1), NewTopic("b", 1)])
        result = admin.alter_configs([
            ConfigResource(TOPIC, "a", {"retention.ms": "1000"}),
            ConfigResource(TOPIC, "b", {"retention.ms": "2000"}),
            ConfigResource(TOPIC, "a", {"retention.ms": "3000"}),
        ], incremental=incremental)
        assert result["topic"]["b"] == "OK"
        assert result["topic"]["a"].startswith("[Error 42] InvalidRequestError")
        assert result["topic"]["a"].endswith(GIVEN_TWICE)
        assert retention(admin, "a") is None  # neither 1000 nor 3000: nothing half-applied
        assert retention(admin, "b") == "2000"


@pytest.mark.parametrize("where", WHERE, ids=lambda w: w.__name__)
def test_a_topic_reset_twice_keeps_its_configs(where: Callable):
    with where() as target, KafkaAdminClient(broker=target) as admin:
        admin.create_topics([NewTopic("a", 1, topic_configs={"retention.ms": "1000"})])
        result = admin.reset_configs([ConfigResource(TOPIC, "a", ["retention.ms"]),
                                      ConfigResource(TOPIC, "a", ["retention.ms"])])
        assert result["topic"]["a"].endswith(GIVEN_TWICE)
        assert retention(admin, "a") == "1000"


def test_a_resource_given_once_per_type_is_not_a_repeat():
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        admin.create_topics([NewTopic("0", 1)])
        result = admin.alter_configs([
            ConfigResource(TOPIC, "0", {"retention.ms": (AlterConfigOp.SET, "5000")}),
            ConfigResource(ConfigResourceType.BROKER, "0", {}),
        ], raise_on_unknown=False)
        assert result == {"topic": {"0": "OK"}, "broker": {"0": "OK"}}
        assert retention(admin, "0") == "5000"


def test_a_broker_altered_with_no_configs_is_answered_ok_as_the_kafka_listener_answers():
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        result = admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, "0", {})])
        refused = admin.alter_configs(
            [ConfigResource(ConfigResourceType.BROKER, "0", {"num.partitions": "2"})],
            raise_on_unknown=False)
    assert result == {"broker": {"0": "OK"}}
    assert refused["broker"]["0"].startswith("[Error 42] InvalidRequestError")
