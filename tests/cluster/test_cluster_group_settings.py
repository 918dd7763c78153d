"""A cluster takes a lone broker's consumer group settings (Kafka's
``group.consumer.session.timeout.ms``, ``group.consumer.heartbeat.interval.ms``,
``group.consumer.max.size``, ``group.consumer.migration.policy`` and ``group.max.size``) as
``Cluster(...)`` arguments: checked as the broker checks them before anything starts, handed to
every broker it makes (threads and processes), kept by a restarted broker, and described by
DescribeConfigs as a lone broker describes its own. ``pcmodel cluster`` takes them as options."""

from __future__ import annotations

import argparse
import inspect

import pytest

from pcmodel.cli import main
from pcmodel.cluster import Cluster
from pcmodel.cluster import cli as cluster_cli
from pcmodel.cluster.cli import make_cluster, register
from pcmodel.cluster.consumer_group_settings import DEFAULT_CONSUMER_GROUP_SETTINGS
from pcmodel.cluster.process_cluster import ProcessCluster
from pcmodel.topics.broker import Broker
from pcmodel.topics.consumer_group_errors import GroupMaxSizeReachedError
from pcmodel.topics.errors import IllegalArgumentError

pytestmark = pytest.mark.timeout(60)

#: Every setting away from its default, the policy in another case than Kafka spells it.
SETTINGS = {
    "group_consumer_session_timeout_ms": 4_000,
    "group_consumer_heartbeat_interval_ms": 250,
    "group_consumer_max_size": 1,
    "group_consumer_migration_policy": "Upgrade",
    "group_classic_max_size": 5,
}
#: The DescribeConfigs entries of those settings.
GROUP_CONFIG_NAMES = ("group.consumer.session.timeout.ms", "group.consumer.heartbeat.interval.ms",
                      "group.consumer.max.size", "group.consumer.migration.policy",
                      "group.max.size")


def group_configs(entries) -> dict[str, str]:
    """The consumer group settings among a broker's DescribeConfigs entries."""
    return {e.name: e.value for e in entries if e.name in GROUP_CONFIG_NAMES}


def lone_broker_configs(**settings) -> dict[str, str]:
    with Broker(**settings) as broker:
        return group_configs(broker.describe_broker_configs())


def join(conn, member_id):
    return conn.consumer_group_heartbeat("g", member_id, 0, rebalance_timeout_ms=10_000,
                                         subscribed_topic_names=["t"], owned_partitions={})


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_every_broker_has_the_settings_and_keeps_them_across_restarts(make_cluster, mode):
    cluster = make_cluster(3, mode=mode, **SETTINGS)
    expected = lone_broker_configs(**SETTINGS)
    assert expected["group.consumer.migration.policy"] == "upgrade"  # as the broker keeps it
    assert len(expected) == len(GROUP_CONFIG_NAMES)
    cluster.create_topic("t", 2, replication_factor=3)
    conn = cluster.connect()
    first = join(conn, "m1")
    assert first.heartbeat_interval_ms == 250
    with pytest.raises(GroupMaxSizeReachedError):  # group.consumer.max.size=1
        join(conn, "m2")
    for b in range(3):  # every broker in turn: each comes back as a new incarnation
        cluster.stop(b)
        cluster.restart(b)
        assert cluster.wait_for(lambda b=b: b in cluster.live_brokers(), 30)
    for b in range(3):
        # The broker's own settings (across the door to its process in processes mode), and
        # the cluster's answer to DescribeConfigs for it.
        assert group_configs(cluster.nodes[b].broker.describe_broker_configs(b)) == expected
        assert group_configs(cluster.describe_broker_configs(b)) == expected
    # The group's coordinator now runs on a restarted broker, with the settings still.
    answer = conn.consumer_group_heartbeat("g", "m1", first.member_epoch, owned_partitions={
        topic: set(parts) for topic, parts in (first.assignment or {}).items()})
    assert answer.heartbeat_interval_ms == 250
    with pytest.raises(GroupMaxSizeReachedError):
        join(conn, "m3")


def test_the_defaults_are_the_lone_brokers(make_cluster):
    cluster_defaults = inspect.signature(Cluster.__init__).parameters
    broker_defaults = inspect.signature(Broker.__init__).parameters
    for name in SETTINGS:
        assert cluster_defaults[name].default == broker_defaults[name].default, name
        assert getattr(DEFAULT_CONSUMER_GROUP_SETTINGS, name) == \
            broker_defaults[name].default, name
    cluster = make_cluster(2)
    assert cluster.consumer_group_settings == DEFAULT_CONSUMER_GROUP_SETTINGS
    assert group_configs(cluster.describe_broker_configs(1)) == lone_broker_configs()


