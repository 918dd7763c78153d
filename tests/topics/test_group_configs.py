"""Kafka 4's group configs (config resource type GROUP) on the broker: described and altered as
Kafka's ``GroupConfig`` and ``ConfigHelper`` do, and used by the group's coordinator from each
member's next heartbeat on, on a hand-moved clock."""

from __future__ import annotations

import pytest

from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.broker import Broker
from pcmodel.topics.config_resources import (
    AlterConfigOp,
    ConfigResource,
    ConfigSource,
    ConfigType,
)
from pcmodel.topics.errors import (
    InvalidConfigurationError,
    InvalidRequestError,
    UnknownMemberIdError,
)
from pcmodel.topics.server import BrokerServer
from tests.topics.conftest import FakeClock

pytestmark = pytest.mark.timeout(20)

SESSION, HEARTBEAT = "consumer.session.timeout.ms", "consumer.heartbeat.interval.ms"
SHARE_SESSION = "share.session.timeout.ms"
SET, DELETE = AlterConfigOp.SET, AlterConfigOp.DELETE


@pytest.fixture
def clock():
    return FakeClock(100.0)


@pytest.fixture
def broker(clock):
    with Broker(clock=clock, group_consumer_session_timeout_ms=10_000) as b:
        b.create_topic("orders", 2)
        yield b


def configs(broker, group="g"):
    return {e.name: (e.value, e.source) for e in broker.describe_group_configs(group)}


def join(broker, member, group="g"):
    return broker.consumer_group_heartbeat(group, member, 0, rebalance_timeout_ms=5_000,
                                           subscribed_topic_names=["orders"],
                                           owned_partitions={})


def beat(broker, member, epoch, group="g"):
    return broker.consumer_group_heartbeat(group, member, epoch, owned_partitions=None)


def test_a_group_that_does_not_exist_has_the_brokers_settings_as_defaults(broker):
    entries = broker.describe_group_configs("nobody-here")
    assert [e.name for e in entries] == [
        HEARTBEAT, SESSION, "share.heartbeat.interval.ms", "share.record.lock.duration.ms",
        "share.session.timeout.ms"]
    assert {e.name: e.value for e in entries} == {
        HEARTBEAT: "5000", SESSION: "10000", "share.heartbeat.interval.ms": "5000",
        "share.record.lock.duration.ms": "30000", "share.session.timeout.ms": "45000"}
    assert all(e.source is ConfigSource.DEFAULT_CONFIG and not e.read_only
               and not e.sensitive and e.config_type is ConfigType.INT for e in entries)
    assert entries[1].synonyms == ((SESSION, "10000", ConfigSource.DEFAULT_CONFIG),)
    assert "consumer group protocol" in entries[1].documentation


def test_a_value_set_is_the_groups_own_in_kafkas_form(broker):
    broker.alter_group_configs("g", [(SESSION, SET, " +20000")])
    assert configs(broker)[SESSION] == ("20000", ConfigSource.DYNAMIC_GROUP_CONFIG)
    assert configs(broker)[HEARTBEAT] == ("5000", ConfigSource.DEFAULT_CONFIG)
    assert configs(broker, "other")[SESSION] == ("10000", ConfigSource.DEFAULT_CONFIG)
    broker.alter_group_configs("g", [(SESSION, DELETE, None), ("no.such.config", DELETE, None)])
    assert configs(broker)[SESSION] == ("10000", ConfigSource.DEFAULT_CONFIG)


