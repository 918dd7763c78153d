"""Kafka 4's group configs (config resource type GROUP) on a replicated cluster: kept by the
controller, taken by every broker, so the group's coordinator, and a new one after a failover
or a broker process's restart, gives the members the group's heartbeat interval and session
timeout. Stepped clusters on virtual time, and one of broker processes."""

from __future__ import annotations

import pytest

from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.config_resources import AlterConfigOp, ConfigResource, ConfigSource
from pcmodel.topics.errors import (
    InvalidConfigurationError,
    InvalidRequestError,
    UnknownMemberIdError,
)
from tests.cluster.test_consumer_groups_across_failover import (
    SESSION_MS,
    consumer_cluster,
    join,
    kill_coordinator,
    owned_of,
    settle,
)

pytestmark = pytest.mark.timeout(60)

SESSION, HEARTBEAT = "consumer.session.timeout.ms", "consumer.heartbeat.interval.ms"
SET = AlterConfigOp.SET
GROUP_SESSION_MS = 2 * SESSION_MS


def described(conn, group="g"):
    return {e.name: (e.value, e.source) for e in conn.describe_group_configs(group)}


def test_the_cluster_describes_and_checks_a_groups_configs(make_cluster):
    _, conn = consumer_cluster(make_cluster)
    assert described(conn)[SESSION] == (str(SESSION_MS), ConfigSource.DEFAULT_CONFIG)
    assert described(conn)[HEARTBEAT] == ("100", ConfigSource.DEFAULT_CONFIG)
    with pytest.raises(InvalidConfigurationError, match="must be greater than or equal to "
                                                        "group.consumer.min.session.timeout.ms"):
        conn.alter_group_configs("g", [(HEARTBEAT, SET, "200"), (SESSION, SET, "2999")])
    conn.alter_group_configs("g", [(SESSION, SET, "60000")], validate_only=True)
    assert described(conn)[HEARTBEAT][1] is ConfigSource.DEFAULT_CONFIG  # nothing applied
    assert described(conn)[SESSION][1] is ConfigSource.DEFAULT_CONFIG
    with pytest.raises(InvalidRequestError, match="Default group resources are not allowed."):
        conn.alter_group_configs("", [(SESSION, SET, "6000")])


def test_a_new_coordinator_keeps_the_groups_session_timeout(make_cluster):
    cluster, conn = consumer_cluster(make_cluster)
    conn.alter_group_configs("g", [(SESSION, SET, str(GROUP_SESSION_MS)),
                                   (HEARTBEAT, SET, "200")])
    first, second = join(conn, "m1"), join(conn, "m2")
    assert first.heartbeat_interval_ms == 200
    members = {"m1": [first.member_epoch, first.assignment],
               "m2": [second.member_epoch, second.assignment]}
    settle(conn, members)
    kill_coordinator(cluster, conn)
    # m2 never heartbeats again: the new coordinator started its session with the group's
    # timeout when it loaded the group, twice the brokers' setting.
    epoch, assignment = members["m1"]
    waited = 0.0
    while waited < GROUP_SESSION_MS / 1000 - 0.5:
        cluster.advance(0.5)
        waited += 0.5
        answer = conn.consumer_group_heartbeat("g", "m1", epoch,
                                               owned_partitions=owned_of(assignment))
        assert answer.heartbeat_interval_ms == 200
        epoch = answer.member_epoch
        assignment = assignment if answer.assignment is None else answer.assignment
        assert "m2" in {m.member_id for m in conn.describe_consumer_group("g").members}
    cluster.advance(1.0)
    conn.consumer_group_heartbeat("g", "m1", epoch, owned_partitions=owned_of(assignment))
    assert [m.member_id for m in conn.describe_consumer_group("g").members] == ["m1"]
    with pytest.raises(UnknownMemberIdError):
        conn.consumer_group_heartbeat("g", "m2", members["m2"][0])


def test_the_admin_client_alters_a_groups_configs_on_a_cluster(make_cluster):
    cluster, _ = consumer_cluster(make_cluster)
    admin = KafkaAdminClient(broker=cluster)
    try:
        change = ConfigResource("GROUP", "g", {HEARTBEAT: "300"})
        assert admin.alter_configs([change]) == {"group": {"g": "OK"}}
        assert admin.describe_configs([ConfigResource("GROUP", "g")]) == {"group": {"g": {
            HEARTBEAT: {"value": "300", "read_only": False,
                        "config_source": "DYNAMIC_GROUP_CONFIG", "is_sensitive": False,
                        "synonyms": [], "config_type": "INT", "documentation": None}}}}
    finally:
        admin.close()
    for node in cluster.nodes:  # every broker took them, so any may coordinate the group
        assert {e.name: e.value for e in node.broker.describe_group_configs("g")}[
            HEARTBEAT] == "300"


def test_a_restarted_broker_process_has_the_groups_configs(make_cluster):
    cluster = make_cluster(2, mode="processes")
    cluster.create_topic("t", 2, replication_factor=2)
    conn = cluster.connect()
    conn.alter_group_configs("g", [(HEARTBEAT, SET, "6000")])
    first = join(conn, "m1")
    assert first.heartbeat_interval_ms == 6000
    old = kill_coordinator(cluster, conn)
    # Set while the old coordinator's process is down: it learns them when it restarts.
    conn.alter_group_configs("g", [(HEARTBEAT, SET, "7000")])
    cluster.restart(old)
    offsets = (OFFSETS_TOPIC, conn._offsets.partition_for("g"))
    assert cluster.wait_for(lambda: old in cluster.metadata()[offsets].isr, 30)
    kill_coordinator(cluster, conn)  # the restarted broker coordinates the group now
    assert conn._offsets.coordinator("g") == old
    answer = conn.consumer_group_heartbeat("g", "m1", first.member_epoch,
                                           owned_partitions=owned_of(first.assignment))
    assert answer.heartbeat_interval_ms == 7000
