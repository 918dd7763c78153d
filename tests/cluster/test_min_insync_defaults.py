"""``min.insync.replicas`` as Kafka sets and checks it.

* ``__consumer_offsets`` sets no ``min.insync.replicas`` of its own (Kafka's
  ``GroupCoordinatorService.groupMetadataTopicConfigs``), so it takes the broker default, 1:
  a coordinator whose offsets partition is down to one in-sync replica still stores commits.
* ``__transaction_state`` takes ``transaction.state.log.min.isr``, 2 by default
  (``TransactionStateManager``), which a leader caps at the replica count.
* A topic's ``min.insync.replicas`` is only checked to be at least 1 (``LogConfig``); above the
  replication factor it is accepted, and each leader enforces the replica count instead
  (``Partition.effectiveMinIsr``).
"""

from __future__ import annotations

import pytest

from pcmodel.cluster.errors import NotEnoughReplicasError
from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.cluster.transaction_log import TRANSACTION_TOPIC
from pcmodel.topics.admin import ConfigResource, KafkaAdminClient, NewTopic
from pcmodel.topics.config_resources import AlterConfigOp, ConfigSource
from pcmodel.topics.consumer_protocol import encode_assignment, encode_subscription
from pcmodel.topics.errors import IllegalArgumentError, InvalidConfigurationError
from pcmodel.topics.group_answers import GroupState
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

T0 = TopicPartition("t", 0)
SET = AlterConfigOp.SET


def overrides(cluster, topic):
    return {e.name: e.value for e in cluster.describe_topic_configs(topic)
            if e.source is ConfigSource.DYNAMIC_TOPIC_CONFIG}


def test_the_offsets_topic_takes_the_broker_default_min_insync_replicas(make_cluster):
    cluster = make_cluster()
    cluster.connect()  # makes __consumer_offsets
    assert cluster.controller.topics[OFFSETS_TOPIC].min_insync_replicas == 1
    assert "min.insync.replicas" not in overrides(cluster, OFFSETS_TOPIC)


def test_a_coordinator_alone_in_sync_still_stores_commits(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=1)
    offsets = cluster.connect()._offsets
    coordinator = offsets.coordinator("g")
    for broker in range(3):
        if broker != coordinator:
            cluster.kill(broker)
    cluster.run_for(3)  # both sessions expire: the coordinator is alone in the ISR
    assert cluster.isr(OFFSETS_TOPIC, offsets.partition_for("g")) == {coordinator}
    offsets.commit("g", {T0: 5}).get(timeout=2)
    assert offsets.committed("g", [T0]) == {T0: OffsetAndMetadata(5, "", -1)}


def test_a_group_forms_at_a_coordinator_alone_in_sync(make_cluster):
    # Its generation and assignment are stored in __consumer_offsets: one replica suffices.
    cluster = make_cluster(group_initial_rebalance_delay_ms=0)
    cluster.create_topic("t", 1, replication_factor=1)
    conn = cluster.connect()
    coordinator = conn._offsets.coordinator("g")
    for broker in range(3):
        if broker != coordinator:
            cluster.kill(broker)
    cluster.run_for(3)
    joined = conn.join_group("g", "", protocols=[("range", encode_subscription(["t"]))],
                             session_timeout_ms=10_000, timeout=0)
    plan = {joined.member_id: encode_assignment([T0])}
    synced = conn.sync_group("g", joined.member_id, joined.generation, assignments=plan,
                             timeout=5)
    assert synced.assignment == plan[joined.member_id]
    assert conn.describe_group("g").state is GroupState.STABLE


def test_the_transaction_log_takes_kafkas_transaction_state_log_min_isr(make_cluster):
    cluster = make_cluster(1)  # one replica: the leader enforces one, the config says two
    cluster.transaction_log()
    assert overrides(cluster, TRANSACTION_TOPIC) == {  # TransactionStateManager's, all five
        "cleanup.policy": "compact", "compression.type": "uncompressed",
        "min.insync.replicas": "2", "segment.bytes": str(100 * 1024 * 1024),
        "unclean.leader.election.enable": "false"}
    assert cluster.controller.topics[TRANSACTION_TOPIC].min_insync_replicas == 2


def test_min_insync_replicas_above_the_replication_factor_is_accepted(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=2, min_insync_replicas=3)
    assert cluster.controller.topics["t"].min_insync_replicas == 3
    # Both replicas in sync meet the leader's effective minimum, two.
    assert cluster.produce("t", 0, [(None, b"a")], acks="all").get(timeout=2).base_offset == 0
    follower = next(b for b in cluster.metadata()[T0].replicas if b != cluster.leader("t", 0))
    cluster.kill(follower)
    cluster.run_for(3)
    with pytest.raises(NotEnoughReplicasError):
        cluster.produce("t", 0, [(None, b"b")], acks="all").get(timeout=2)


def test_altering_min_insync_replicas_above_the_replication_factor_is_accepted(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3)
    cluster.alter_topic_configs("t", [("min.insync.replicas", SET, "5")])
    assert overrides(cluster, "t") == {"min.insync.replicas": "5"}
    assert cluster.produce("t", 0, [(None, b"a")], acks="all").get(timeout=2).base_offset == 0
    admin = KafkaAdminClient(broker=cluster.connect())
    try:
        admin.create_topics([NewTopic("u", 1, 2, topic_configs={"min.insync.replicas": "4"})])
        assert cluster.controller.topics["u"].min_insync_replicas == 4
        assert admin.alter_configs([ConfigResource("TOPIC", "u", {"min.insync.replicas": "6"})]) \
            == {"topic": {"u": "OK"}}
    finally:
        admin.close()


def test_min_insync_replicas_below_one_is_still_refused(make_cluster):
    cluster = make_cluster()
    with pytest.raises(IllegalArgumentError, match="at least 1, got 0"):
        cluster.create_topic("t", 1, min_insync_replicas=0)
    cluster.create_topic("t", 1)
    with pytest.raises(InvalidConfigurationError, match="at least 1"):
        cluster.alter_topic_configs("t", [("min.insync.replicas", SET, "0")])
    assert overrides(cluster, "t") == {}
