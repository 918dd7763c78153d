"""AlterConfigs and IncrementalAlterConfigs on a lone broker's Kafka listener: what Kafka's
``ConfigAdminManager.preprocess`` refuses before it looks at a resource (a config named twice,
a value missing) and its broker id checks, with Kafka's codes and messages."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import (
    AlterConfigsRequest,
    DescribeConfigsRequest,
    IncrementalAlterConfigsRequest,
)

pytestmark = pytest.mark.timeout(30)

INVALID_REQUEST = 42
TOPIC, BROKER = 2, 4
SET, DELETE = 0, 1
Legacy = AlterConfigsRequest.AlterConfigsResource
Incremental = IncrementalAlterConfigsRequest.AlterConfigsResource


def alter(raw, *resources):
    """``[(error code, message)]`` of IncrementalAlterConfigs v1 for each ``(type, name,
    [(config, operation, value)])`` resource."""
    request = IncrementalAlterConfigsRequest[1](validate_only=False, resources=[
        Incremental(resource_type=kind, resource_name=name, configs=[
            Incremental.AlterableConfig(name=c, config_operation=op, value=v)
            for c, op, v in configs])
        for kind, name, configs in resources])
    return [(r.error_code, r.error_message) for r in raw.request(request).responses]


def alter_legacy(raw, *resources):
    """``[(error code, message)]`` of AlterConfigs v2 for each ``(type, name, [(config,
    value)])`` resource."""
    request = AlterConfigsRequest[2](validate_only=False, resources=[
        Legacy(resource_type=kind, resource_name=name, configs=[
            Legacy.AlterableConfig(name=c, value=v) for c, v in configs])
        for kind, name, configs in resources])
    return [(r.error_code, r.error_message) for r in raw.request(request).responses]


def overrides(broker, topic):
    return {e.name: e.value for e in broker.describe_topic_configs(topic)
            if e.source.is_modified}


def test_a_missing_value_is_invalid_request_unless_the_config_is_deleted(broker, raw):
    broker.create_topic("t", 1, configs={"retention.ms": "5000"})
    assert alter(raw, (TOPIC, "t", [("retention.ms", SET, None), ("retention.bytes", SET, None)
                                    ])) == [
        (INVALID_REQUEST, "Null value not supported for : retention.ms, retention.bytes")]
    assert alter_legacy(raw, (TOPIC, "t", [("retention.ms", None)])) == [
        (INVALID_REQUEST, "Null value not supported for : retention.ms")]
    assert overrides(broker, "t") == {"retention.ms": "5000"}
    assert alter(raw, (TOPIC, "t", [("retention.ms", DELETE, None)])) == [(0, None)]
    assert overrides(broker, "t") == {}


def test_a_config_named_twice_is_refused_before_the_topic_is_looked_up(broker, raw):
    assert alter(raw, (TOPIC, "nope", [("retention.ms", SET, "1"), ("retention.ms", DELETE,
                                                                    None)])) == [
        (INVALID_REQUEST, "Error due to duplicate config keys")]


def test_broker_ids_are_checked_with_kafkas_words_for_each_api(broker, raw):
    assert alter(raw, (BROKER, "x", [])) == [
        (INVALID_REQUEST, "Node id must be an integer, but it is: x")]
    assert alter(raw, (BROKER, "7", [])) == [
        (INVALID_REQUEST, "Unexpected broker id, expected 0, but received 7")]
    assert alter(raw, (BROKER, "0", []), (BROKER, "", [])) == [(0, None), (0, None)]
    assert alter(raw, (BROKER, "0", [("num.partitions", SET, "3")]))[0][0] == INVALID_REQUEST
    Described = DescribeConfigsRequest.DescribeConfigsResource  # noqa: N806
    answer = raw.request(DescribeConfigsRequest[4](resources=[
        Described(resource_type=BROKER, resource_name="x", configuration_keys=None),
        Described(resource_type=BROKER, resource_name="7", configuration_keys=None)],
        include_synonyms=False, include_documentation=False)).results
    assert [(r.error_code, r.error_message) for r in answer] == [
        (INVALID_REQUEST, "Broker id must be an integer, but it is: x"),
        (INVALID_REQUEST, "Unexpected broker id, expected 0 or empty string, but received 7")]


def test_a_resource_type_kafka_does_not_have_is_unknown(broker, raw):
    assert alter(raw, (9, "x", [])) == [(INVALID_REQUEST, "Unknown resource type 9")]
