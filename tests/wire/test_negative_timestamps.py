"""Negative record timestamps from a Kafka client, kept and judged as Kafka's broker does.

Kafka's ``LogValidator.validateTimestamp`` skips ``-1`` (``RecordBatch.NO_TIMESTAMP``), which a
``CreateTime`` topic then keeps as ``-1``; any other negative value is an ordinary create time:
kept under the default window (``message.timestamp.before.max.ms`` is unbounded), refused with
INVALID_TIMESTAMP by a finite one. A ``LogAppendTime`` topic stamps every record."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kafka import KafkaConsumer as KafkaPythonConsumer
from kafka import KafkaProducer as KafkaPythonProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.record.default_records import DefaultRecordBatchBuilder

from pcmodel.cluster import Cluster
from pcmodel.topics.log_records import LogRecord, wall_clock_ms
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.records import encode_records
from tests.conftest import wait_until
from tests.wire.conftest import (
    FAST,
    RawClient,
    fetch_request,
    fetched_batches,
    fetched_records,
    produce_request,
    record_batch,
)

NONE, INVALID_TIMESTAMP = 0, 32
GZIP = 1
CREATE_TIME, LOG_APPEND_TIME = 0, 1
ONE_HOUR = "3600000"


def timed_batch(timestamps, producer=(-1, -1, -1)) -> bytes:
    """One v2 batch of a record per timestamp (values ``b"0"``, ``b"1"``, ...), as sent."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=producer[0], producer_epoch=producer[1],
                                        base_sequence=producer[2], batch_size=2**20)
    for i, timestamp in enumerate(timestamps):
        builder.append(i, timestamp, None, b"%d" % i, [])
    return bytes(builder.build())


def produce(raw, topic, timestamps, producer=(-1, -1, -1)):
    response = raw.request(produce_request(topic, 0, timed_batch(timestamps, producer)))
    return response.responses[0].partition_responses[0]


def fetched_times(raw, topic):
    part = raw.request(fetch_request({(topic, 0): 0})).responses[0].partitions[0]
    return [(r.timestamp, r.timestamp_type) for r in fetched_records(part)]


def stored_times(broker, topic):
    tp = TopicPartition(topic, 0)
    return [(r.timestamp, r.timestamp_type)
            for r in broker.fetch({tp: 0}, max_records=100)[tp].records]


def test_no_timestamp_is_kept_as_minus_one_not_stamped(broker, raw):
    broker.create_topic("t", 1)
    part = produce(raw, "t", [-1])
    assert (part.error_code, part.base_offset, part.log_append_time_ms) == (NONE, 0, -1)
    assert stored_times(broker, "t") == [(-1, CREATE_TIME)]
    assert fetched_times(raw, "t") == [(-1, CREATE_TIME)]


def test_a_negative_create_time_is_kept_under_the_default_window(broker, raw):
    broker.create_topic("t", 1)
    assert produce(raw, "t", [-5, -2]).error_code == NONE
    assert fetched_times(raw, "t") == [(-5, CREATE_TIME), (-2, CREATE_TIME)]


def test_a_finite_window_refuses_a_negative_create_time_but_not_no_timestamp(broker, raw):
    broker.create_topic("t", 1, configs={"message.timestamp.before.max.ms": ONE_HOUR})
    part = produce(raw, "t", [-1, -5])
    assert part.error_code == INVALID_TIMESTAMP
    # Only the second record is named: -1 is never judged by the window.
    assert [e.batch_index for e in part.record_errors] == [1]
    assert part.record_errors[0].batch_index_error_message.startswith(
        "Timestamp -5 of message with offset 1 is out of range.")
    assert broker.end_offsets([TopicPartition("t", 0)]) == {TopicPartition("t", 0): 0}
    now = wall_clock_ms()
    assert produce(raw, "t", [-1, now]).error_code == NONE
    assert fetched_times(raw, "t") == [(-1, CREATE_TIME), (now, CREATE_TIME)]