@pytest.mark.parametrize("operations, message", [
    ([("consumer.session.timeout", SET, "20000")],
     "Unknown group config name: consumer.session.timeout"),
    ([(SESSION, SET, "soon")],
     "Invalid value soon for configuration consumer.session.timeout.ms: Not a number of type "
     "INT"),
    ([(SESSION, SET, "2147483648")],  # past a Java int
     "Invalid value 2147483648 for configuration consumer.session.timeout.ms: Not a number of "
     "type INT"),
    ([(HEARTBEAT, SET, "0")],
     "Invalid value 0 for configuration consumer.heartbeat.interval.ms: Value must be at "
     "least 1"),
    ([(HEARTBEAT, SET, "4999")],
     "consumer.heartbeat.interval.ms must be greater than or equal to "
     "group.consumer.min.heartbeat.interval.ms"),
    ([(HEARTBEAT, SET, "15001")],
     "consumer.heartbeat.interval.ms must be less than or equal to "
     "group.consumer.max.heartbeat.interval.ms"),
    ([(SESSION, SET, "9999")],  # the broker's own 10 s widens Kafka's 45 s minimum
     "consumer.session.timeout.ms must be greater than or equal to "
     "group.consumer.min.session.timeout.ms"),
    ([(SESSION, SET, "60001")],
     "consumer.session.timeout.ms must be less than or equal to "
     "group.consumer.max.session.timeout.ms"),
    ([(HEARTBEAT, SET, "10000")],  # against the broker's session timeout, not set here
     "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"),
    ([("share.record.lock.duration.ms", SET, "999")],
     "Invalid value 999 for configuration share.record.lock.duration.ms: Value must be at "
     "least 1000"),
    ([(SESSION, AlterConfigOp.APPEND, "1")],
     "Can't APPEND to key consumer.session.timeout.ms because its type is not LIST."),
])
def test_a_bad_alteration_is_invalid_config_and_changes_nothing(broker, operations, message):
    broker.alter_group_configs("g", [(HEARTBEAT, SET, "6000")])
    with pytest.raises(InvalidConfigurationError) as refused:  # with a good one: neither goes
        broker.alter_group_configs("g", [(SHARE_SESSION, SET, "50000"), *operations])
    assert refused.value.args[0] == message
    assert configs(broker)[SHARE_SESSION] == ("45000", ConfigSource.DEFAULT_CONFIG)
    assert configs(broker)[SESSION] == ("10000", ConfigSource.DEFAULT_CONFIG)
    assert configs(broker)[HEARTBEAT] == ("6000", ConfigSource.DYNAMIC_GROUP_CONFIG)


def test_the_empty_group_id_and_malformed_requests_are_invalid_request(broker):
    with pytest.raises(InvalidRequestError, match="Group name must not be empty$"):
        broker.describe_group_configs("")
    with pytest.raises(InvalidRequestError, match="Default group resources are not allowed.$"):
        broker.alter_group_configs("", [(SESSION, SET, "20000")])
    with pytest.raises(InvalidConfigurationError, match="Can't SUBTRACT"):  # Kafka's order
        broker.alter_group_configs("", [(SESSION, AlterConfigOp.SUBTRACT, "1")])
    with pytest.raises(InvalidRequestError, match="duplicate config keys"):
        broker.alter_group_configs("g", [(SESSION, SET, "20000"), (SESSION, SET, "30000")])
    with pytest.raises(InvalidRequestError, match="only sets configs"):
        broker.alter_group_configs("g", [(SESSION, DELETE, None)], incremental=False)
    assert configs(broker)[SESSION][1] is ConfigSource.DEFAULT_CONFIG


def test_validate_only_checks_and_the_legacy_alteration_replaces_every_override(broker):
    broker.alter_group_configs("g", [(SESSION, SET, "20000")], validate_only=True)
    assert configs(broker)[SESSION][1] is ConfigSource.DEFAULT_CONFIG
    broker.alter_group_configs("g", [(SESSION, SET, "20000"), (HEARTBEAT, SET, "6000")])
    # The session timeout goes back to the broker's, which is checked against the heartbeat
    # interval left: 10 s > 7 s.
    broker.alter_group_configs("g", [(HEARTBEAT, SET, "7000")], incremental=False)
    assert configs(broker)[SESSION] == ("10000", ConfigSource.DEFAULT_CONFIG)
    assert configs(broker)[HEARTBEAT] == ("7000", ConfigSource.DYNAMIC_GROUP_CONFIG)


def test_members_get_the_groups_heartbeat_interval_and_session_timeout(broker, clock):
    broker.alter_group_configs("g", [(SESSION, SET, "20000"), (HEARTBEAT, SET, "6000")])
    assert join(broker, "a").heartbeat_interval_ms == 6000
    assert join(broker, "x", group="other").heartbeat_interval_ms == 5000  # the broker's
    clock.advance(19.9)  # past the broker's 10 s, within the group's 20 s
    assert beat(broker, "a", 1).member_epoch == 1
    clock.advance(19.9)
    assert broker.describe_consumer_group("g").members[0].member_id == "a"
    clock.advance(0.2)
    with pytest.raises(UnknownMemberIdError):
        beat(broker, "a", 1)


