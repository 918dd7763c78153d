"""Topic configs: checked in Kafka's words, described with their sources, altered all or nothing
(on the broker and through pcmodel's admin client), and ``retention.ms`` applied at once."""

from __future__ import annotations

import pytest

from pcmodel.topics import Broker, KafkaAdminClient, KafkaConsumer, KafkaProducer, NewTopic
from pcmodel.topics.broker import FetchError
from pcmodel.topics.config_resources import (
    AlterConfigOp,
    ConfigFilterType,
    ConfigResource,
    ConfigResourceType,
    ConfigSource,
    ConfigSynonym,
    ConfigType,
)
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidConfigurationError,
    InvalidRequestError,
    InvalidTimestampError,
    MessageSizeTooLargeError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import TopicPartition
from pcmodel.topics.topic_configs import (
    TOPIC_CONFIGS,
    altered_overrides,
    check_topic_configs,
    describe_topic_configs,
)
from tests.topics.conftest import WallClock

SET, DELETE, APPEND, SUBTRACT = AlterConfigOp

pytestmark = pytest.mark.timeout(60)


def overrides(entries) -> dict[str, str]:
    return {e.name: e.value for e in entries if e.source is ConfigSource.DYNAMIC_TOPIC_CONFIG}


# --- the rules ------------------------------------------------------------------------------------


def test_values_are_checked_by_type_and_kept_as_kafkas_text():
    assert check_topic_configs({"preallocate": True, "segment.bytes": 1 << 20,
                                "retention.ms": " -1 ", "min.cleanable.dirty.ratio": "0.25",
                                "compression.type": "zstd", "cleanup.policy": "delete"}) == {
        "preallocate": "true", "segment.bytes": "1048576", "retention.ms": "-1",
        "min.cleanable.dirty.ratio": "0.25", "compression.type": "zstd",
        "cleanup.policy": "delete"}
    accepted = {"min.compaction.lag.ms": "0", "max.compaction.lag.ms": "1",
                "local.retention.ms": "-2", "local.retention.bytes": "1048576",
                "remote.storage.enable": "false", "remote.log.copy.disable": "true",
                "remote.log.delete.on.disable": "false", "retention.bytes": "-7",
                "compression.lz4.level": "17"}
    assert check_topic_configs(accepted) == accepted
    refused = {
        ("retention.ms", "soon"): "Invalid value soon for configuration retention.ms: Not a "
                                  "number of type LONG",
        ("retention.ms", "-2"): "Value must be at least -1",
        ("segment.bytes", str(1 << 31)): "Not a number of type INT",
        ("segment.bytes", "1048575"): "Value must be at least 1048576$",  # Kafka 4's least
        ("preallocate", "yes"): "Expected value to be either true or false",
        ("min.insync.replicas", "0"): "Value must be at least 1",
        ("min.cleanable.dirty.ratio", "1.5"): "Value must be no more than 1",
        ("compression.type", "brotli"): "String must be one of: uncompressed, zstd",
        ("cleanup.policy", "compact,snapshot"): "String must be one of: delete, compact",
        ("retention.ms", None): "a value is required",
        ("retention.mss", "1"): "unknown or unsupported topic config 'retention.mss'",
        ("min.compaction.lag.ms", "-1"): "Value must be at least 0",
        ("max.compaction.lag.ms", "0"): "Value must be at least 1",
        ("local.retention.ms", "-3"): "Value must be at least -2",
        ("remote.storage.enable", "true"): "Tiered Storage functionality is disabled in the "
                                           "broker",
        ("retention.bytes", "1.5"): "Not a number of type LONG",
    }
    for (name, value), message in refused.items():
        with pytest.raises(InvalidConfigurationError, match=message):
            check_topic_configs({name: value})
    with pytest.raises(InvalidConfigurationError, match=r"conflict topic config setting "
                       r"min.compaction.lag.ms \(1001\) > max.compaction.lag.ms \(1000\)"):
        check_topic_configs({"min.compaction.lag.ms": 1001, "max.compaction.lag.ms": 1000})
    assert check_topic_configs({"cleanup.policy": "compact, delete"}) == {
        "cleanup.policy": "compact,delete"}
    assert check_topic_configs({"cleanup.policy": " "}) == {"cleanup.policy": ""}
    with pytest.raises(InvalidConfigurationError, match="String must be one of: delete, compact"):
        check_topic_configs({"cleanup.policy": "delete,,compact"})


