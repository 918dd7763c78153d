"""DescribeConfigs, AlterConfigs and IncrementalAlterConfigs on the wire, at every version served,
with bad input answered per resource; real clients: tests/interop/test_configs_clients.py."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import (
    AlterConfigsRequest,
    CreateTopicsRequest,
    DescribeConfigsRequest,
    IncrementalAlterConfigsRequest,
)

from pcmodel.topics.config_resources import AlterConfigOp, ConfigResourceType, ConfigSource

TOPIC, BROKER = int(ConfigResourceType.TOPIC), int(ConfigResourceType.BROKER)

pytestmark = pytest.mark.timeout(30)


def describe(raw, resources, version=4, synonyms=False, documentation=False):
    fields = {"resources": resources, "include_synonyms": synonyms}
    if version >= 3:
        fields["include_documentation"] = documentation
    return raw.request(DescribeConfigsRequest[version](**fields)).results


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_describe_answers_the_asked_configs_of_a_topic_and_the_broker(broker, raw, version):
    broker.create_topic("t", configs={"retention.ms": "60000"})
    topic, own = describe(raw, [(TOPIC, "t", ["retention.ms", "segment.bytes"]),
                                (BROKER, "0", None)], version, synonyms=True,
                          documentation=True)
    assert (topic.error_code, topic.resource_name) == (0, "t")
    assert [(c.name, c.value, c.config_source) for c in topic.configs] == [
        ("retention.ms", "60000", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ("segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG)]
    assert [(s.name, s.value) for s in topic.configs[0].synonyms] == [
        ("retention.ms", "60000"), ("log.retention.ms", "-1")]
    if version >= 3:
        assert topic.configs[0].config_type == 5  # LONG
        assert "a change applies at once" in topic.configs[0].documentation
    assert own.error_code == 0
    assert {c.name for c in own.configs} >= {"broker.id", "num.partitions"}
    assert all(c.read_only for c in own.configs)
    plain = describe(raw, [(TOPIC, "t", ["retention.ms"])], version)[0].configs[0]
    assert list(plain.synonyms) == []
    if version >= 3:
        assert plain.documentation is None  # only when asked


def test_each_resource_fails_on_its_own(broker, raw):
    broker.create_topic("t")
    unknown, other_broker, defaults, metrics, every, illegal = describe(raw, [
        (TOPIC, "nope", None), (BROKER, "3", None), (BROKER, "", None), (16, "m", None),
        (TOPIC, "t", []), (TOPIC, "bad name!", None)])
    assert (unknown.error_code, unknown.configs) == (3, [])
    assert "unknown topic 'nope'" in unknown.error_message
    assert not unknown.error_message.startswith("[Error")  # the client adds that itself
    assert other_broker.error_code == 42
    assert other_broker.error_message == ("Unexpected broker id, expected 0 or empty string, "
                                          "but received 3")
    assert (defaults.error_code, defaults.configs) == (0, [])  # no cluster-wide defaults set
    assert metrics.error_code == 42 and "TOPIC (2), BROKER (4) and GROUP (32) are" in \
        metrics.error_message
    # No keys named is no filter, as Kafka's ConfigHelper reads it (null or empty alike).
    assert every.error_code == 0 and "retention.ms" in {c.name for c in every.configs}
    # A name no topic may have is refused as such, before any lookup (Kafka's Topic.validate).
    assert (illegal.error_code, illegal.configs) == (17, [])  # INVALID_TOPIC_EXCEPTION


def test_incremental_alteration_applies_operations(broker, raw):
    broker.create_topic("t", configs={"preallocate": "true"})
    broker.create_topic("u")
    ops = IncrementalAlterConfigsRequest[1](resources=[
        (TOPIC, "t", [("retention.ms", AlterConfigOp.SET, "5000"),
                      ("preallocate", AlterConfigOp.DELETE, None)]),
        (TOPIC, "nope", [("retention.ms", AlterConfigOp.SET, "5000")]),
        (TOPIC, "u", [("retention.ms", AlterConfigOp.APPEND, "1")]),
        (BROKER, "0", [("num.partitions", AlterConfigOp.SET, "3")]),
    ], validate_only=False)
    answers = raw.request(ops).responses
    assert [(a.error_code, a.resource_name) for a in answers] == [
        (0, "t"), (3, "nope"), (40, "u"), (42, "0")]  # INVALID_CONFIG: not a list
    assert answers[3].error_message.startswith("a broker's configs are read-only")
    assert broker.describe_topic("t").retention_ms == 5000
    assert {e.name: e.value for e in broker.describe_topic_configs("t")
            if e.source is ConfigSource.DYNAMIC_TOPIC_CONFIG} == {"retention.ms": "5000"}


def _overrides(broker, topic):
    return {e.name: e.value for e in broker.describe_topic_configs(topic)
            if e.source is ConfigSource.DYNAMIC_TOPIC_CONFIG}


@pytest.mark.parametrize(("api", "version"), [
    ("incremental", 0), ("incremental", 1), ("whole", 0), ("whole", 1), ("whole", 2)])
def test_a_resource_given_twice_is_refused_in_both_entries_and_never_applied(broker, raw, api,
                                                                            version):
    """Kafka's ConfigAdminManager.preprocess: which entry should win is unclear, so neither
    does; the other resources of the request are altered as usual."""
    broker.create_topic("t", configs={"preallocate": "true"})
    broker.create_topic("u")

    def entry(topic, config, value):
        return (TOPIC, topic, [(config, AlterConfigOp.SET, value) if api == "incremental"
                               else (config, value)])

    resources = [entry("t", "retention.ms", "5000"), entry("u", "retention.ms", "7000"),
                 entry("t", "retention.ms", "6000"), (BROKER, "0", []), (BROKER, "0", []),
                 (BROKER, "", []), entry("t", "segment.ms", "1000")]
    request = (IncrementalAlterConfigsRequest if api == "incremental"
               else AlterConfigsRequest)[version](resources=resources, validate_only=False)
    answers = raw.request(request).responses
    assert [(a.error_code, a.resource_type, a.resource_name) for a in answers] == [
        (42, TOPIC, "t"), (0, TOPIC, "u"), (42, TOPIC, "t"), (42, BROKER, "0"),
        (42, BROKER, "0"), (0, BROKER, ""), (42, TOPIC, "t")]
    assert {a.error_message for a in answers if a.error_code} == {
        "Each resource must appear at most once."}
    assert _overrides(broker, "t") == {"preallocate": "true"}  # untouched
    assert _overrides(broker, "u") == {"retention.ms": "7000"}
    assert broker.describe_topic("t").retention_ms is None


@pytest.mark.parametrize("version", [0, 1, 2])
def test_a_whole_alteration_replaces_the_overrides(broker, raw, version):
    broker.create_topic("t", configs={"preallocate": "true", "retention.ms": "5000"})
    answer = raw.request(AlterConfigsRequest[version](
        resources=[(TOPIC, "t", [("segment.ms", "60000")])], validate_only=False))
    assert [a.error_code for a in answer.responses] == [0]
    assert {e.name: e.value for e in broker.describe_topic_configs("t")
            if e.source is ConfigSource.DYNAMIC_TOPIC_CONFIG} == {"segment.ms": "60000"}
    assert broker.describe_topic("t").retention_ms is None
    checked = raw.request(AlterConfigsRequest[version](
        resources=[(TOPIC, "t", [("segment.ms", "never")])], validate_only=True))
    assert checked.responses[0].error_code == 40
    valid = raw.request(AlterConfigsRequest[version](
        resources=[(TOPIC, "t", [("segment.ms", "1")])], validate_only=True))
    assert valid.responses[0].error_code == 0
    assert {e.name: e.value for e in broker.describe_topic_configs("t")
            if e.source is ConfigSource.DYNAMIC_TOPIC_CONFIG} == {"segment.ms": "60000"}


def test_a_created_topic_answers_its_configs(broker, raw):
    answer = raw.request(CreateTopicsRequest[7](
        topics=[("t", 1, 1, [], [("retention.ms", "60000")])], timeout_ms=5000,
        validate_only=False)).topics[0]
    assert answer.error_code == 0
    configs = {c.name: (c.value, c.config_source) for c in answer.configs}
    assert configs["retention.ms"] == ("60000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert configs["cleanup.policy"] == ("delete", ConfigSource.DEFAULT_CONFIG)