def test_a_change_applies_from_each_members_next_heartbeat(broker, clock):
    join(broker, "a")
    join(broker, "b")
    broker.alter_group_configs("g", [(SESSION, SET, "30000"), (HEARTBEAT, SET, "7000")])
    clock.advance(9.0)
    b = beat(broker, "b", 2)  # b's session now lasts 30 s; a's still ends at its 10 s
    assert b.heartbeat_interval_ms == 7000
    clock.advance(1.1)
    assert [m.member_id for m in broker.describe_consumer_group("g").members] == ["b"]
    clock.advance(28.8)  # 29.9 s after b's heartbeat
    assert beat(broker, "b", b.member_epoch).member_epoch >= b.member_epoch
    broker.alter_group_configs("g", [(SESSION, DELETE, None)])
    clock.advance(29.9)  # b's last session was given 30 s
    beat(broker, "b", broker.describe_consumer_group("g").members[0].member_epoch)
    clock.advance(10.1)  # the broker's 10 s again since that heartbeat
    assert broker.describe_consumer_group("g").members == ()


def test_a_restored_group_starts_its_sessions_with_its_own_timeout(broker, clock):
    join(broker, "a")
    snapshot = broker.consumer_group_snapshot("g")
    broker.alter_group_configs("g", [(SESSION, SET, "20000")])
    broker.restore_consumer_group(snapshot)
    clock.advance(19.9)
    assert [m.member_id for m in broker.describe_consumer_group("g").members] == ["a"]
    clock.advance(0.2)
    assert broker.describe_consumer_group("g").members == ()


def test_a_groups_configs_outlive_the_group(broker):
    broker.alter_group_configs("g", [(SESSION, SET, "20000")])
    join(broker, "a")
    beat(broker, "a", -1)
    broker.delete_group("g")
    assert configs(broker)[SESSION] == ("20000", ConfigSource.DYNAMIC_GROUP_CONFIG)


def test_the_admin_client_describes_and_alters_a_group_like_a_topic(broker):
    admin = KafkaAdminClient(broker=broker)
    try:
        group = ConfigResource("GROUP", "g", {SESSION: "20000"})
        assert admin.alter_configs([group]) == {"group": {"g": "OK"}}
        described = admin.describe_configs([ConfigResource("GROUP", "g")])
        assert list(described["group"]["g"]) == [SESSION]
        assert described["group"]["g"][SESSION]["config_source"] == "DYNAMIC_GROUP_CONFIG"
        every = admin.describe_configs([ConfigResource("group", "g", [HEARTBEAT])],
                                       config_filter="all")
        assert every["group"]["g"][HEARTBEAT]["value"] == "5000"
        bad = ConfigResource("GROUP", "g", {SESSION: "90000"})
        assert admin.alter_configs([bad]) == {"group": {"g": (
            "[Error 40] InvalidConfigurationError: consumer.session.timeout.ms must be less "
            "than or equal to group.consumer.max.session.timeout.ms")}}
        with pytest.raises(ValueError, match="Unrecognized configs: {'session.timeout.ms'}"):
            admin.alter_configs([ConfigResource("GROUP", "g", {"session.timeout.ms": "1"})])
        assert admin.reset_configs([ConfigResource("GROUP", "g")]) == {"group": {"g": "OK"}}
        assert admin.describe_configs([ConfigResource("GROUP", "g")]) == {"group": {"g": {}}}
        with pytest.raises(InvalidRequestError, match="Group name must not be empty"):
            admin.describe_configs([ConfigResource("GROUP", "")])
    finally:
        admin.close()


def test_the_admin_client_of_a_broker_process_describes_and_alters_groups():
    with Broker() as broker:
        server = BrokerServer(broker).start()
        try:
            with KafkaAdminClient(broker=server.handle) as admin:
                change = ConfigResource("GROUP", "g", {SESSION: "50000"})
                assert admin.alter_configs([change]) == {"group": {"g": "OK"}}
                described = admin.describe_configs([ConfigResource("GROUP", "g")])
        finally:
            server.stop()
        entry = described["group"]["g"][SESSION]
        assert (entry["value"], entry["config_source"]) == ("50000", "DYNAMIC_GROUP_CONFIG")
        assert broker.describe_group_configs("g")[1].source is ConfigSource.DYNAMIC_GROUP_CONFIG