def test_every_config_is_described_with_where_its_value_comes_from():
    entries = describe_topic_configs({"retention.ms": "1000"})
    assert [e.name for e in entries] == sorted(TOPIC_CONFIGS)
    by_name = {e.name: e for e in entries}
    retention = by_name["retention.ms"]
    assert (retention.value, retention.source, retention.config_type) == (
        "1000", ConfigSource.DYNAMIC_TOPIC_CONFIG, ConfigType.LONG)
    # The override first, then the broker setting it would otherwise take.
    assert retention.synonyms == (
        ConfigSynonym("retention.ms", "1000", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ConfigSynonym("log.retention.ms", "-1", ConfigSource.STATIC_BROKER_CONFIG))
    # Without an override: pcmodel's broker keeps records for ever (Kafka's default: 7 days).
    forever = {e.name: e for e in describe_topic_configs({})}["retention.ms"]
    assert (forever.value, forever.source) == ("-1", ConfigSource.STATIC_BROKER_CONFIG)
    segment = by_name["segment.bytes"]
    assert (segment.value, segment.source, segment.synonyms) == (
        "1073741824", ConfigSource.DEFAULT_CONFIG,
        (ConfigSynonym("log.segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG),))
    assert "without effect" in segment.documentation
    # A config only topics have (no broker setting behind it) has no synonym but itself.
    remote = {e.name: e for e in describe_topic_configs({"remote.storage.enable": "false"})}
    assert remote["remote.storage.enable"].synonyms == (
        ConfigSynonym("remote.storage.enable", "false", ConfigSource.DYNAMIC_TOPIC_CONFIG),)
    assert (by_name["remote.log.copy.disable"].source,
            by_name["remote.log.copy.disable"].synonyms) == (ConfigSource.DEFAULT_CONFIG, ())
    assert not any(e.read_only or e.sensitive for e in entries)


def test_incremental_operations_set_delete_append_and_subtract():
    start = {"retention.ms": "1000", "preallocate": "true"}
    assert altered_overrides(start, [("retention.ms", SET, 5000), ("preallocate", DELETE, None),
                                     ("cleanup.policy", APPEND, "delete")],
                             incremental=True) == {"retention.ms": "5000",
                                                   "cleanup.policy": "delete"}
    assert start == {"retention.ms": "1000", "preallocate": "true"}  # not changed in place
    # Subtracting the only policy leaves none: no cleanup at all, as in Kafka 4.2.
    assert altered_overrides({}, [("cleanup.policy", SUBTRACT, "delete")],
                             incremental=True) == {"cleanup.policy": ""}
    assert altered_overrides({}, [("nothing.set", DELETE, None)], incremental=True) == {}
    # Kafka's controller answers INVALID_CONFIG here, not INVALID_REQUEST.
    with pytest.raises(InvalidConfigurationError,
                       match="Can't APPEND to key retention.ms because its type is not LIST"):
        altered_overrides({}, [("retention.ms", APPEND, "1")], incremental=True)
    with pytest.raises(InvalidRequestError, match="duplicate config keys: retention.ms"):
        altered_overrides({}, [("retention.ms", SET, "1"), ("retention.ms", DELETE, None)],
                          incremental=True)
    with pytest.raises(InvalidRequestError, match="unknown config operation 7"):
        altered_overrides({}, [("retention.ms", 7, "1")], incremental=True)
    with pytest.raises(InvalidConfigurationError, match="unknown or unsupported"):
        altered_overrides({}, [("retention.mss", APPEND, "1")], incremental=True)


def test_a_whole_replacement_takes_sets_only_and_forgets_what_it_does_not_name():
    assert altered_overrides({"retention.ms": "1000", "preallocate": "true"},
                             [("segment.ms", SET, "60000")], incremental=False) == {
        "segment.ms": "60000"}
    with pytest.raises(InvalidRequestError, match="needs IncrementalAlterConfigs"):
        altered_overrides({}, [("segment.ms", DELETE, None)], incremental=False)


# --- the broker -----------------------------------------------------------------------------------


def test_a_topic_keeps_the_configs_it_was_created_with():
    with Broker() as broker:
        broker.create_topic("t", configs={"segment.bytes": 1 << 20, "retention.ms": "60000"})
        broker.create_topic("k", retention_ms=5000)
        assert overrides(broker.describe_topic_configs("t")) == {
            "segment.bytes": "1048576", "retention.ms": "60000"}
        assert broker.describe_topic("t").retention_ms == 60000
        assert overrides(broker.describe_topic_configs("k")) == {"retention.ms": "5000"}
        with pytest.raises(IllegalArgumentError, match="not both"):
            broker.create_topic("x", retention_ms=5, configs={"retention.ms": "5"})
        with pytest.raises(InvalidConfigurationError):
            broker.create_topic("y", configs={"preallocate": "maybe"})
        assert broker.list_topics() == {"k": 1, "t": 1}  # nothing half-made
        with pytest.raises(UnknownTopicOrPartitionError):
            broker.describe_topic_configs("nope")


def test_a_new_retention_applies_at_once_to_the_records_already_there():
    wall = WallClock()
    tp = TopicPartition("t", 0)
    with Broker(timestamp_clock=wall) as broker:
        broker.create_topic("t")  # kept for ever
        broker.append("t", 0, [(None, b"old")])
        wall.now += 10_000
        broker.append("t", 0, [(None, b"new")])
        broker.alter_topic_configs("t", [("retention.ms", SET, "5000")])
        assert broker.beginning_offsets([tp]) == {tp: 1}  # 10 s old: gone at once
        assert broker.fetch({tp: 0})[tp].error is FetchError.OFFSET_OUT_OF_RANGE
        wall.now += 6_000
        assert broker.beginning_offsets([tp]) == {tp: 2}
        broker.alter_topic_configs("t", [("retention.ms", DELETE, None)])
        broker.append("t", 0, [(None, b"kept")])
        wall.now += 3_600_000
        assert broker.beginning_offsets([tp]) == {tp: 2}
        assert broker.describe_topic("t").retention_ms is None


def test_records_age_by_the_timestamps_their_producers_gave_them():
    wall = WallClock()
    tp = TopicPartition("t", 0)
    day = 86_400_000
    with Broker(timestamp_clock=wall) as broker:
        broker.create_topic("t", retention_ms=day)
        broker.append("t", 0, [(None, b"last week", (), wall.now - 7 * day),
                               (None, b"today", (), wall.now - 1_000)])
        assert broker.beginning_offsets([tp]) == {tp: 1}  # deleted as it was appended
        broker.alter_topic_configs("t", [("retention.ms", SET, "0")])  # Kafka's "purge"
        assert broker.beginning_offsets([tp]) == {tp: 2}
        assert broker.describe_topic("t").retention_ms == 0
        with pytest.raises(IllegalArgumentError, match="retention_ms must be >= 0"):
            broker.create_topic("u", retention_ms=-1)
        with pytest.raises(IllegalArgumentError, match="not by age or size"):
            broker.create_topic("b", retention_policy="block", retention_records=5,
                                retention_ms=0)


def test_log_append_time_stamps_what_is_appended_from_then_on():
    tp = TopicPartition("t", 0)
    now = [7_000]  # the broker's wall clock, in ms
    with Broker(timestamp_clock=lambda: now[0]) as broker:
        broker.create_topic("t")
        assert broker.append("t", 0, [(None, b"a", (), 5)]).log_append_time_ms == -1
        broker.alter_topic_configs("t", [("message.timestamp.type", SET, "LogAppendTime")])
        now[0] = 7_100
        result = broker.append("t", 0, [(None, b"b", (), 5), (None, b"c", (), 6)])
        assert result.log_append_time_ms == 7_100
        now[0] = 7_200
        packed = broker.append("t", 0, [(None, b"d", (), 7)], compression="gzip")
        assert packed.log_append_time_ms == 7_200
        broker.alter_topic_configs("t", [("message.timestamp.type", DELETE, None)])
        assert broker.append("t", 0, [(None, b"e", (), 8)]).log_append_time_ms == -1
        records = broker.fetch({tp: 0})[tp].records
        assert [(r.value, r.timestamp, r.timestamp_type) for r in records] == [
            (b"a", 5, 0), (b"b", 7_100, 1), (b"c", 7_100, 1), (b"d", 7_200, 1), (b"e", 8, 0)]


def test_a_producer_reports_the_brokers_stamp_and_a_consumer_reads_it():
    with Broker(timestamp_clock=lambda: 42) as broker:
        broker.create_topic("t", configs={"message.timestamp.type": "LogAppendTime"})
        broker.create_topic("c")
        with KafkaProducer(broker=broker) as producer:
            stamped = producer.send("t", b"x", timestamp_ms=5).get(timeout=10)
            kept = producer.send("c", b"y", timestamp_ms=5).get(timeout=10)
        assert (stamped.timestamp, kept.timestamp) == (42, 5)
        with KafkaConsumer(broker=broker, auto_offset_reset="earliest") as consumer:
            consumer.assign([TopicPartition("t", 0)])
            polled = consumer.poll(timeout_ms=5000)
        [record] = polled[TopicPartition("t", 0)]
        assert (record.timestamp, record.timestamp_type) == (42, 1)


def test_create_times_outside_the_topics_window_refuse_the_batch():
    tp = TopicPartition("t", 0)
    hour = 3_600_000
    with Broker(timestamp_clock=lambda: 10 * hour) as broker:
        broker.create_topic("t")
        broker.append("t", 0, [(None, b"old", (), 5), (None, b"soon", (), 11 * hour)])
        with pytest.raises(InvalidTimestampError,
                           match=rf"Timestamp {11 * hour + 1} of the record at index 1 .* "
                                 rf"within \[-\d+, {11 * hour}\]"):  # Kafka 4: 1 hour ahead
            broker.append("t", 0, [(None, b"a", (), 5), (None, b"late", (), 11 * hour + 1)])
        broker.alter_topic_configs("t", [("message.timestamp.before.max.ms", SET, "1000")])
        with pytest.raises(InvalidTimestampError, match=r"Timestamp 5 of the record at index 0"):
            broker.append("t", 0, [(None, b"old", (), 5)])
        broker.append("t", 0, [(None, b"now", (), 10 * hour - 1000), (None, b"unstamped")])
        broker.alter_topic_configs("t", [("message.timestamp.type", SET, "LogAppendTime")])
        broker.append("t", 0, [(None, b"any", (), 5)])  # its time is the broker's anyway
        assert [r.value for r in broker.fetch({tp: 0})[tp].records] == [
            b"old", b"soon", b"now", b"unstamped", b"any"]
        with KafkaProducer(broker=broker) as producer:
            broker.alter_topic_configs("t", [("message.timestamp.type", DELETE, None)])
            with pytest.raises(InvalidTimestampError):
                producer.send("t", b"x", timestamp_ms=12 * hour).get(timeout=10)


def test_a_batch_over_max_message_bytes_is_refused_whole():
    tp = TopicPartition("t", 0)
    with Broker() as broker:
        broker.create_topic("t", configs={"max.message.bytes": "200"})
        # Kafka's v2 batch: 61 bytes of header, then per record its bytes and 8 or 9 of
        # framing (lengths from 64 up take two varint bytes): 61 + 2 * 68, 61 + 2 * 79.
        assert broker.append("t", 0, [(None, b"x" * 60, (), 5)] * 2).base_offset == 0
        with pytest.raises(MessageSizeTooLargeError,
                           match=r"append to t-0 is 219 bytes which exceeds the maximum "
                                 r"configured value of 200 \(the topic's max.message.bytes\)"):
            broker.append("t", 0, [(None, b"x" * 70, (), 5)] * 2)
        zeros = [(None, bytes(1000), (), 5)]
        with pytest.raises(MessageSizeTooLargeError):
            broker.append("t", 0, zeros)
        broker.append("t", 0, zeros, compression="gzip")  # weighed compressed, as Kafka does
        with pytest.raises(MessageSizeTooLargeError, match="is 201 bytes"):
            broker.append("t", 0, [(None, b"x")], batch_bytes=201)  # as a client sent it
        assert broker.end_offsets([tp]) == {tp: 3}
        broker.alter_topic_configs("t", [("max.message.bytes", DELETE, None)])
        broker.append("t", 0, zeros)


def test_an_alteration_is_all_or_nothing():
    with Broker() as broker:
        broker.create_topic("t", configs={"preallocate": "true"})
        for bad in ([("retention.ms", SET, "1000"), ("segment.bytes", SET, "huge")],
                    [("retention.ms", SET, "1000"), ("retention.ms", SET, "2000")]):
            with pytest.raises((InvalidConfigurationError, InvalidRequestError)):
                broker.alter_topic_configs("t", bad)
        broker.alter_topic_configs("t", [("retention.ms", SET, "1000")], validate_only=True)
        assert overrides(broker.describe_topic_configs("t")) == {"preallocate": "true"}
        assert broker.describe_topic("t").retention_ms is None
        broker.alter_topic_configs("t", [("retention.ms", SET, "1000")], incremental=False)
        assert overrides(broker.describe_topic_configs("t")) == {"retention.ms": "1000"}
        with pytest.raises(UnknownTopicOrPartitionError):
            broker.alter_topic_configs("nope", [])


def test_a_block_topic_takes_no_retention_by_age_or_size_and_no_compaction():
    with Broker() as broker:
        broker.create_topic("jobs", retention_policy="block", retention_records=4)
        for name, value in (("retention.ms", "1000"), ("retention.bytes", "1000"),
                            ("cleanup.policy", "compact")):
            with pytest.raises(InvalidConfigurationError, match="retention_policy='block'"):
                broker.alter_topic_configs("jobs", [(name, SET, value)])
        broker.alter_topic_configs("jobs", [("preallocate", SET, "true"),
                                            ("retention.bytes", SET, "-1")])
        with pytest.raises(IllegalArgumentError, match="retention.ms and retention.bytes "
                                                       "cannot be set"):
            broker.create_topic("more", retention_policy="block", retention_records=4,
                                configs={"retention.bytes": "100"})
        with pytest.raises(IllegalArgumentError, match="cleanup.policy=compact cannot be set"):
            broker.create_topic("more", retention_policy="block", retention_records=4,
                                configs={"cleanup.policy": "delete,compact"})
        with pytest.raises(IllegalArgumentError, match="needs retention_records"):
            broker.create_topic("more", retention_policy="block")
        assert broker.list_topics() == {"jobs": 1}


def test_retention_bytes_keeps_a_partition_at_its_size():
    tp = TopicPartition("t", 0)
    with Broker() as broker:
        broker.create_topic("t", configs={"retention.bytes": "250"})
        broker.append("t", 0, [(None, bytes(100)) for _ in range(3)])
        # 300 bytes, past 250; but deleting the oldest would leave 200, less than the limit
        assert broker.beginning_offsets([tp]) == {tp: 0}
        broker.append("t", 0, [(None, bytes(100))])
        assert broker.beginning_offsets([tp]) == {tp: 1}
        assert broker.log_stats("t")[0].stored_bytes == 300
        assert broker.describe_topic("t").retention_bytes == 250
        broker.alter_topic_configs("t", [("retention.bytes", SET, "0")])  # all it may
        assert broker.log_stats("t")[0][:2] == (0, 0)
        broker.alter_topic_configs("t", [("retention.bytes", SET, "-5")])  # no limit
        broker.append("t", 0, [(None, bytes(1000))] * 3)
        assert broker.log_stats("t")[0][:2] == (3, 3000)
        assert broker.describe_topic("t").retention_bytes is None
        with pytest.raises(InvalidConfigurationError, match="Not a number of type LONG"):
            broker.alter_topic_configs("t", [("retention.bytes", SET, "1 GiB")])


def test_the_broker_describes_its_own_settings_as_read_only():
    with Broker(num_partitions=3, auto_create_topics_enable=False,
                offsets_retention_minutes=60, transaction_max_timeout_ms=120_000,
                offset_metadata_max_bytes=100) as broker:
        entries = {e.name: e for e in broker.describe_broker_configs(7)}
    assert {n: e.value for n, e in entries.items()} == {
        "auto.create.topics.enable": "false", "broker.id": "7",
        "default.replication.factor": "1", "group.consumer.heartbeat.interval.ms": "5000",
        "group.consumer.max.heartbeat.interval.ms": "15000",
        "group.consumer.max.session.timeout.ms": "60000",
        "group.consumer.max.size": "2147483647",
        "group.consumer.migration.policy": "bidirectional",
        "group.consumer.min.heartbeat.interval.ms": "5000",
        "group.consumer.min.session.timeout.ms": "45000",
        "group.consumer.session.timeout.ms": "45000", "group.initial.rebalance.delay.ms": "0",
        "group.max.session.timeout.ms": "1800000", "group.max.size": "2147483647",
        "group.min.session.timeout.ms": "1", "log.retention.bytes": "-1", "log.retention.ms": "-1",
        "min.insync.replicas": "1",
        "num.partitions": "3", "offset.metadata.max.bytes": "100",
        "offsets.retention.check.interval.ms": "600000", "offsets.retention.minutes": "60",
        "producer.id.expiration.ms": "86400000", "transaction.max.timeout.ms": "120000",
        "transactional.id.expiration.ms": "604800000",
        "unclean.leader.election.enable": "false"}
    assert all(e.read_only and e.source is ConfigSource.STATIC_BROKER_CONFIG
               for e in entries.values())


# --- pcmodel's admin client (kafka-python's answers: tests/interop/test_admin_agreement.py) -------


def test_the_admin_client_describes_filters_and_alters():
    with Broker() as broker:
        admin = KafkaAdminClient(broker=broker)
        admin.create_topics([NewTopic("t", 1, topic_configs={"preallocate": "true"})])
        topic = ConfigResource("TOPIC", "t")
        assert list(admin.describe_configs([topic])["topic"]["t"]) == ["preallocate"]
        everything = admin.describe_configs([topic], config_filter=ConfigFilterType.ALL)
        assert sorted(everything["topic"]["t"]) == sorted(TOPIC_CONFIGS)
        assert admin.describe_configs([topic], config_filter="static")["topic"]["t"].keys() \
            == {"retention.ms"}
        assert admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "t", {
            "retention.ms": 60000, "preallocate": ("delete", None)})]) == {"topic": {"t": "OK"}}
        assert {n: c["value"] for n, c in
                admin.describe_configs([topic])["topic"]["t"].items()} == {"retention.ms": "60000"}
        assert broker.describe_topic("t").retention_ms == 60000
        assert admin.alter_configs([ConfigResource("TOPIC", "t", {"retention.ms": "x"})]) == {
            "topic": {"t": "[Error 40] InvalidConfigurationError: Invalid value x for "
                           "configuration retention.ms: Not a number of type LONG"}}
        assert admin.reset_configs([ConfigResource("TOPIC", "t")]) == {"topic": {"t": "OK"}}
        assert admin.describe_configs([topic]) == {"topic": {"t": {}}}
        admin.close()


def test_the_admin_client_refuses_what_it_cannot_do_with_one_line():
    with Broker() as broker:
        admin = KafkaAdminClient(broker=broker)
        broker.create_topic("t")
        with pytest.raises(UnknownTopicOrPartitionError):  # kafka-python answers {} instead
            admin.describe_configs([ConfigResource("TOPIC", "nope")])
        with pytest.raises(IllegalArgumentError, match="a lone broker is 0"):
            admin.describe_configs([ConfigResource("BROKER", "1")])
        with pytest.raises(ValueError, match="must be an integer"):
            admin.describe_configs([ConfigResource("BROKER", "zero")])
        with pytest.raises(InvalidRequestError, match="CLIENT_METRICS are not served"):
            admin.describe_configs([ConfigResource("CLIENT_METRICS", "m")])
        with pytest.raises(ValueError,
                           match="unknown config resource type 'queue'; one of UNKNOWN, TOPIC"):
            ConfigResource("queue", "q")
        with pytest.raises(ValueError, match="unknown config filter 'changed'"):
            admin.describe_configs([ConfigResource("TOPIC", "t")], config_filter="changed")
        with pytest.raises(ValueError, match="Unrecognized configs: {'num.partitions'}"):
            admin.alter_configs([ConfigResource("BROKER", "0", {"num.partitions": "2"})])
        assert admin.alter_configs([ConfigResource("BROKER", "0", {"num.partitions": "2"})],
                                   raise_on_unknown=False) == {"broker": {"0": (
            "[Error 42] InvalidRequestError: a broker's configs are read-only: they are the "
            "settings it was started with")}}
        with pytest.raises(TypeError, match="dict"):
            admin.alter_configs([ConfigResource("TOPIC", "t", ["retention.ms"])],
                                raise_on_unknown=False)
        with pytest.raises(ValueError, match="SET only"):
            admin.alter_configs([ConfigResource("TOPIC", "t", {"retention.ms": ("DELETE", 1)})],
                                incremental=False)
        with pytest.raises(ValueError, match="unknown config operation 'MERGE'"):
            admin.alter_configs([ConfigResource("TOPIC", "t", {"retention.ms": ("MERGE", 1)})])
        assert overrides(broker.describe_topic_configs("t")) == {}
        admin.close()


def test_a_broker_process_answers_the_same():
    from pcmodel.topics import start_broker_process

    with start_broker_process() as process:
        remote = process.connect()
        try:
            remote.create_topic("t", configs={"preallocate": "true"})
            remote.alter_topic_configs("t", [("retention.ms", SET, "1000")])
            assert overrides(remote.describe_topic_configs("t")) == {
                "preallocate": "true", "retention.ms": "1000"}
            with pytest.raises(InvalidRequestError, match="duplicate config keys"):
                remote.alter_topic_configs("t", [("preallocate", SET, "true"),
                                                 ("preallocate", DELETE, None)])
            assert remote.describe_broker_configs()[1].name == "broker.id"
        finally:
            remote.close()