def test_a_log_append_time_topic_stamps_negative_timestamps(broker, raw):
    broker.create_topic("t", 1, configs={"message.timestamp.type": "LogAppendTime"})
    part = produce(raw, "t", [-1, -5])
    assert part.error_code == NONE and part.log_append_time_ms > 0
    assert fetched_times(raw, "t") == [(part.log_append_time_ms, LOG_APPEND_TIME)] * 2


def test_an_idempotent_batch_keeps_its_negative_times_and_its_producer_remembers_minus_one(
        broker, raw):
    broker.create_topic("t", 1)
    producer_id, epoch = broker.init_producer_id()
    assert produce(raw, "t", [-5, -3], producer=(producer_id, epoch, 0)).error_code == NONE
    assert fetched_times(raw, "t") == [(-5, CREATE_TIME), (-3, CREATE_TIME)]
    # Kafka's batch maxTimestamp starts at NO_TIMESTAMP: a batch of negative times has -1.
    tp = TopicPartition("t", 0)
    (active,) = broker.describe_producers([tp])[tp].active_producers
    assert active.last_timestamp == -1


def test_a_fetch_writes_no_timestamp_before_a_timed_record():
    times = [-1, 1_000, -1, -1, -7, 5]
    records = [LogRecord(offset, ts, CREATE_TIME, None, b"v", ())
               for offset, ts in enumerate(times)]
    batches = fetched_batches(SimpleNamespace(records=encode_records(records, 1 << 20)))
    fetched = [(r.offset, r.timestamp) for batch in batches for r in batch]
    assert fetched == list(enumerate(times))


@pytest.mark.timeout(60)
def test_kafka_python_sends_and_reads_back_negative_timestamps(broker, listener):
    broker.create_topic("t", 1)
    producer = KafkaPythonProducer(bootstrap_servers=listener.bootstrap_servers)
    try:
        sent = [producer.send("t", b"v", partition=0, timestamp_ms=ts).get(timeout=30)
                for ts in (-1, -5)]
    finally:
        producer.close(timeout=10)
    assert [(m.offset, m.timestamp) for m in sent] == [(0, -1), (1, -5)]
    consumer = KafkaPythonConsumer(bootstrap_servers=listener.bootstrap_servers,
                                   enable_auto_commit=False)
    try:
        consumer.assign([KafkaTopicPartition("t", 0)])
        consumer.seek_to_beginning()
        received = []
        wait_until(lambda: received.extend(
            r for rs in consumer.poll(timeout_ms=200).values() for r in rs) or len(received) == 2,
            timeout=30)
    finally:
        consumer.close()
    assert [(r.offset, r.timestamp, r.timestamp_type) for r in received] == [
        (0, -1, CREATE_TIME), (1, -5, CREATE_TIME)]


@pytest.mark.timeout(60)
def test_a_cluster_leader_keeps_negative_times_and_its_followers_copy_them():
    with Cluster(2, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=2)
        wait_until(lambda: len(cluster.metadata()[("t", 0)].isr) == 2, timeout=30)
        leader = cluster.metadata()[("t", 0)].leader
        with RawClient(listeners.addresses[leader]) as raw:
            response = raw.request(produce_request("t", 0, timed_batch([-1, -5]), acks=-1))
            assert response.responses[0].partition_responses[0].error_code == NONE
            assert fetched_times(raw, "t") == [(-1, CREATE_TIME), (-5, CREATE_TIME)]
        follower = next(b for b in (0, 1) if b != leader)
        copied = [(-1, CREATE_TIME), (-5, CREATE_TIME)]
        wait_until(lambda: [(r.timestamp, r.timestamp_type)
                            for r in cluster.log(follower, "t", 0)] == copied, timeout=30)


def test_a_compressed_batch_keeps_its_negative_times(broker, raw):
    broker.create_topic("t", 1)
    batch = record_batch([b"x" * 500, b"y" * 500], timestamp=-1, compression=GZIP)  # -1, 0
    part = raw.request(produce_request("t", 0, batch)).responses[0].partition_responses[0]
    assert part.error_code == NONE
    assert broker.log_stats("t")[0].compressed_batches == 1
    assert fetched_times(raw, "t") == [(-1, CREATE_TIME), (0, CREATE_TIME)]