@pytest.mark.parametrize("bad", [
    {"group_consumer_session_timeout_ms": 0},
    {"group_consumer_session_timeout_ms": 1.5},
    {"group_consumer_heartbeat_interval_ms": -1},
    {"group_consumer_heartbeat_interval_ms": True},
    {"group_consumer_max_size": 0},
    {"group_consumer_max_size": "3"},
    {"group_consumer_migration_policy": "sideways"},
    {"group_consumer_migration_policy": None},
    {"group_classic_max_size": 0},
    {"group_classic_max_size": 2.0},
], ids=lambda bad: f"{next(iter(bad))}={next(iter(bad.values()))!r}")
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_a_bad_setting_is_refused_as_the_broker_refuses_it_before_anything_starts(
        monkeypatch, mode, bad):
    with pytest.raises(Exception) as by_broker:
        Broker(**bad)

    def no_start(self, brokers):
        raise AssertionError("the cluster started brokers for a bad setting")

    for cls in (Cluster, ProcessCluster):  # each has its own start
        monkeypatch.setattr(cls, "_start_brokers", no_start)
    with pytest.raises(by_broker.type) as by_cluster:
        Cluster(3, mode=mode, **bad)
    assert str(by_cluster.value) == str(by_broker.value)


# --- pcmodel cluster ---------------------------------------------------------------------------

def test_the_group_options_reach_every_broker():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args([
        "cluster", "--group-consumer-session-timeout-ms", "4000",
        "--group-consumer-heartbeat-interval-ms", "250", "--group-consumer-max-size", "1",
        "--group-consumer-migration-policy", "Upgrade", "--group-max-size", "5"])
    with make_cluster(args, mode="steps") as cluster:
        assert tuple(cluster.consumer_group_settings) == (4000, 250, 1, "upgrade", 5)
        expected = lone_broker_configs(**SETTINGS)
        for b in range(3):
            assert group_configs(cluster.nodes[b].broker.describe_broker_configs(b)) == \
                expected
            assert group_configs(cluster.describe_broker_configs(b)) == expected
    defaults = parser.parse_args(["cluster"])
    with make_cluster(defaults, mode="steps") as cluster:
        assert cluster.consumer_group_settings == DEFAULT_CONSUMER_GROUP_SETTINGS


@pytest.mark.parametrize("option, value, message", [
    ("--group-consumer-session-timeout-ms", "0",
     "--group-consumer-session-timeout-ms must be >= 1, got 0"),
    ("--group-consumer-session-timeout-ms", str(2**31),
     "--group-consumer-session-timeout-ms must be <= 2147483647 (a Kafka int), got 2147483648"),
    ("--group-consumer-heartbeat-interval-ms", "0",
     "--group-consumer-heartbeat-interval-ms must be >= 1, got 0"),
    ("--group-consumer-max-size", "0", "--group-consumer-max-size must be >= 1, got 0"),
    ("--group-max-size", str(2**31),
     "--group-max-size must be <= 2147483647 (a Kafka int), got 2147483648"),
    ("--group-consumer-migration-policy", "sideways",
     "--group-consumer-migration-policy must be one of disabled, upgrade, downgrade, "
     "bidirectional, not 'sideways'"),
])
def test_a_bad_group_option_is_one_line_and_starts_nothing(capsys, monkeypatch, option, value,
                                                           message):
    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a wrong option")

    monkeypatch.setattr(cluster_cli, "make_cluster", no_cluster)
    assert main(["cluster", option, value]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"pcmodel cluster: error: {message}\n"
    assert captured.out == ""


def test_the_help_names_the_group_options(capsys):
    with pytest.raises(SystemExit):
        main(["cluster", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for option, kafka_name in (
            ("--group-consumer-session-timeout-ms", "group.consumer.session.timeout.ms"),
            ("--group-consumer-heartbeat-interval-ms", "group.consumer.heartbeat.interval.ms"),
            ("--group-consumer-max-size", "group.consumer.max.size"),
            ("--group-consumer-migration-policy", "group.consumer.migration.policy"),
            ("--group-max-size", "group.max.size")):
        assert option in out and f"Kafka's {kafka_name}" in out, option


def test_a_cluster_broker_describes_the_transaction_limits_as_a_lone_broker_does(make_cluster):
    names = ("transaction.max.timeout.ms", "transactional.id.expiration.ms")

    def limits(entries):
        return {e.name: e.value for e in entries if e.name in names}

    with Broker() as broker:
        assert limits(make_cluster(3).describe_broker_configs(0)) == \
            limits(broker.describe_broker_configs()) != {}
    cluster = make_cluster(3, transaction_settings={"max_timeout_ms": 30_000,
                                                    "id_expiration_ms": 7_000})
    assert limits(cluster.describe_broker_configs(1)) == {
        "transaction.max.timeout.ms": "30000", "transactional.id.expiration.ms": "7000"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("heartbeat_ms", [45_000, 50_000])
def test_a_heartbeat_interval_not_below_the_session_timeout_is_refused(heartbeat_ms):
    # Kafka's broker refuses to start so (GroupCoordinatorConfig); a lone broker and a cluster
    # refuse it before anything starts.
    expected = (f"group_consumer_heartbeat_interval_ms must be less than "
                f"group_consumer_session_timeout_ms, got {heartbeat_ms} and 45000")
    settings = dict(group_consumer_session_timeout_ms=45_000,
                    group_consumer_heartbeat_interval_ms=heartbeat_ms)
    with pytest.raises(IllegalArgumentError) as refused:
        Broker(**settings)
    assert str(refused.value).endswith(expected)
    with pytest.raises(IllegalArgumentError) as refused:
        Cluster(3, mode="steps", **settings)
    assert str(refused.value).endswith(expected)
    Broker(group_consumer_session_timeout_ms=45_000,
           group_consumer_heartbeat_interval_ms=44_999).close()
