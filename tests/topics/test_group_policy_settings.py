"""The online migration's broker settings (``group.consumer.migration.policy`` and
``group.max.size``, Python name ``group_classic_max_size``) are arguments of the broker, checked
there with one clear error, and described by DescribeConfigs under Kafka's names."""

from __future__ import annotations

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import GroupIdNotFoundError, IllegalArgumentError
from tests.topics.test_group_migration import classic_group, classic_join, consumer_join

pytestmark = pytest.mark.timeout(20)


def _broker_configs(broker: Broker) -> dict[str, str]:
    return {e.name: e.value for e in broker.describe_broker_configs()}


def test_a_policy_given_to_the_broker_refuses_the_upgrade():
    with Broker(group_consumer_migration_policy="Downgrade") as broker:
        assert broker.group_consumer_migration_policy == "downgrade"  # any case, as Kafka's
        broker.create_topic("orders", 4)
        classic_group(broker)
        with pytest.raises(GroupIdNotFoundError, match="online upgrade is disabled"):
            consumer_join(broker)
        assert broker.consumer_group_states() == {}


def test_a_classic_max_size_given_to_the_broker_refuses_the_downgrade():
    with Broker(group_classic_max_size=1) as broker:
        assert broker.group_classic_max_size == 1
        broker.create_topic("orders", 4)
        classic_group(broker, members=1)  # a classic group may not grow past the bound...
        consumer_join(broker)
        classic_join(broker)  # ...but the consumer group takes a second classic member
        broker.consumer_group_heartbeat("g", "c", -1)  # two classic members would remain
        assert broker.consumer_group_states() == {"g": "Assigning"}
        assert broker.group_states() == {}


@pytest.mark.parametrize(("settings", "message"), [
    ({"group_consumer_migration_policy": "sideways"},
     "group_consumer_migration_policy must be one of disabled, upgrade, downgrade, "
     "bidirectional, not 'sideways'"),
    ({"group_consumer_migration_policy": None},
     "group_consumer_migration_policy must be one of"),
    ({"group_classic_max_size": 0},
     "group_classic_max_size must be a positive int or None, not 0"),
    ({"group_classic_max_size": True},
     "group_classic_max_size must be a positive int or None, not True"),
    ({"group_classic_max_size": "3"},
     "group_classic_max_size must be a positive int or None, not '3'"),
])
def test_a_bad_setting_is_one_clear_error(settings, message):
    with pytest.raises(IllegalArgumentError) as info:
        Broker(**settings)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_describe_configs_shows_the_group_settings_under_kafkas_names():
    with Broker() as broker:
        defaults = _broker_configs(broker)
    assert {name: value for name, value in defaults.items() if name.startswith("group.")} == {
        "group.consumer.heartbeat.interval.ms": "5000",
        "group.consumer.max.heartbeat.interval.ms": "15000",
        "group.consumer.max.session.timeout.ms": "60000",
        "group.consumer.max.size": "2147483647",
        "group.consumer.migration.policy": "bidirectional",
        "group.consumer.min.heartbeat.interval.ms": "5000",
        "group.consumer.min.session.timeout.ms": "45000",
        "group.consumer.session.timeout.ms": "45000",
        "group.initial.rebalance.delay.ms": "0",
        "group.max.session.timeout.ms": "1800000",
        "group.max.size": "2147483647",
        "group.min.session.timeout.ms": "1"}
    # The bounds of a group's configs take in the broker's own settings (see group_configs).
    with Broker(group_consumer_session_timeout_ms=90_000,
                group_consumer_heartbeat_interval_ms=2_000) as broker:
        wide = _broker_configs(broker)
    assert [wide[f"group.consumer.{bound}"] for bound in (
        "min.session.timeout.ms", "max.session.timeout.ms", "min.heartbeat.interval.ms",
        "max.heartbeat.interval.ms")] == ["45000", "90000", "2000", "15000"]
    with Broker(group_consumer_migration_policy="UPGRADE", group_classic_max_size=3,
                group_consumer_max_size=7) as broker:
        given = _broker_configs(broker)
        broker.group_consumer_migration_policy = "disabled"  # set while it runs
        changed = _broker_configs(broker)
    assert (given["group.consumer.migration.policy"], given["group.max.size"],
            given["group.consumer.max.size"]) == ("upgrade", "3", "7")
    assert changed["group.consumer.migration.policy"] == "disabled"
