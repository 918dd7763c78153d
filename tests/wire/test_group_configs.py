"""Kafka 4's group configs (config resource type GROUP) on a lone broker's Kafka listener:
DescribeConfigs, IncrementalAlterConfigs and AlterConfigs with Kafka's codes and messages, the
heartbeat interval a ConsumerGroupHeartbeat is answered with, and real admin clients
(kafka-python's, confluent-kafka's)."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import (
    AlterConfigsRequest,
    DescribeConfigsRequest,
    IncrementalAlterConfigsRequest,
)

from pcmodel.wire.schemas import ConsumerGroupHeartbeatRequest

pytestmark = pytest.mark.timeout(30)

GROUP = 32
INVALID_CONFIG, INVALID_REQUEST = 40, 42
DEFAULT_CONFIG, GROUP_CONFIG = 5, 8
SET, DELETE, APPEND = 0, 1, 2
SESSION, HEARTBEAT = "consumer.session.timeout.ms", "consumer.heartbeat.interval.ms"
Incremental = IncrementalAlterConfigsRequest.AlterConfigsResource
Legacy = AlterConfigsRequest.AlterConfigsResource


def describe(raw, resources, version=4, documentation=False):
    fields = {"resources": resources, "include_synonyms": True}
    if version >= 3:
        fields["include_documentation"] = documentation
    return raw.request(DescribeConfigsRequest[version](**fields)).results


def alter(raw, *resources, validate_only=False):
    """``[(error code, message)]`` of IncrementalAlterConfigs v1 for each ``(name, [(config,
    operation, value)])`` group."""
    request = IncrementalAlterConfigsRequest[1](validate_only=validate_only, resources=[
        Incremental(resource_type=GROUP, resource_name=name, configs=[
            Incremental.AlterableConfig(name=c, config_operation=op, value=v)
            for c, op, v in configs])
        for name, configs in resources])
    return [(r.error_code, r.error_message) for r in raw.request(request).responses]


def values(raw, group="g"):
    (result,) = describe(raw, [(GROUP, group, None)])
    assert result.error_code == 0
    return {c.name: (c.value, c.config_source) for c in result.configs}


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_describe_answers_every_group_config_of_any_group(broker, raw, version):
    broker.alter_group_configs("g", [(SESSION, SET, "50000")])
    (result,) = describe(raw, [(GROUP, "g", None)], version, documentation=True)
    assert (result.error_code, result.resource_type, result.resource_name) == (0, GROUP, "g")
    configs = {c.name: c for c in result.configs}
    assert sorted(configs) == [HEARTBEAT, SESSION, "share.heartbeat.interval.ms",
                               "share.record.lock.duration.ms", "share.session.timeout.ms"]
    session, heartbeat = configs[SESSION], configs[HEARTBEAT]
    assert (session.value, session.config_source, session.read_only) == (
        "50000", GROUP_CONFIG, False)
    assert (heartbeat.value, heartbeat.config_source) == ("5000", DEFAULT_CONFIG)
    assert [(s.name, s.value, s.source) for s in session.synonyms] == [
        (SESSION, "50000", GROUP_CONFIG)]
    if version >= 3:
        assert session.config_type == 3  # INT
        assert "consumer group protocol" in session.documentation
    (only,) = describe(raw, [(GROUP, "nobody", [HEARTBEAT])], version)
    assert [(c.name, c.value) for c in only.configs] == [(HEARTBEAT, "5000")]


def test_an_empty_group_id_is_invalid_request(raw):
    (described,) = describe(raw, [(GROUP, "", None)])
    assert (described.error_code, described.error_message, described.configs) == (
        INVALID_REQUEST, "Group name must not be empty", [])
    assert alter(raw, ("", [(SESSION, SET, "50000")])) == [
        (INVALID_REQUEST, "Default group resources are not allowed.")]


def test_incremental_alteration_is_checked_per_group_as_kafka_checks_it(raw):
    assert alter(raw, ("a", [(SESSION, SET, "50000"), (HEARTBEAT, SET, "6000")]),
                 ("b", [(SESSION, SET, "50000"), (HEARTBEAT, SET, "4000")]),
                 ("c", [(SESSION, APPEND, "1")]),
                 ("d", [("consumer.rebalance.timeout.ms", SET, "1")]),
                 ("e", [(SESSION, SET, "5000"), (SESSION, SET, "6000")])) == [
        (0, None),
        (INVALID_CONFIG, "consumer.heartbeat.interval.ms must be greater than or equal to "
                         "group.consumer.min.heartbeat.interval.ms"),
        (INVALID_CONFIG, "Can't APPEND to key consumer.session.timeout.ms because its type is "
                         "not LIST."),
        (INVALID_CONFIG, "Unknown group config name: consumer.rebalance.timeout.ms"),
        (INVALID_REQUEST, "Error due to duplicate config keys")]
    assert values(raw, "a")[SESSION] == ("50000", GROUP_CONFIG)
    assert values(raw, "b")[SESSION] == ("45000", DEFAULT_CONFIG)  # nothing half-applied
    assert alter(raw, ("a", [(HEARTBEAT, SET, "15000"), (SESSION, DELETE, None)]),
                 validate_only=True) == [(0, None)]
    assert values(raw, "a")[HEARTBEAT] == ("6000", GROUP_CONFIG)  # only checked
    assert alter(raw, ("a", [(SESSION, DELETE, None)])) == [(0, None)]
    assert values(raw, "a")[SESSION] == ("45000", DEFAULT_CONFIG)


def test_legacy_alteration_replaces_a_groups_configs(raw):
    assert alter(raw, ("g", [(SESSION, SET, "50000")])) == [(0, None)]
    request = AlterConfigsRequest[2](validate_only=False, resources=[
        Legacy(resource_type=GROUP, resource_name="g", configs=[
            Legacy.AlterableConfig(name=HEARTBEAT, value="7000")]),
        Legacy(resource_type=GROUP, resource_name="h", configs=[
            Legacy.AlterableConfig(name=SESSION, value="45000"),
            Legacy.AlterableConfig(name=HEARTBEAT, value="45000")])])
    assert [(r.error_code, r.error_message) for r in raw.request(request).responses] == [
        (0, None),
        (INVALID_CONFIG, "consumer.heartbeat.interval.ms must be less than or equal to "
                         "group.consumer.max.heartbeat.interval.ms")]
    assert values(raw)[SESSION] == ("45000", DEFAULT_CONFIG)
    assert values(raw)[HEARTBEAT] == ("7000", GROUP_CONFIG)


def test_a_heartbeat_is_answered_with_the_groups_interval(broker, raw):
    broker.create_topic("t", 2)
    assert alter(raw, ("g", [(HEARTBEAT, SET, "8000")])) == [(0, None)]
    joined = raw.request(ConsumerGroupHeartbeatRequest[1](
        group_id="g", member_id="m-1", member_epoch=0, rebalance_timeout_ms=30_000,
        subscribed_topic_names=["t"], topic_partitions=[]))
    assert (joined.error_code, joined.heartbeat_interval_ms) == (0, 8000)


def test_kafka_pythons_admin_client_describes_and_alters_a_group(broker, listener):
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=listener.bootstrap_servers)
    try:
        change = ConfigResource(ConfigResourceType.GROUP, "g", {SESSION: "55000"})
        assert admin.alter_configs([change]) == {"group": {"g": "OK"}}
        described = admin.describe_configs([ConfigResource(ConfigResourceType.GROUP, "g")])
        assert list(described["group"]["g"]) == [SESSION]
        assert described["group"]["g"][SESSION]["value"] == "55000"
        assert described["group"]["g"][SESSION]["config_source"] == "DYNAMIC_GROUP_CONFIG"
    finally:
        admin.close()
    assert broker.describe_group_configs("g")[1].value == "55000"


def test_confluent_kafkas_admin_client_describes_and_alters_a_group(broker, listener):
    admin_module = pytest.importorskip("confluent_kafka.admin",
                                       reason="needs confluent-kafka (the interop extra)")
    from confluent_kafka import KafkaException

    admin = admin_module.AdminClient({"bootstrap.servers": listener.bootstrap_servers})
    group = admin_module.ConfigResource(admin_module.ResourceType.GROUP, "g")
    change = admin_module.ConfigResource(
        admin_module.ResourceType.GROUP, "g", incremental_configs=[admin_module.ConfigEntry(
            HEARTBEAT, "6000", incremental_operation=admin_module.AlterConfigOpType.SET)])
    admin.incremental_alter_configs([change])[change].result(timeout=20)
    described = admin.describe_configs([group])[group].result(timeout=20)
    assert described[HEARTBEAT].value == "6000"
    assert described[HEARTBEAT].source == admin_module.ConfigSource.GROUP_CONFIG.value
    assert described[SESSION].source == admin_module.ConfigSource.DEFAULT_CONFIG.value
    bad = admin_module.ConfigResource(
        admin_module.ResourceType.GROUP, "g", incremental_configs=[admin_module.ConfigEntry(
            SESSION, "soon", incremental_operation=admin_module.AlterConfigOpType.SET)])
    with pytest.raises(KafkaException, match="Invalid value soon for configuration"):
        admin.incremental_alter_configs([bad])[bad].result(timeout=20)
