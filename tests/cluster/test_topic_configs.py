"""A replicated topic's configs: kept by the controller, applied by every broker, on virtual time
(threads) and in broker processes."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.errors import (
    NotEnoughReplicasAfterAppendError,
    NotEnoughReplicasError,
)
from pcmodel.topics.admin import ConfigResource, KafkaAdminClient, NewTopic
from pcmodel.topics.config_resources import AlterConfigOp, ConfigSource
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidConfigurationError,
    InvalidRecordError,
    InvalidTopicError,
    MessageSizeTooLargeError,
)
from pcmodel.topics.log_records import wall_clock_ms
from pcmodel.topics.structs import OffsetAndTimestamp, TopicPartition
from tests.conftest import wait_until

SET, DELETE = AlterConfigOp.SET, AlterConfigOp.DELETE
NOT_ENOUGH = (NotEnoughReplicasError, NotEnoughReplicasAfterAppendError)
#: A compacted topic whose replicas each clean whatever their high watermark lets them, however
#: little: they then hold the same records whenever their high watermarks moved.
EVERY_DIRTY_BYTE = {"cleanup.policy": "compact", "segment.ms": "1000",
                    "min.cleanable.dirty.ratio": "0"}

pytestmark = pytest.mark.timeout(90)


def batch(*values):
    return [(None, v) for v in values]


def overrides(cluster, topic):
    return {e.name: e.value for e in cluster.describe_topic_configs(topic)
            if e.source is ConfigSource.DYNAMIC_TOPIC_CONFIG}


def test_min_insync_replicas_changes_what_acks_all_needs(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=2, configs={"segment.ms": "60000"})
    assert overrides(cluster, "t") == {"segment.ms": "60000"}
    follower = [b for b in cluster.metadata()[TopicPartition("t", 0)].replicas
                if b != cluster.leader("t", 0)][0]
    cluster.kill(follower)
    cluster.run_for(2.0)  # its session expires: the ISR is the leader alone
    cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=5)
    cluster.alter_topic_configs("t", [("min.insync.replicas", SET, "2")])
    assert overrides(cluster, "t") == {"segment.ms": "60000", "min.insync.replicas": "2"}
    with pytest.raises(NOT_ENOUGH):
        cluster.produce("t", 0, batch(b"b"), acks="all").get(timeout=5)
    cluster.alter_topic_configs("t", [("min.insync.replicas", DELETE, None)])
    cluster.produce("t", 0, batch(b"c"), acks="all").get(timeout=5)
    # Above the replication factor, as Kafka allows: the leader asks for both replicas.
    cluster.alter_topic_configs("t", [("min.insync.replicas", SET, "3")])
    assert overrides(cluster, "t") == {"segment.ms": "60000", "min.insync.replicas": "3"}
    with pytest.raises(NOT_ENOUGH):
        cluster.produce("t", 0, batch(b"d"), acks="all").get(timeout=5)


def test_allowing_unclean_election_elects_an_offline_partition_at_once(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    cluster.isolate(2)
    cluster.run_for(1.2)
    cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=1)  # on 0 and 1 only
    cluster.heal(2)
    cluster.kill(0)
    cluster.kill(1)
    cluster.run_for(1.6)
    assert cluster.leader("t", 0) is None  # broker 2 is alive but out of sync
    cluster.alter_topic_configs("t", [("unclean.leader.election.enable", SET, "true")])
    assert cluster.leader("t", 0) == 2
    assert [e.detail[0] for e in cluster.events if e.kind == "leader"][-1] == "unclean"


def test_retention_applies_on_every_broker(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3, retention_ms=3_600_000)
    ten_seconds_ago = wall_clock_ms() - 10_000  # records age by their timestamps
    cluster.produce("t", 0, [(None, v, (), ten_seconds_ago) for v in (b"a", b"b")],
                    acks="all").get(timeout=5)
    cluster.produce("t", 0, batch(b"now"), acks="all").get(timeout=5)
    cluster.settle()
    cluster.alter_topic_configs("t", [("retention.ms", SET, "5000")])
    assert [r.log_start_offset for r in cluster.replica_status("t", 0)] == [2, 2, 2]
    assert overrides(cluster, "t") == {"retention.ms": "5000"}


def test_retention_bytes_applies_on_every_broker(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3, configs={"retention.bytes": "300"})
    cluster.produce("t", 0, [(None, bytes(100))] * 5, acks="all").get(timeout=5)
    cluster.settle()
    assert [(r.log_start_offset, r.log_end_offset) for r in cluster.replica_status("t", 0)] \
        == [(2, 5)] * 3
    cluster.alter_topic_configs("t", [("retention.bytes", SET, "100")])
    assert [r.log_start_offset for r in cluster.replica_status("t", 0)] == [4, 4, 4]
    assert overrides(cluster, "t") == {"retention.bytes": "100"}


def test_the_largest_timestamp_is_answered_once_the_followers_have_it(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3)
    conn = cluster.connect()
    t0 = TopicPartition("t", 0)
    cluster.produce("t", 0, [(None, b"a", (), 500), (None, b"b", (), 200)],
                    acks="all").get(timeout=5)
    assert conn.max_timestamp_offsets([t0]) == {t0: OffsetAndTimestamp(0, 500)}
    leader = cluster.leader("t", 0)
    for b in range(3):
        if b != leader:
            cluster.isolate(b)
    cluster.produce("t", 0, [(None, b"c", (), 800)], acks=1).get(timeout=5)
    # Kafka looks at the whole log, and answers nothing for a record above the high watermark.
    assert conn.max_timestamp_offsets([t0]) == {t0: None}
    cluster.heal()
    cluster.settle()
    assert conn.max_timestamp_offsets([t0]) == {t0: OffsetAndTimestamp(2, 800)}


def test_retention_keeps_what_the_followers_have_not_copied(make_cluster):
    # Kafka never deletes at or above the high watermark: the log start cannot pass it.
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3, retention_ms=60_000)
    leader = cluster.leader("t", 0)
    for b in range(3):
        if b != leader:
            cluster.isolate(b)
    last_week = wall_clock_ms() - 7 * 86_400_000
    cluster.produce("t", 0, [(None, b"old", (), last_week)], acks=1).get(timeout=5)
    status = {r.broker: r for r in cluster.replica_status("t", 0)}
    assert (status[leader].log_start_offset, status[leader].log_end_offset,
            status[leader].high_watermark) == (0, 1, 0)
    cluster.heal()
    cluster.settle()
    assert [(r.log_start_offset, r.log_end_offset) for r in cluster.replica_status("t", 0)] \
        == [(1, 1)] * 3


def test_log_append_time_is_the_leaders_stamp_on_every_replica(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3,
                         configs={"message.timestamp.type": "LogAppendTime"})
    producer_id, epoch = cluster.init_producer_id()
    producer = (producer_id, epoch, 0)
    first = cluster.produce("t", 0, [(None, b"a", (), 5)], acks="all",
                            producer=producer).get(timeout=5)
    assert first.log_append_time > 5
    retried = cluster.produce("t", 0, [(None, b"a", (), 5)], acks="all",
                              producer=producer).get(timeout=5)
    assert (retried.base_offset, retried.log_append_time) == (0, first.log_append_time)
    cluster.alter_topic_configs("t", [("message.timestamp.type", SET, "CreateTime")])
    kept = cluster.produce("t", 0, [(None, b"b", (), 6)], acks="all").get(timeout=5)
    assert kept.log_append_time == -1
    cluster.settle()
    tp = TopicPartition("t", 0)
    for node in cluster.nodes:
        records = node.broker.fetch({tp: 0}, replica_id=node.node_id)[tp].records
        assert [(r.value, r.timestamp, r.timestamp_type) for r in records] == [
            (b"a", first.log_append_time, 1), (b"b", 6, 0)]


def test_a_leader_refuses_a_batch_over_max_message_bytes(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3, configs={"max.message.bytes": "100"})
    with pytest.raises(MessageSizeTooLargeError, match="max.message.bytes"):
        cluster.produce("t", 0, batch(bytes(100)), acks="all").get(timeout=5)
    with pytest.raises(MessageSizeTooLargeError, match="is 101 bytes"):
        cluster.produce("t", 0, batch(b"x"), acks="all", batch_bytes=101).get(timeout=5)
    cluster.produce("t", 0, batch(b"x"), acks="all").get(timeout=5)
    cluster.settle()
    assert [r.log_end_offset for r in cluster.replica_status("t", 0)] == [1, 1, 1]


def test_refusals_change_nothing(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=2, min_insync_replicas=2)
    with pytest.raises(InvalidConfigurationError):
        cluster.alter_topic_configs("t", [("retention.ms", SET, "1000"),
                                          ("preallocate", SET, "perhaps")])
    cluster.alter_topic_configs("t", [("min.insync.replicas", SET, "1")], validate_only=True)
    assert overrides(cluster, "t") == {"min.insync.replicas": "2"}
    assert cluster.controller.topics["t"].min_insync_replicas == 2
    with pytest.raises(IllegalArgumentError, match="not both"):
        cluster.create_topic("u", min_insync_replicas=2, configs={"min.insync.replicas": "2"})
    cluster.connect()  # creates the internal __consumer_offsets
    with pytest.raises(InvalidTopicError, match="internal topic"):
        cluster.alter_topic_configs("__consumer_offsets", [("retention.ms", SET, "1000")])


def test_the_admin_client_on_a_cluster(make_cluster):
    cluster = make_cluster()
    admin = KafkaAdminClient(broker=cluster.connect())
    admin.create_topics([NewTopic("t", 1, 3, topic_configs={"min.insync.replicas": "2"})])
    assert cluster.controller.topics["t"].min_insync_replicas == 2
    described = admin.describe_configs([ConfigResource("TOPIC", "t")])["topic"]["t"]
    assert described["min.insync.replicas"]["value"] == "2"
    assert admin.alter_configs([ConfigResource("TOPIC", "t", {"min.insync.replicas": "3"})]) \
        == {"topic": {"t": "OK"}}
    assert cluster.controller.topics["t"].min_insync_replicas == 3
    brokers = admin.describe_configs([ConfigResource("BROKER", "2")], config_filter="all")
    assert brokers["broker"]["2"]["broker.id"]["value"] == "2"
    assert brokers["broker"]["2"]["default.replication.factor"]["value"] == "3"
    with pytest.raises(IllegalArgumentError, match="broker must be an id from 0 to 2"):
        admin.describe_configs([ConfigResource("BROKER", "5")])
    admin.close()


def test_broker_processes_apply_an_alteration():
    with Cluster(3, mode="processes", broker_session_timeout_ms=2000, tick_ms=20,
                 replica_lag_time_max_ms=300) as cluster:
        cluster.create_topic("t", replication_factor=3)
        cluster.produce("t", 0, batch(b"a", b"b"), acks="all").get(timeout=20)
        cluster.alter_topic_configs("t", [("retention.ms", SET, "1")])
        wait_until(lambda: [r.log_start_offset for r in cluster.replica_status("t", 0)]
                   == [2, 2, 2], timeout=30)
        cluster.alter_topic_configs("t", [("retention.ms", DELETE, None),
                                          ("min.insync.replicas", SET, "3")])
        cluster.isolate(next(b for b in range(3) if b != cluster.leader("t", 0)))
        # A follower leaves the ISR once it lacks a record for longer than the lag limit.
        cluster.produce("t", 0, batch(b"lagging"), acks=1).get(timeout=20)
        wait_until(lambda: len(cluster.isr("t", 0)) == 2, timeout=30)
        with pytest.raises(NOT_ENOUGH):  # the leader's process knows the new minimum
            cluster.produce("t", 0, batch(b"c"), acks="all").get(timeout=20)
        cluster.heal()
        # Settled: the leader's high watermark has passed the acks=1 record, which it moves
        # only once its own ISR is back to three (the controller's may know it sooner).
        cluster.settle()
        assert len(cluster.isr("t", 0)) == 3
        cluster.produce("t", 0, batch(b"d"), acks="all").get(timeout=20)
        assert overrides(cluster, "t") == {"min.insync.replicas": "3"}
        assert cluster.produce("t", 0, batch(b"e"), acks=1).get(timeout=20).log_append_time \
            == -1
        cluster.alter_topic_configs("t", [("message.timestamp.type", SET, "LogAppendTime"),
                                          ("max.message.bytes", SET, "100")])
        assert cluster.produce("t", 0, batch(b"f"), acks=1).get(timeout=20).log_append_time > 0
        with pytest.raises(MessageSizeTooLargeError):
            cluster.produce("t", 0, batch(b"f"), acks=1, batch_bytes=101).get(timeout=20)


def test_a_compacted_topic_is_cleaned_on_every_broker_and_copied_with_its_gaps(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3,
                         configs=EVERY_DIRTY_BYTE)
    late = next(b for b in range(3) if b != cluster.leader("t", 0))
    cluster.kill(late)
    cluster.run_for(2.0)  # its session expires: the ISR is the other two
    ten_seconds_ago = wall_clock_ms() - 10_000  # segments roll by the records' timestamps
    for key, value in ((b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"b", b"2")):
        cluster.produce("t", 0, [(key, value, (), ten_seconds_ago)], acks="all").get(timeout=5)
    cluster.produce("t", 0, [(b"a", b"3")], acks="all").get(timeout=5)  # rolls the segment
    with pytest.raises(InvalidRecordError, match="without key"):
        cluster.produce("t", 0, [(None, b"no key")], acks="all").get(timeout=5)
    cluster.settle()
    cleaned = [(2, b"a", b"2"), (3, b"b", b"2"), (4, b"a", b"3")]
    for b in range(3):
        if b != late:
            assert [(r.offset, r.key, r.value) for r in cluster.log(b, "t", 0)] == cleaned
    cluster.restart(late)  # copies the leader's records, skipping the offsets it cleaned
    cluster.settle()
    assert [(r.offset, r.key, r.value) for r in cluster.log(late, "t", 0)] == cleaned
    assert [(r.log_start_offset, r.log_end_offset) for r in cluster.replica_status("t", 0)] \
        == [(0, 5)] * 3
    assert cluster.isr("t", 0) == {0, 1, 2}


def test_the_offsets_topic_is_compacted_as_kafkas(make_cluster):
    cluster = make_cluster()
    cluster.connect()  # makes __consumer_offsets
    assert overrides(cluster, "__consumer_offsets") == {
        "cleanup.policy": "compact", "compression.type": "producer",
        "segment.bytes": str(100 * 1024 * 1024)}


def test_an_unknown_config_is_refused_naming_the_replication_configs_as_honoured(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 1)
    with pytest.raises(InvalidConfigurationError) as refused:
        cluster.alter_topic_configs("t", [("min.insync.replica", SET, "2")])
    message = str(refused.value)
    honoured, no_effect = message.split("(and, with no effect:")
    assert "on a replicated cluster min.insync.replicas and unclean.leader.election.enable" \
        in honoured
    assert "min.insync.replicas" not in no_effect and "unclean" not in no_effect
    assert "flush.ms" in no_effect
