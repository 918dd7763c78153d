"""Kafka 4's group configs (config resource type GROUP) at a replicated cluster's Kafka
listeners: altered through any broker, described the same by every broker (the controller
keeps them), and given to the group's members by whichever broker coordinates it."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import DescribeConfigsRequest, IncrementalAlterConfigsRequest

from tests.wire.conftest import RawClient

pytestmark = pytest.mark.timeout(60)

GROUP, SET = 32, 0
INVALID_CONFIG, GROUP_CONFIG = 40, 8
HEARTBEAT = "consumer.heartbeat.interval.ms"
Incremental = IncrementalAlterConfigsRequest.AlterConfigsResource


def alter(address, group, value):
    request = IncrementalAlterConfigsRequest[1](validate_only=False, resources=[
        Incremental(resource_type=GROUP, resource_name=group, configs=[
            Incremental.AlterableConfig(name=HEARTBEAT, config_operation=SET, value=value)])])
    with RawClient(address) as raw:
        (result,) = raw.request(request).responses
    return result.error_code, result.error_message


def heartbeat_config(address, group):
    request = DescribeConfigsRequest[4](resources=[(GROUP, group, [HEARTBEAT])],
                                        include_synonyms=False, include_documentation=False)
    with RawClient(address) as raw:
        (result,) = raw.request(request).results
    assert result.error_code == 0
    return [(c.name, c.value, c.config_source) for c in result.configs]


def test_any_broker_alters_and_every_broker_describes_a_groups_configs(served):
    cluster, listeners = served
    assert alter(listeners.addresses[0], "g", "16000") == (
        INVALID_CONFIG, "consumer.heartbeat.interval.ms must be less than or equal to "
                        "group.consumer.max.heartbeat.interval.ms")
    assert alter(listeners.addresses[1], "g", "8000") == (0, None)
    for address in listeners.addresses.values():
        assert heartbeat_config(address, "g") == [(HEARTBEAT, "8000", GROUP_CONFIG)]
    conn = cluster.connect()
    answer = conn.consumer_group_heartbeat("g", "m1", 0, rebalance_timeout_ms=10_000,
                                           subscribed_topic_names=["t"], owned_partitions={})
    assert answer.heartbeat_interval_ms == 8000
